// Where the API is (?api=, else the address the user saved, else config.js) and how to call it.
import config from "./config.js";

const OPTIONS_KEY = "faces.options";
const API_KEY = "faces.apiBase";

// null: what the API offers (GET /v1/model) or camera.js sets. Only these keys are read back:
// `upsampleCamera`, saved by earlier pages as 0 for HOG's enlarged frames, is forgotten.
export const DEFAULT_OPTIONS = Object.freeze({
  detector: null, // photos: the API's `detectors.default`
  cameraDetector: null, // the camera: the API's `detectors.camera`
  cameraUpsample: null, // the step camera.js sends the camera's detector
  upsamplePhoto: null, // the API's default
  mirror: true,
});

// localStorage throws when storage is disabled; the page then works without remembering.
function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // not remembered: lasts for this visit only
  }
}

export function normaliseApiBase(value) {
  return String(value ?? "").trim().replace(/\/+$/, "");
}

/** { apiBase, source: "query" | "saved" | "config" }; "" means the page's own origin. */
export function loadApiBase(search = location.search) {
  const fromQuery = new URLSearchParams(search).get("api");
  if (fromQuery !== null) return { apiBase: normaliseApiBase(fromQuery), source: "query" };
  const saved = read(API_KEY);
  if (saved !== null) return { apiBase: normaliseApiBase(saved), source: "saved" };
  return { apiBase: normaliseApiBase(config.apiBase), source: "config" };
}

/** Remembers the API address the user typed; an empty value forgets it (back to config.js). */
export function saveApiBase(value) {
  const apiBase = normaliseApiBase(value);
  write(API_KEY, apiBase || null);
  return apiBase ? { apiBase, source: "saved" } : { apiBase: normaliseApiBase(config.apiBase), source: "config" };
}

export function loadOptions() {
  let saved = {};
  try {
    saved = JSON.parse(read(OPTIONS_KEY) ?? "{}") ?? {};
  } catch {
    // corrupt: defaults
  }
  const known = Object.entries(saved).filter(([key]) => key in DEFAULT_OPTIONS);
  return { ...DEFAULT_OPTIONS, ...Object.fromEntries(known) };
}

export function saveOptions(options) {
  write(OPTIONS_KEY, JSON.stringify(options));
}

export function describeApiBase(apiBase) {
  return apiBase || `${location.origin} (this page's own server)`;
}
