"""Decoding uploaded bytes into an upright RGB image, with size limits."""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from function.errors import InvalidImage, PayloadTooLarge

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
# Only the documented formats are parsed: Pillow's other ~40 decoders are attack surface,
# and its EPS reader runs Ghostscript in a subprocess that writes temp files.
# (Multi-picture JPEGs from phones open through the JPEG entry, as MPO.)
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
# Pillow's DEBUG messages quote EXIF/TIFF tag values (image content): never log them.
logging.getLogger("PIL").setLevel(logging.INFO)


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode JPEG/PNG/WebP/BMP/GIF(first frame)/... bytes to an RGB image as a person sees it.

    EXIF orientation is applied, transparency is composited on white, 16-bit images are
    scaled down to 8 bits. Raises InvalidImage (400) or PayloadTooLarge (413).
    """
    if not data:
        raise InvalidImage("The image is empty (0 bytes).", code="empty_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(f"The image has more than {max_pixels} pixels.", code="too_many_pixels")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidImage("The data is not an image in a supported format (JPEG, PNG, WebP, BMP, GIF, TIFF).")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}.",
            code="too_many_pixels",
        )
    if width < 1 or height < 1:
        raise InvalidImage("The image has no pixels.")
    # face_recognition turns this on for the whole process; a truncated upload must fail.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError):
        raise InvalidImage("The image is corrupt or truncated and cannot be decoded.", code="corrupt_image")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        # 32-bit "I" images hold 16-bit data (PNG, TIFF) unless all values fit in 8 bits.
        if image.mode in _SIXTEEN_BIT_MODES or pixels.max(initial=0) > 255:
            pixels = pixels / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
