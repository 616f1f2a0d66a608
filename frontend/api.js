// The API calls the page makes: POST {apiBase}/v1/faces with the image as the raw body, and
// GET {apiBase}/v1/model for the detectors and upsample steps it offers.
import { measure } from "./timing.js";

const TIMEOUT_MS = 30000;

export class ApiError extends Error {
  /** kind: "unreachable" (network/CORS), "timeout", or "http" (the API answered with an error). */
  constructor(kind, message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
  }
}

export function facesUrl(apiBase, { detector, upsample }) {
  const url = new URL(`${apiBase}/v1/faces`, location.href);
  url.searchParams.set("detector", detector);
  if (upsample !== null) url.searchParams.set("upsample", String(upsample)); // null: the API's default
  return url;
}

function either(signal, timeout) {
  if (!signal) return timeout;
  return AbortSignal.any ? AbortSignal.any([signal, timeout]) : signal; // older browsers: no timeout
}

/** Faces in an image Blob; throws ApiError, or an AbortError when `signal` aborts. */
export async function detectFaces(apiBase, image, options, signal) {
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  let response;
  let started = performance.now();
  try {
    response = await fetch(facesUrl(apiBase, options), {
      method: "POST",
      body: image,
      headers: { "Content-Type": image.type || "application/octet-stream" },
      signal: either(signal, timeout),
      cache: "no-store",
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    if (timeout.aborted) throw new ApiError("timeout", `The API did not answer within ${TIMEOUT_MS / 1000} s.`);
    throw new ApiError("unreachable", `Cannot reach the API at ${apiBase || location.origin}.`);
  }
  measure("request", started); // upload, the API's work, the answer's headers
  started = performance.now();
  const payload = await response.json().catch(() => null);
  measure("answer", started);
  if (!response.ok) {
    const message = payload?.error?.message ?? `The API answered HTTP ${response.status} without an error message.`;
    throw new ApiError("http", message, response.status);
  }
  if (!Array.isArray(payload?.faces) || !payload.image) {
    throw new ApiError("http", "The API answered with a body this page does not understand.", response.status);
  }
  return payload;
}

/**
 * What the API offers, from GET /v1/model: `detectors`, {choices: {name: description}, default: name,
 * camera: name or null (an API that names no camera detector)}, and `upsample`, {minimum,
 * maximum, default}; each null when the API does not say (an older API) or cannot be reached.
 */
export async function fetchOffer(apiBase) {
  let model = null;
  try {
    const response = await fetch(new URL(`${apiBase}/v1/model`, location.href), { signal: AbortSignal.timeout(TIMEOUT_MS) });
    model = response.ok ? await response.json() : null;
  } catch {
    // unreachable: nothing offered
  }
  const detectors = model?.detectors;
  const names = Object.keys(detectors?.choices ?? {});
  const upsample = model?.parameters?.upsample;
  const steps = [upsample?.minimum, upsample?.maximum, upsample?.default];
  return {
    detectors: names.length ? {
      choices: detectors.choices,
      default: names.includes(detectors.default) ? detectors.default : names[0],
      camera: names.includes(detectors.camera) ? detectors.camera : null,
    } : null,
    upsample: steps.every(Number.isInteger) ? upsample : null,
  };
}
