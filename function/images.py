"""Decoding uploaded bytes into an upright RGB image, with size limits; JPEGs at a reduced
scale when the caller needs fewer pixels."""

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
# libjpeg scales the inverse DCT down by these factors (Pillow's Image.draft): the image is
# decoded straight to fewer pixels, for a fraction of the work of a full decode.
JPEG_REDUCTIONS = (8, 4, 2)
# What Pillow raises on corrupt or truncated data, in decoders and in EXIF parsing.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError)
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # quarter turns: width and height swap


class UploadedImage:
    """Uploaded JPEG/PNG/WebP/BMP/GIF(first frame)/TIFF bytes, checked (format, pixel limit)
    from the header before anything is decoded.

    `decode` gives the RGB image as a person sees it: EXIF orientation applied, transparency
    composited on white, 16-bit images scaled down to 8 bits; a JPEG at a reduced scale when
    asked. Raises InvalidImage (400) or PayloadTooLarge (413).
    """

    def __init__(self, data: bytes, max_pixels: int):
        if not data:
            raise InvalidImage("The image is empty (0 bytes).", code="empty_image")
        self._data, self._max_pixels = data, max_pixels
        header = self._open()
        width, height = header.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}.",
                code="too_many_pixels",
            )
        if width < 1 or height < 1:
            raise InvalidImage("The image has no pixels.")
        self.is_jpeg = header.format in ("JPEG", "MPO")
        try:
            turned = header.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSED_ORIENTATIONS
        except _DECODE_ERRORS:
            turned = False  # exif_transpose will meet the same EXIF and the decode fail as corrupt
        self.size = (height, width) if turned else (width, height)  # upright, at full resolution

    def reduction_for(self, longer_side: int) -> int:
        """The largest JPEG reduction after which the longer side still has `longer_side`
        pixels (1 for other formats and for images less than twice that size)."""
        if self.is_jpeg:
            for reduction in JPEG_REDUCTIONS:
                if max(self.size) // reduction >= longer_side and min(self.size) >= reduction:
                    return reduction
        return 1

    def decode(self, reduction: int = 1) -> Image.Image:
        """The upright RGB image at 1/reduction of its size in each direction (rounded up):
        pixel coordinates in it times `reduction` are coordinates in the full image. Only a
        JPEG has reductions other than 1, those of `reduction_for` or smaller ones."""
        image = self._open()
        if reduction > 1 and image.draft("RGB", (image.width // reduction, image.height // reduction)) is None:
            raise ValueError("Only a JPEG decodes at a reduced scale.")
        # face_recognition turns this on for the whole process; a truncated upload must fail.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return _to_rgb(image)
        except _DECODE_ERRORS:
            raise InvalidImage("The image is corrupt or truncated and cannot be decoded.", code="corrupt_image")

    def _open(self) -> Image.Image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                return Image.open(io.BytesIO(self._data), formats=ACCEPTED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PayloadTooLarge(f"The image has more than {self._max_pixels} pixels.", code="too_many_pixels")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise InvalidImage("The data is not an image in a supported format (JPEG, PNG, WebP, BMP, GIF, TIFF).")


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
    return image if image.mode == "RGB" else image.convert("RGB")
