// Tells a cut (the camera turned away, a new scene) from motion, cheaply, on every frame shown:
// the mean absolute difference of a tiny grey copy of consecutive frames, each less its own
// mean brightness so that the camera's exposure settling is not a cut.

const WIDTH = 32;
const HEIGHT = 24;
// grey levels (0-255), per pixel of the tiny copy: the test scene's cuts give 36-42, its pans,
// walkers and still frames under 7 (3 frames apart, as when the page skips frames, under 11)
const CUT_DIFFERENCE = 20;

export class CutDetector {
  constructor() {
    this.context = new OffscreenCanvas(WIDTH, HEIGHT).getContext("2d", { willReadFrequently: true });
    this.context.imageSmoothingQuality = "high"; // an average of each block, not a few samples of it
    this.previous = null;
  }

  /** True when `source` (a video showing a frame) differs from the one seen before as a cut does. */
  isCut(source) {
    this.context.drawImage(source, 0, 0, WIDTH, HEIGHT);
    const grey = greyLessMean(this.context.getImageData(0, 0, WIDTH, HEIGHT).data);
    const previous = this.previous;
    this.previous = grey;
    if (!previous) return false;
    let sum = 0;
    for (let i = 0; i < grey.length; i++) sum += Math.abs(grey[i] - previous[i]);
    return sum / grey.length > CUT_DIFFERENCE;
  }

  /** Forgets the last frame: the next one starts afresh (the camera was stopped). */
  reset() {
    this.previous = null;
  }
}

function greyLessMean(rgba) {
  const grey = new Float32Array(rgba.length / 4);
  let total = 0;
  for (let i = 0; i < grey.length; i++) {
    grey[i] = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    total += grey[i];
  }
  const mean = total / grey.length;
  return grey.map((value) => value - mean);
}
