// Drawing face boxes: on the live overlay (CSS pixels, HiDPI, maybe mirrored) and on an export.

export const GENDER_COLOURS = { female: "#ff4fa0", male: "#2f9bff" };
const OTHER_COLOUR = "#ffd23f";
const OUTLINE = "rgba(0, 0, 0, 0.75)";
const TEXT = "#000000";

/** "Female 87%"; above 99% "Female > 99%": a calibrated 0.9996 is not certainty. */
export function faceLabel(face) {
  const name = face.gender.charAt(0).toUpperCase() + face.gender.slice(1);
  const percent = face.confidence > 0.99 ? "> 99%" : `${Math.round(face.confidence * 100)}%`;
  return `${name} ${percent}`;
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
      label: faceLabel(face),
      gender: face.gender,
      confidence: face.confidence,
      image: { x, y, width, height },
      display: { x: left * sx, y: y * sy, width: width * sx, height: height * sy },
    };
  });
}

/**
 * Boxes and label plates; `unit` is the size of one CSS pixel in the context's units.
 * Each plate sits above its box, or below it when there is no room, and is kept inside the
 * canvas. Returns the plates' rectangles (outline included), one per placed face.
 */
export function drawPlaced(ctx, placed, unit = 1) {
  const canvasWidth = ctx.canvas.width / ctx.getTransform().a;
  const canvasHeight = ctx.canvas.height / ctx.getTransform().d;
  const plates = [];
  ctx.save();
  ctx.font = `600 ${14 * unit}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
  ctx.textBaseline = "middle";
  for (const { label, gender, display: box } of placed) {
    const colour = GENDER_COLOURS[gender] ?? OTHER_COLOUR;
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

  show(faces, image, mirrored) {
    this.shown = { faces, image, mirrored };
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
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const placed = this.shown ? placeFaces(this.shown.faces, this.shown.image, { width, height }, this.shown.mirrored) : [];
    const plates = drawPlaced(ctx, placed);
    canvas.dataset.boxes = JSON.stringify(placed.map((face, i) => ({ ...face, plate: plates[i] })));
    canvas.dataset.mirrored = String(Boolean(this.shown?.mirrored));
    canvas.dataset.imageSize = this.shown ? `${this.shown.image.width}x${this.shown.image.height}` : "";
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
