// Wires the page: camera loop, photo upload, settings, status.
import { ApiError, detectFaces, fetchOffer } from "./api.js";
import { CameraError, FrameLoop, closeCamera, openCamera } from "./camera.js";
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
  faceCount: $("face-count"),
  facesList: $("faces-list"),
  apiForm: $("api-form"),
  apiBase: $("api-base"),
  apiInUse: $("api-in-use"),
  detector: $("detector"),
  detectorHint: $("detector-hint"),
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

/** `faces` in `image`'s pixels, listed as shown: left to right, mirrored when the view is. */
function showStats({ latencyMs = null, fps = null, faces = null, image = null, mirrored = false } = {}) {
  ui.latency.textContent = latencyMs === null ? "–" : `${Math.round(latencyMs)} ms`;
  ui.fps.textContent = fps === null ? "–" : fps.toFixed(1);
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

const loop = new FrameLoop(
  ui.video,
  (blob, signal) => detectFaces(api.apiBase, blob, { detector: options.detector, upsample: options.upsampleCamera }, signal),
  (event) => {
    if (event.type === "result") {
      const started = performance.now();
      const { result, number, takenAt, latencyMs, fps } = event;
      const faces = tracker.update(result.faces, takenAt, result.min_confidence ?? null, number).filter((face) => face.live);
      if (!cameraView) requestAnimationFrame(drawCamera);
      cameraView = { image: result.image, answer: tracker.answer, stats: { latencyMs, fps } };
      showStats({ latencyMs, fps, faces, image: result.image, mirrored: ui.mirror.checked });
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
  let result;
  try {
    const body = await bodyToSend(file, bitmap);
    result = await detectFaces(api.apiBase, body, { detector: options.detector, upsample: options.upsamplePhoto });
  } catch (error) {
    if (request !== photoRequest) return;
    const [state, message] = describeApiError(error);
    setStatus(state, message, "problem");
    return;
  }
  if (request !== photoRequest) return;
  photo.result = result;
  overlay.show(result.faces, result.image, false);
  showStats({ latencyMs: performance.now() - started, faces: result.faces, image: result.image });
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

/** The detectors and upsample steps the API offers (GET /v1/model), else the HTML's. */
async function showOffer() {
  const base = api.apiBase;
  const offered = await fetchOffer(base);
  if (base !== api.apiBase) return; // the address changed meanwhile
  showDetectors(offered.detectors);
  showUpsample(offered.upsample);
}

/** The detector choices offered, with the API's words for the one chosen as a hint. */
function showDetectors(offered) {
  const known = Object.fromEntries(htmlDetectors);
  const names = offered ? Object.keys(offered.choices) : htmlDetectors.map(([name]) => name);
  ui.detector.replaceChildren(...names.map((name) => new Option(known[name] ?? name, name)));
  // a saved choice this API lacks: its default for now, the saved one is kept for another API
  if (!names.includes(options.detector)) options = { ...options, detector: offered?.default ?? names[0] };
  ui.detector.value = options.detector;
  detectorDescriptions = offered?.choices ?? {};
  showDetectorHint();
}

/**
 * The upsample steps offered, for the camera and for photos; from an API that states none, only
 * the step in use. A saved step this API lacks gives way, for now, to its fastest (camera) or
 * its default (photos); null asks for the API's default.
 */
function showUpsample(offered) {
  const steps = offered ? Array.from({ length: offered.maximum - offered.minimum + 1 }, (_, i) => offered.minimum + i) : [];
  const label = (step) => (step === steps[0] ? `${step}: fastest` : step === steps.at(-1) ? `${step}: slowest` : String(step));
  for (const [control, key, instead] of [
    [ui.upsampleCamera, "upsampleCamera", steps[0]],
    [ui.upsamplePhoto, "upsamplePhoto", null],
  ]) {
    if (offered && options[key] !== null && !steps.includes(options[key])) options = { ...options, [key]: instead };
    const shown = offered ? steps : [options[key]].filter((step) => step !== null);
    control.replaceChildren(...shown.map((step) => new Option(label(step), String(step))));
    control.value = String(options[key] ?? offered?.default ?? "");
  }
}

let detectorDescriptions = {};
function showDetectorHint() {
  ui.detectorHint.textContent = detectorDescriptions[ui.detector.value] ?? "";
  ui.detectorHint.hidden = !ui.detectorHint.textContent;
}
ui.detector.addEventListener("change", showDetectorHint);

ui.apiBase.value = api.apiBase;
showApiInUse();
showOffer();
ui.apiForm.addEventListener("submit", (event) => {
  event.preventDefault();
  api = saveApiBase(ui.apiBase.value);
  ui.apiBase.value = api.apiBase;
  showApiInUse();
  showOffer();
});

for (const [control, key, parse] of [
  [ui.detector, "detector", String],
  [ui.upsampleCamera, "upsampleCamera", Number],
  [ui.upsamplePhoto, "upsamplePhoto", Number],
]) {
  control.value = String(options[key] ?? "");
  control.addEventListener("change", () => {
    options = { ...options, [key]: parse(control.value) };
    saveOptions(options);
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
