// A chosen photo: decoded upright (EXIF orientation applied), and the bytes to send for it.

// Under the API's default body limit (FACES_MAX_BODY_BYTES) with room to spare; larger photos are re-encoded.
const MAX_SEND_BYTES = 5 * 1024 * 1024;
const REENCODE_LONG_SIDE = 2048;

/** The photo as the person sees it (EXIF-rotated), or null when the browser cannot decode it. */
export function decodeUpright(file) {
  return createImageBitmap(file, { imageOrientation: "from-image" }).catch(() => null);
}

/**
 * The original file when small enough (the API applies EXIF itself and answers in upright
 * pixels); otherwise an upright JPEG at most REENCODE_LONG_SIDE px long. Boxes come back in
 * the pixels of what was sent, so callers scale by the API's `image` size, not the bitmap's.
 */
export async function bodyToSend(file, bitmap) {
  if (file.size <= MAX_SEND_BYTES || !bitmap) return file;
  const scale = Math.min(1, REENCODE_LONG_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve(blob ?? file), "image/jpeg", 0.9));
}

export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
