// The webcam: opening it, grabbing JPEG frames at the width sent for detection, and the send loop (one request in
// flight at a time, retrying with backoff while the API is unreachable or failing, dropping
// answers about frames from before a cut).
import { CutDetector } from "./cuts.js";
import { measure } from "./timing.js";

// How wide the camera's frames are sent to each detector, and at which upsample step: the one
// place these are set. (bench/RESULTS.md, "Live camera frames" and "BlazeFace beside HOG".)
// - BlazeFace looks for faces relative to the frame's size: on the camera's own 640 px frame
//   at upsample 1 it finds the 36-52 px faces of a group 2-3 m away, at ~27 frames/s for the
//   API alone on one detection thread; on the 1152 px frames at upsample 0 it finds none of them.
// - dlib's HOG (and `auto`, HOG first) at upsample 0 finds faces from ~65 px: the 640 px frame
//   enlarged 1.8x to 1152 finds faces of 36 px in the camera's view, at ~3.2x the cost of the
//   640 px frame, against 4x for upsample 1. The CNN keeps the same frames.
const SENDING = Object.freeze({
  blazeface: { width: 640, upsample: 1 },
  hog: { width: 1152, upsample: 0 },
  auto: { width: 1152, upsample: 0 },
  cnn: { width: 1152, upsample: 0 },
});
// A detector this page does not know: the 640 px frame at the API's default step (null).
const UNKNOWN = { width: 640, upsample: null };
// The camera's detector when the API names none (an older API: GET /v1/model without detectors.camera).
export const FALLBACK_CAMERA_DETECTOR = "hog";

/** {detector, width, upsample}: how the camera sends its frames to `detector`. */
export function cameraSending(detector) {
  return { detector, ...(SENDING[detector] ?? UNKNOWN) };
}

const JPEG_QUALITY = 0.85;
const BACKOFF_MS = [1000, 2000, 4000, 8000];
// Longer than this without seeing a frame (a background tab, a starved page) counts as a cut:
// what the camera showed meanwhile is not known.
const MAX_UNSEEN_MS = 1000;
const FPS_WINDOW_MS = 3000;

export class CameraError extends Error {
  /** kind: "denied", "missing", "insecure", "busy" or "other". */
  constructor(kind, message) {
    super(message);
    this.name = "CameraError";
    this.kind = kind;
  }
}

const CAMERA_ERRORS = {
  NotAllowedError: ["denied", "Camera permission was denied. Allow camera access for this site in the browser's site settings, then press Start camera again — or choose a photo instead."],
  SecurityError: ["denied", "The browser blocked camera access on this page. Choose a photo instead."],
  NotFoundError: ["missing", "No camera was found. Connect a camera and press Start camera again — or choose a photo instead."],
  OverconstrainedError: ["missing", "No camera here matches what this page asks for. Choose a photo instead."],
  NotReadableError: ["busy", "The camera is in use by another program or could not be started. Close the other program and try again."],
  AbortError: ["busy", "The camera could not be started. Try again."],
};

/** Front ("user") camera stream shown in `video`; throws CameraError. */
export async function openCamera(video) {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw new CameraError("insecure", "The camera only works on a secure page (https:// or http://localhost). Choose a photo instead.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (error) {
    const [kind, message] = CAMERA_ERRORS[error?.name] ?? ["other", `The camera could not be started (${error?.name ?? "unknown error"}).`];
    throw new CameraError(kind, message);
  }
  video.srcObject = stream;
  await video.play();
  return stream;
}

export function closeCamera(video) {
  video.srcObject?.getTracks().forEach((track) => track.stop());
  video.srcObject = null;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const abort = () => (clearTimeout(timer), resolve());
    const timer = setTimeout(() => (signal.removeEventListener("abort", abort), resolve()), ms);
    signal.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Counts the frames the video presents, so the loop sends a frame as soon as an answer is
 * back when a new one is already on show, instead of waiting for the one after it; and the
 * cuts between them (`scene` counts them), calling onCut(), as soon as a cut is on show
 * (or a frame after a long gap: MAX_UNSEEN_MS).
 * Without requestVideoFrameCallback, every paint counts as a frame.
 */
class FrameCounter {
  constructor(video, onCut) {
    this.video = video;
    this.onCut = onCut;
    this.cuts = new CutDetector();
    this.presented = 0;
    this.scene = 0;
    this.waiting = [];
    this.generation = 0; // a callback from before stop() ends its chain
  }

  watch() {
    const next = this.video.requestVideoFrameCallback
      ? (callback) => this.video.requestVideoFrameCallback(callback)
      : (callback) => requestAnimationFrame(callback);
    const generation = ++this.generation;
    this.cuts.reset();
    let seenAt = performance.now();
    const tick = () => {
      if (generation !== this.generation) return;
      this.presented += 1;
      const unseenMs = performance.now() - seenAt;
      seenAt += unseenMs;
      if (this.cuts.isCut(this.video) || unseenMs > MAX_UNSEEN_MS) {
        this.scene += 1;
        this.onCut();
      }
      this.waiting.splice(0).forEach((resolve) => resolve());
      next(tick);
    };
    next(tick);
  }

  stop() {
    this.generation += 1;
    this.waiting.splice(0).forEach((resolve) => resolve()); // the loop sees it was stopped
  }

  /** Resolves once a frame newer than `seen` is on show. */
  after(seen) {
    if (this.presented > seen) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

/**
 * The current video frame, scaled to `width` wide, as a JPEG Blob. An OffscreenCanvas,
 * opaque and only resized when the video's size changes: it encodes in about half the time of
 * a page canvas's toBlob (bench/RESULTS.md, "The live view's own time").
 */
class FrameGrabber {
  constructor() {
    this.canvas = new OffscreenCanvas(1, 1);
    this.context = this.canvas.getContext("2d", { alpha: false });
  }

  async grab(video, width) {
    let started = performance.now();
    const height = Math.round((video.videoHeight * width) / video.videoWidth);
    if (this.canvas.width !== width || this.canvas.height !== height) [this.canvas.width, this.canvas.height] = [width, height];
    this.context.drawImage(video, 0, 0, width, height);
    measure("grab", started);
    started = performance.now();
    const blob = await this.canvas.convertToBlob({ type: "image/jpeg", quality: JPEG_QUALITY });
    measure("encode", started);
    return blob;
  }
}

/**
 * Sends frames one at a time: the next frame is grabbed only when the previous answer is
 * back, so a slow API lowers the frame rate instead of queueing requests, and each frame sent
 * is as fresh as it can be (grabbing it during the request made it staler: bench/RESULTS.md).
 * sending() → {detector, width, upsample} (cameraSending's), read once per frame;
 * analyse(blob, sending, signal) → API result; report(event) gets {type: "result", result,
 * sending, number, takenAt, latencyMs, fps} (number: the request's, counted from 1 since the page loaded;
 * takenAt: performance.now() when the frame was grabbed; fps null until two answers have
 * come), {type: "error", error, retryInMs}, or {type: "cut"} when a cut is on show (the
 * answers about frames before it are not reported).
 */
export class FrameLoop {
  constructor(video, sending, analyse, report) {
    this.video = video;
    this.sending = sending;
    this.analyse = analyse;
    this.report = report;
    this.grabber = new FrameGrabber();
    this.frames = new FrameCounter(video, () => this.report({ type: "cut" }));
    this.controller = null;
    this.requests = 0;
  }

  get running() {
    return this.controller !== null;
  }

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    this.frames.watch();
    this.#run(this.controller.signal);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
    this.frames.stop();
  }

  /** Once a frame newer than `seen` is on show, the newest: {presented, scene, takenAt, sending, blob}; null once stopped. */
  async #grab(seen, signal) {
    await this.frames.after(seen);
    if (signal.aborted) return null;
    const frame = { presented: this.frames.presented, scene: this.frames.scene, takenAt: performance.now(), sending: this.sending() };
    frame.blob = await this.grabber.grab(this.video, frame.sending.width);
    return frame;
  }

  async #run(signal) {
    const finished = [];
    let failures = 0;
    let next = this.#grab(-1, signal);
    while (!signal.aborted) {
      const frame = await next;
      if (signal.aborted) return;
      const started = performance.now();
      const number = ++this.requests;
      try {
        const result = await this.analyse(frame.blob, frame.sending, signal);
        if (signal.aborted) return;
        const now = performance.now();
        finished.push(now);
        while (finished[0] < now - FPS_WINDOW_MS) finished.shift();
        const fps = finished.length > 1 ? ((finished.length - 1) * 1000) / (now - finished[0]) : null;
        failures = 0;
        // A newer frame already on show is grabbed before this answer is shown, not after: its
        // encode then does not share the CPU with the drawing the answer brings (bench/RESULTS.md).
        next = this.#grab(frame.presented, signal);
        if (this.frames.presented > frame.presented) await next;
        if (signal.aborted) return;
        if (frame.scene !== this.frames.scene) continue; // about the scene before a cut
        this.report({ type: "result", result, sending: frame.sending, number, takenAt: frame.takenAt, latencyMs: now - started, fps });
      } catch (error) {
        if (signal.aborted) return;
        const retryInMs = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
        failures += 1;
        this.report({ type: "error", error, retryInMs });
        await sleep(retryInMs, signal);
        next = this.#grab(frame.presented, signal);
      }
    }
  }
}
