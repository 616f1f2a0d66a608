// Drawing face boxes: on the live overlay (CSS pixels, HiDPI, maybe mirrored) and on an export.

export const GENDER_COLOURS = { female: "#ff4fa0", male: "#2f9bff" };
const OTHER_COLOUR = "#ffd23f";
export const UNCERTAIN_COLOUR = "#b4b4b4"; // neutral: the model cannot tell
const OUTLINE = "rgba(0, 0, 0, 0.75)";
const TEXT = "#000000";

function percent(confidence) {
  return confidence > 0.99 ? "> 99%" : `${Math.round(confidence * 100)}%`;
}

function capitalised(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/**
 * "Female 87%"; above 99% "Female > 99%": a calibrated 0.9996 is not certainty. An uncertain
 * face (below the API's min_confidence; older APIs have none) gets no gender: "? 62%"; a
 * contested one (tracking.js: whose face it is is not known yet) no confidence either: "?".
 */
export function faceLabel(face) {
  if (face.contested) return "?";
  return face.uncertain ? `? ${percent(face.confidence)}` : `${capitalised(face.gender)} ${percent(face.confidence)}`;
}

/**
 * The label in words, for the list: "Uncertain (62%)" rather than "? 62%". No gender word for
 * an uncertain face: its better guess may change from one answer to the next.
 */
export function faceDescription(face) {
  if (face.contested) return "Uncertain";
  return face.uncertain ? `Uncertain (${percent(face.confidence)})` : faceLabel(face);
}

/**
 * Each face's box in the analysed image's pixels and where it lands on a target of
 * `target.width` x `target.height` CSS pixels. Mirrored: the target shows the image flipped
 * left-right (a selfie view), so the box is flipped too and stays on the face.
 */
export function placeFaces(faces, image, target, mirrored) {
  const sx = target.width / image.width;
  const sy = target.height / image.height;
  return faces.map((face) => {
    const { x, y, width, height } = face.box;
    const left = mirrored ? image.width - x - width : x;
    return {
      id: face.id,
      answer: face.answer ?? null,
      label: faceLabel(face),
      gender: face.gender,
      confidence: face.confidence,
      uncertain: Boolean(face.uncertain),
      live: face.live ?? true,
      image: { x, y, width, height },
      display: { x: left * sx, y: y * sy, width: width * sx, height: height * sy },
    };
  });
}

/**
 * The faces in the picture's own terms, left to right as shown (mirrored when the view is):
 * "Female 87% — 12% from the left, 30% from the top, 18% of the width".
 */
export function describeFaces(faces, image, mirrored) {
  const whole = { width: 100, height: 100 };
  return placeFaces(faces, image, whole, mirrored)
    .map((face, i) => ({ face: faces[i], box: face.display }))
    .sort((a, b) => a.box.x - b.box.x)
    .map(({ face, box }) => {
      const [left, top, width] = [box.x, box.y, box.width].map(Math.round);
      return `${faceDescription(face)} — ${left}% from the left, ${top}% from the top, ${width}% of the width`;
    });
}

/**
 * Boxes and label plates; `unit` is the size of one CSS pixel in the context's units.
 * Each plate sits above its box, or below it when there is no room, and is kept inside the
 * canvas. A face that is not live (missing from the latest answer) is a faint dashed outline
 * with no plate. Returns the plates' rectangles (outline included; null without a plate).
 */
export function drawPlaced(ctx, placed, unit = 1) {
  const canvasWidth = ctx.canvas.width / ctx.getTransform().a;
  const canvasHeight = ctx.canvas.height / ctx.getTransform().d;
  const plates = [];
  ctx.save();
  ctx.font = `600 ${14 * unit}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
  ctx.textBaseline = "middle";
  for (const { label, gender, uncertain, live, display: box } of placed) {
    const colour = uncertain ? UNCERTAIN_COLOUR : (GENDER_COLOURS[gender] ?? OTHER_COLOUR);
    if (!live) {
      faintOutline(ctx, box, colour, unit);
      plates.push(null);
      continue;
    }
    ctx.lineJoin = "round";
    ctx.strokeStyle = OUTLINE; // a dark rim keeps the box visible on light and dark backgrounds
    ctx.lineWidth = 5 * unit;
    ctx.strokeRect(box.x, box.y, box.width, box.height);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 3 * unit;
    ctx.strokeRect(box.x, box.y, box.width, box.height);

    const plateHeight = 20 * unit;
    const plateWidth = ctx.measureText(label).width + 10 * unit;
    const plateX = within(box.x - 1.5 * unit, unit, canvasWidth - plateWidth - unit);
    const above = box.y - 1.5 * unit - plateHeight;
    const plateY = within(above >= unit ? above : box.y + box.height + 1.5 * unit, unit, canvasHeight - plateHeight - unit);
    plates.push({ x: plateX - unit, y: plateY - unit, width: plateWidth + 2 * unit, height: plateHeight + 2 * unit });
    ctx.fillStyle = OUTLINE;
    ctx.fillRect(plateX - unit, plateY - unit, plateWidth + 2 * unit, plateHeight + 2 * unit);
    ctx.fillStyle = colour;
    ctx.fillRect(plateX, plateY, plateWidth, plateHeight);
    ctx.fillStyle = TEXT;
    ctx.fillText(label, plateX + 5 * unit, plateY + plateHeight / 2);
  }
  ctx.restore();
  return plates;
}

function faintOutline(ctx, box, colour, unit) {
  ctx.save();
  ctx.globalAlpha = 0.5;
  ctx.setLineDash([6 * unit, 6 * unit]);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.5 * unit;
  ctx.strokeRect(box.x, box.y, box.width, box.height);
  ctx.restore();
}

function within(value, low, high) {
  return Math.max(low, Math.min(value, high));
}

/**
 * The canvas laid over the video or photo. Sized to its CSS box times devicePixelRatio so
 * lines and text stay sharp; redraws itself when its size changes. The drawn boxes are
 * published in data-boxes (JSON) for scripts and tests.
 */
export class Overlay {
  constructor(canvas) {
    this.canvas = canvas;
    this.shown = null;
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  /** `answer`: the camera answer these faces come from (published for tests), null for a photo. */
  show(faces, image, mirrored, answer = null) {
    this.shown = { faces, image, mirrored, answer };
    this.redraw();
  }

  clear() {
    this.shown = null;
    this.redraw();
  }

  redraw() {
    const { canvas } = this;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    // resizing reallocates the canvas: only when needed, as the camera view redraws every frame
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const placed = this.shown ? placeFaces(this.shown.faces, this.shown.image, { width, height }, this.shown.mirrored) : [];
    const plates = drawPlaced(ctx, placed);
    canvas.dataset.boxes = JSON.stringify(placed.map((face, i) => ({ ...face, plate: plates[i] })));
    canvas.dataset.mirrored = String(Boolean(this.shown?.mirrored));
    canvas.dataset.imageSize = this.shown ? `${this.shown.image.width}x${this.shown.image.height}` : "";
    canvas.dataset.answer = String(this.shown?.answer ?? "");
  }
}

/** The photo with its boxes at full resolution, as a PNG Blob. */
export async function annotatedPng(bitmap, result) {
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const target = { width: bitmap.width, height: bitmap.height };
  // lines and labels about as thick, relative to the photo, as on a ~800 px wide display
  drawPlaced(ctx, placeFaces(result.faces, result.image, target, false), Math.max(1, bitmap.width / 800));
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("The browser could not encode the PNG."))), "image/png"),
  );
}
