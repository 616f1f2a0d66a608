// Wires the page: camera loop, photo upload, settings, status.
import { ApiError, detectFaces, fetchOffer } from "./api.js";
import { CameraError, FALLBACK_CAMERA_DETECTOR, FrameLoop, cameraSending, closeCamera, openCamera } from "./camera.js";
import { Overlay, annotatedPng, describeFaces } from "./overlay.js";
import { bodyToSend, decodeUpright, downloadBlob } from "./photo.js";
import { describeApiBase, loadApiBase, loadOptions, saveApiBase, saveOptions } from "./settings.js";
import { measure } from "./timing.js";
import { FaceTracker } from "./tracking.js";

const $ = (id) => document.getElementById(id);
const ui = {
  cameraButton: $("camera-button"),
  photoButton: $("photo-button"),
  photoInput: $("photo-input"),
  downloadButton: $("download-button"),
  mirror: $("mirror"),
  stage: $("stage"),
  video: $("video"),
  photo: $("photo"),
  status: $("status"),
  latency: $("latency"),
  fps: $("fps"),
  detectorUsed: $("detector-used"),
  faceCount: $("face-count"),
  facesList: $("faces-list"),
  apiForm: $("api-form"),
  apiBase: $("api-base"),
  apiInUse: $("api-in-use"),
  detector: $("detector"),
  detectorHint: $("detector-hint"),
  cameraDetector: $("camera-detector"),
  cameraDetectorHint: $("camera-detector-hint"),
  upsampleCamera: $("upsample-camera"),
  upsamplePhoto: $("upsample-photo"),
};

const overlay = new Overlay($("overlay"));
const tracker = new FaceTracker();
let api = loadApiBase();
let options = loadOptions();
let photo = null; // {file, bitmap, result} of the photo on show
let photoRequest = 0; // ignores answers for a photo that has since been replaced
let cameraRequest = 0; // a camera that opens after the user moved on is closed again
let cameraView = null; // {image, answer, stats} of the latest camera answer, while the camera view is drawn

// ---- status ------------------------------------------------------------------------------

/** One status line (aria-live); only rewritten when it changes, so screen readers are not flooded. */
function setStatus(state, message, tone = "info") {
  if (ui.status.dataset.state === state && ui.status.textContent === message) return;
  ui.status.dataset.state = state;
  ui.status.dataset.tone = tone;
  ui.status.textContent = message;
}

function describeApiError(error, retryInMs) {
  const retry = retryInMs ? ` Retrying in ${Math.round(retryInMs / 1000)} s…` : "";
  if (!(error instanceof ApiError)) return ["error", `Something went wrong: ${error?.message ?? error}.${retry}`];
  if (error.kind === "unreachable") {
    return ["api-unreachable", `${error.message} Check the API address in Settings and that the API is running.${retry}`];
  }
  if (error.kind === "timeout") return ["api-unreachable", `${error.message}${retry}`];
  return ["api-error", `The API answered ${error.status}: ${error.message}${retry}`];
}

/**
 * `faces` in `image`'s pixels, listed as shown: left to right, mirrored when the view is;
 * `detector`, what found them.
 */
function showStats({ latencyMs = null, fps = null, faces = null, image = null, mirrored = false, detector = null } = {}) {
  ui.latency.textContent = latencyMs === null ? "–" : `${Math.round(latencyMs)} ms`;
  ui.fps.textContent = fps === null ? "–" : fps.toFixed(1);
  ui.detectorUsed.textContent = detector ?? "–";
  ui.faceCount.textContent = faces === null ? "–" : String(faces.length);
  ui.facesList.replaceChildren(
    ...(faces ? describeFaces(faces, image, mirrored) : []).map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}

// ---- the stage (video or photo under the overlay) ------------------------------------------

function showOnStage(mode, width, height) {
  ui.stage.dataset.mode = mode;
  if (width && height) {
    ui.stage.style.aspectRatio = `${width} / ${height}`;
    ui.stage.style.width = `min(100%, ${((70 * width) / height).toFixed(2)}vh)`;
  } else {
    ui.stage.style.aspectRatio = "";
    ui.stage.style.width = "";
  }
}

function applyMirror() {
  ui.video.classList.toggle("mirrored", ui.mirror.checked);
  if (!cameraView) return; // the next drawn frame uses the new setting
  const faces = tracker.faces(performance.now()).filter((face) => face.live);
  showStats({ ...cameraView.stats, faces, image: cameraView.image, mirrored: ui.mirror.checked });
}

// ---- camera -------------------------------------------------------------------------------

/** What a camera answer came from: "blazeface, 640 px, upsample 1". */
function describeSending({ detector, upsample }, image) {
  return `${detector}, ${image.width} px, upsample ${upsample ?? "default"}`;
}

const loop = new FrameLoop(
  ui.video,
  () => cameraSettings(),
  (blob, sending, signal) => detectFaces(api.apiBase, blob, sending, signal),
  (event) => {
    if (event.type === "result") {
      const started = performance.now();
      const { result, sending, number, takenAt, latencyMs, fps } = event;
      const faces = tracker.update(result.faces, takenAt, result.min_confidence ?? null, number).filter((face) => face.live);
      if (!cameraView) requestAnimationFrame(drawCamera);
      cameraView = { image: result.image, answer: tracker.answer, stats: { latencyMs, fps, detector: describeSending(sending, result.image) } };
      showStats({ ...cameraView.stats, faces, image: result.image, mirrored: ui.mirror.checked });
      if (faces.length) setStatus("camera-faces", "Camera on.");
      else setStatus("no-faces", "Camera on. No faces found — face the camera in good light.");
      measure("track", started); // tracking, the figures and the list under the video
    } else if (event.type === "cut") {
      forgetTheScene();
    } else {
      clearCameraView();
      showStats();
      const [state, message] = describeApiError(event.error, event.retryInMs);
      setStatus(state, message, "problem");
    }
  },
);

/**
 * Every displayed frame: the tracked faces where their motion says they are now. Redrawn only
 * when a box moved by a pixel or the answer changed: the CPU is the detector's too.
 */
let drawnCamera = "";
function drawCamera() {
  if (!cameraView) return;
  const started = performance.now();
  const faces = tracker.faces(performance.now());
  const drawing = JSON.stringify([faces, ui.mirror.checked, cameraView.answer]);
  if (drawing !== drawnCamera) {
    overlay.show(faces, cameraView.image, ui.mirror.checked, cameraView.answer);
    measure("draw", started);
  }
  drawnCamera = drawing;
  requestAnimationFrame(drawCamera);
}

/** A cut is on show: no box or listed face from before it stays, until the new scene's answer. */
function forgetTheScene() {
  tracker.clear();
  if (!cameraView) return;
  overlay.show([], cameraView.image, ui.mirror.checked, cameraView.answer);
  drawnCamera = "";
  showStats({ ...cameraView.stats, faces: [], image: cameraView.image, mirrored: ui.mirror.checked });
}

function clearCameraView() {
  cameraView = null;
  drawnCamera = "";
  tracker.clear();
  overlay.clear();
}

function setCameraButton(running) {
  ui.cameraButton.textContent = running ? "Stop camera" : "Start camera";
  ui.cameraButton.setAttribute("aria-pressed", String(running));
}

async function startCamera() {
  clearPhoto();
  const request = ++cameraRequest;
  // aria-disabled, not disabled: a disabled button would drop the keyboard focus
  ui.cameraButton.setAttribute("aria-disabled", "true");
  setStatus("camera-starting", "Starting the camera…");
  try {
    await openCamera(ui.video);
  } catch (error) {
    closeCamera(ui.video);
    if (request !== cameraRequest) return; // the user has moved on (e.g. chose a photo)
    showOnStage("empty");
    const kind = error instanceof CameraError ? error.kind : "other";
    setStatus(`camera-${kind}`, error.message, "problem");
    return;
  } finally {
    ui.cameraButton.removeAttribute("aria-disabled");
  }
  if (request !== cameraRequest) return closeCamera(ui.video);
  // the API's camera detector, if its offer comes soon (else the fallback's frames until it does)
  await Promise.race([offerShown, new Promise((resolve) => setTimeout(resolve, OFFER_WAIT_MS))]);
  if (request !== cameraRequest) return closeCamera(ui.video);
  ui.video.srcObject.getVideoTracks()[0]?.addEventListener("ended", () => {
    stopCamera();
    setStatus("camera-missing", "The camera stopped (unplugged or taken by another program).", "problem");
  });
  showOnStage("camera", ui.video.videoWidth, ui.video.videoHeight);
  applyMirror();
  setCameraButton(true);
  setStatus("camera-on", "Camera on. Looking for faces…");
  loop.start();
}

function stopCamera() {
  cameraRequest += 1;
  if (!loop.running && !ui.video.srcObject) return;
  loop.stop();
  closeCamera(ui.video);
  clearCameraView();
  showStats();
  showOnStage("empty");
  setCameraButton(false);
  setStatus("idle", "Camera off.");
}

ui.video.addEventListener("resize", () => {
  if (ui.stage.dataset.mode === "camera") showOnStage("camera", ui.video.videoWidth, ui.video.videoHeight);
});

// ---- photo --------------------------------------------------------------------------------

function clearPhoto() {
  photoRequest += 1;
  photo?.bitmap?.close();
  photo = null;
  if (ui.photo.src) URL.revokeObjectURL(ui.photo.src);
  ui.photo.removeAttribute("src");
  ui.downloadButton.disabled = true;
}

async function analysePhoto(file) {
  stopCamera();
  clearPhoto();
  const request = photoRequest;
  overlay.clear();
  showStats();
  setStatus("photo-analysing", `Looking for faces in ${file.name}…`);
  const bitmap = await decodeUpright(file);
  if (request !== photoRequest) return bitmap?.close();
  photo = { file, bitmap, result: null };
  if (bitmap) {
    ui.photo.src = URL.createObjectURL(file);
    ui.photo.alt = `The chosen photo, ${file.name}`;
    showOnStage("photo", bitmap.width, bitmap.height);
  } else {
    showOnStage("empty");
  }
  const started = performance.now();
  let result, detector;
  try {
    const body = await bodyToSend(file, bitmap);
    detector = photoDetector();
    result = await detectFaces(api.apiBase, body, { detector, upsample: options.upsamplePhoto });
  } catch (error) {
    if (request !== photoRequest) return;
    const [state, message] = describeApiError(error);
    setStatus(state, message, "problem");
    return;
  }
  if (request !== photoRequest) return;
  photo.result = result;
  overlay.show(result.faces, result.image, false);
  showStats({ latencyMs: performance.now() - started, faces: result.faces, image: result.image, detector });
  ui.downloadButton.disabled = !bitmap;
  const count = result.faces.length;
  const found = count ? `Found ${count} face${count === 1 ? "" : "s"} in ${file.name}.` : `No faces found in ${file.name}.`;
  const undisplayable = bitmap ? "" : " This browser cannot display this image format.";
  setStatus(count ? "photo-faces" : "no-faces", found + undisplayable);
}

ui.photoButton.addEventListener("click", () => ui.photoInput.click());
ui.photoInput.addEventListener("change", () => {
  const [file] = ui.photoInput.files;
  if (file) analysePhoto(file);
  ui.photoInput.value = ""; // choosing the same file again still fires "change"
});

ui.downloadButton.addEventListener("click", async () => {
  if (!photo?.bitmap || !photo.result) return;
  try {
    const png = await annotatedPng(photo.bitmap, photo.result);
    downloadBlob(png, `${photo.file.name.replace(/\.[^.]*$/, "") || "photo"}-faces.png`);
  } catch (error) {
    setStatus("error", `The annotated image could not be made: ${error.message}`, "problem");
  }
});

// Drop a photo anywhere on the page.
let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (!event.dataTransfer?.types.includes("Files")) return;
  dragDepth += 1;
  ui.stage.classList.add("dragging");
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) ui.stage.classList.remove("dragging");
});
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  ui.stage.classList.remove("dragging");
  const [file] = event.dataTransfer?.files ?? [];
  if (file) analysePhoto(file);
});

// ---- settings -----------------------------------------------------------------------------

function showApiInUse() {
  const note = { query: " (set by ?api= in the page address)", saved: " (saved in this browser)", config: "" }[api.source];
  ui.apiInUse.textContent = `Using ${describeApiBase(api.apiBase)}${note}.`;
}

// The detectors as the page's HTML lists them: what an API that does not list its own gets.
const htmlDetectors = [...ui.detector.options].map((option) => [option.value, option.textContent]);
// What the API at api.apiBase offers (api.js fetchOffer); all null until it answers.
let offered = { detectors: null, upsample: null };
const OFFER_WAIT_MS = 3000; // how long a starting camera waits for it

/** The detectors and upsample steps the API offers (GET /v1/model), else the HTML's. */
async function showOffer() {
  const base = api.apiBase;
  const offer = await fetchOffer(base);
  if (base !== api.apiBase) return; // the address changed meanwhile
  offered = offer;
  showDetectors();
  showUpsample();
}

function detectorNames() {
  return offered.detectors ? Object.keys(offered.detectors.choices) : htmlDetectors.map(([name]) => name);
}

// A saved choice this API lacks gives way, for now, to the API's own; the saved one is kept for another API.
const chosen = (saved, instead) => (detectorNames().includes(saved) ? saved : instead);

/** The detector for photos: the one chosen, else the API's default. */
function photoDetector() {
  return chosen(options.detector, offered.detectors?.default ?? detectorNames()[0]);
}

/** The API's detector for the camera; FALLBACK_CAMERA_DETECTOR (camera.js) when it names none. */
function apiCameraDetector() {
  const names = detectorNames();
  return offered.detectors?.camera ?? (names.includes(FALLBACK_CAMERA_DETECTOR) ? FALLBACK_CAMERA_DETECTOR : names[0]);
}

/** {detector, width, upsample} for the next camera frame: the detector chosen, else the API's for
 * the camera, sent as camera.js says, at the upsample step chosen (else camera.js's, within the API's range). */
function cameraSettings() {
  const sending = cameraSending(chosen(options.cameraDetector, apiCameraDetector()));
  return { ...sending, upsample: options.cameraUpsample ?? withinRange(sending.upsample) };
}

function withinRange(step) {
  const range = offered.upsample;
  return step === null || !range ? step : Math.min(range.maximum, Math.max(range.minimum, step));
}

/** The detector choices offered, for photos and for the camera; the API's words for the photos' one as a hint. */
function showDetectors() {
  const known = Object.fromEntries(htmlDetectors);
  const names = detectorNames();
  for (const [control, detector] of [[ui.detector, photoDetector()], [ui.cameraDetector, cameraSettings().detector]]) {
    control.replaceChildren(...names.map((name) => new Option(known[name] ?? name, name)));
    control.value = detector;
  }
  showDetectorHint();
}

/**
 * The upsample steps offered, for the camera and for photos; from an API that states none, only
 * the step in use. The camera's first choice is "automatic": its detector's step (camera.js).
 * A saved step this API lacks gives way, for now, to automatic (camera) or the API's default
 * (photos); null asks for either.
 */
function showUpsample() {
  const offer = offered.upsample;
  const steps = offer ? Array.from({ length: offer.maximum - offer.minimum + 1 }, (_, i) => offer.minimum + i) : [];
  const label = (step) => (step === steps[0] ? `${step}: fastest` : step === steps.at(-1) ? `${step}: slowest` : String(step));
  for (const [control, key] of [[ui.upsampleCamera, "cameraUpsample"], [ui.upsamplePhoto, "upsamplePhoto"]]) {
    if (offer && options[key] !== null && !steps.includes(options[key])) options = { ...options, [key]: null };
    const shown = offer ? steps : [options[key]].filter((step) => step !== null);
    control.replaceChildren(...shown.map((step) => new Option(label(step), String(step))));
  }
  ui.upsampleCamera.prepend(new Option("automatic", ""));
  ui.upsampleCamera.value = String(options.cameraUpsample ?? "");
  ui.upsamplePhoto.value = String(options.upsamplePhoto ?? offer?.default ?? "");
  showCameraSending();
}

/** Which detector the camera uses, how its frames are sent, and what "automatic" means for it. */
function showCameraSending() {
  const { detector, width, upsample } = cameraSettings();
  const automatic = withinRange(cameraSending(detector).upsample);
  ui.upsampleCamera.options[0].text = `automatic: ${automatic ?? "the API's default"}`; // showUpsample's first
  const own = apiCameraDetector();
  const why = !offered.detectors?.camera ? "this API names no detector for the camera"
    : own === detector ? "the API's detector for the camera" : `the API's detector for the camera is ${own}`;
  ui.cameraDetectorHint.textContent = `The camera sends ${width} px wide frames to ${detector} at upsample `
    + `${upsample ?? "the API's default"} (${why}).`;
}

function showDetectorHint() {
  ui.detectorHint.textContent = offered.detectors?.choices[ui.detector.value] ?? "";
  ui.detectorHint.hidden = !ui.detectorHint.textContent;
}
ui.detector.addEventListener("change", showDetectorHint);

ui.apiBase.value = api.apiBase;
showApiInUse();
showDetectors();
showUpsample();
let offerShown = showOffer();
ui.apiForm.addEventListener("submit", (event) => {
  event.preventDefault();
  api = saveApiBase(ui.apiBase.value);
  ui.apiBase.value = api.apiBase;
  showApiInUse();
  offerShown = showOffer();
});

const step = (value) => (value === "" ? null : Number(value));
for (const [control, key, parse] of [
  [ui.detector, "detector", String],
  [ui.cameraDetector, "cameraDetector", String],
  [ui.upsampleCamera, "cameraUpsample", step],
  [ui.upsamplePhoto, "upsamplePhoto", Number],
]) {
  control.addEventListener("change", () => {
    options = { ...options, [key]: parse(control.value) };
    saveOptions(options);
    showCameraSending();
  });
}

ui.mirror.checked = options.mirror;
ui.mirror.addEventListener("change", () => {
  options = { ...options, mirror: ui.mirror.checked };
  saveOptions(options);
  applyMirror();
});

ui.cameraButton.addEventListener("click", () => {
  if (ui.cameraButton.getAttribute("aria-disabled") === "true") return; // still starting
  if (loop.running) stopCamera();
  else startCamera();
});

showOnStage("empty");
showStats();
setStatus("idle", "Press Start camera, or choose or drop a photo.");
document.documentElement.dataset.ready = "true";
