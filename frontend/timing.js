// The page's own per-frame work as User Timing measures ("page:grab", "page:encode",
// "page:request", "page:answer", "page:track", "page:draw"), seen in the browser's performance
// panel and by a PerformanceObserver (bench/page_timing.py). The browser keeps every measure
// until cleared: they are cleared now and then, which observers do not notice.

const KEEP = 500;
let kept = 0;

/** Records `name` from `start` (a performance.now() time) to now. */
export function measure(name, start) {
  performance.measure(`page:${name}`, { start, end: performance.now() });
  if (++kept >= KEEP) {
    performance.clearMeasures();
    kept = 0;
  }
}
