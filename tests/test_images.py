import io

import numpy as np
import pytest
from PIL import Image

from conftest import FACE_PHOTOS, encode
from function.errors import InvalidImage, PayloadTooLarge
from function.faces import face_recognition
from function.images import UploadedImage
from function.settings import MAX_PIXELS



def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    return UploadedImage(data, max_pixels).decode()


def marked_image(width=60, height=40) -> Image.Image:
    """Grey image with a red block in its top-left corner, to follow orientation changes."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    image.paste((255, 0, 0), (0, 0, 12, 12))
    return image


def red_corner(image: Image.Image) -> str:
    pixels = np.asarray(image).astype(int)
    h, w = pixels.shape[:2]
    corners = {"tl": pixels[3, 3], "tr": pixels[3, w - 4], "bl": pixels[h - 4, 3], "br": pixels[h - 4, w - 4]}
    return next(name for name, rgb in corners.items() if rgb[0] > 200 and rgb[1] < 80)


# Where the stored top-left corner appears once the EXIF orientation is applied, and
# whether width and height swap (EXIF 2.3, tag 0x0112).
ORIENTATIONS = {
    1: ("tl", False), 2: ("tr", False), 3: ("br", False), 4: ("bl", False),
    5: ("tl", True), 6: ("tr", True), 7: ("br", True), 8: ("bl", True),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(marked_image(), "JPEG", exif=exif.tobytes(), quality=95)
    image = decode_image(data, MAX_PIXELS)
    corner, swapped = ORIENTATIONS[orientation]
    assert image.size == ((40, 60) if swapped else (60, 40))
    assert red_corner(image) == corner


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"])
def test_formats_decode_to_rgb(fmt):
    image = decode_image(encode(marked_image(), fmt), MAX_PIXELS)
    assert image.mode == "RGB" and image.size == (60, 40)
    assert red_corner(image) == "tl"


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "1", "RGB"])
def test_every_mode_becomes_rgb(mode):
    source = marked_image()
    if mode == "I;16":
        values = np.asarray(source.convert("L"), dtype=np.uint16) * 257
        source = Image.fromarray(values, mode="I;16")
    elif mode == "P":
        source = source.convert("P", palette=Image.ADAPTIVE)
    else:
        source = source.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I" else "PNG"
    image = decode_image(encode(source, fmt), MAX_PIXELS)
    assert image.mode == "RGB" and image.size == (60, 40)
    grey = np.asarray(image)[30, 40]
    if mode != "1":
        assert np.all(np.abs(grey.astype(int) - 128) <= 6), f"{mode}: background {grey} should stay mid-grey"


def test_sixteen_bit_png_keeps_its_brightness():
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (8, 1))
    image = decode_image(encode(Image.fromarray(ramp), "PNG"), MAX_PIXELS)
    row = np.asarray(image)[0, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254 and np.all(np.diff(row) >= 0)


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image = decode_image(encode(rgba, "PNG"), MAX_PIXELS)
    assert np.asarray(image)[5, 5].tolist() == [255, 255, 255]


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    pixel = np.asarray(decode_image(buffer.getvalue(), MAX_PIXELS))[10, 10]
    assert pixel[0] > 200 and pixel[2] < 50


def test_truncated_jpeg_is_rejected_even_after_face_recognition_import():
    face_recognition()  # it sets ImageFile.LOAD_TRUNCATED_IMAGES = True process-wide
    data = FACE_PHOTOS[0].read_bytes()
    with pytest.raises(InvalidImage):
        decode_image(data[: len(data) // 2], MAX_PIXELS)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_garbage_is_invalid(data):
    with pytest.raises(InvalidImage):
        decode_image(data, MAX_PIXELS)


def test_pixel_limit_is_enforced_from_the_header():
    data = encode(Image.new("L", (3000, 2000)), "PNG")  # small file, 6 megapixels
    with pytest.raises(PayloadTooLarge):
        decode_image(data, 5_000_000)
    assert decode_image(data, 6_000_000).size == (3000, 2000)


def test_decompression_bomb_is_refused():
    data = encode(Image.new("1", (20000, 20000)), "PNG")  # 400 megapixels in ~50 KB
    assert len(data) < 200_000
    with pytest.raises(PayloadTooLarge):
        decode_image(data, MAX_PIXELS)


@pytest.mark.parametrize("orientation", [None, 6])
def test_a_jpeg_decodes_without_copying_its_pixels(orientation, monkeypatch):
    """An RGB JPEG is decoded into the image returned: no copy of its pixels when it is already
    upright and RGB (a 12 MP photo's copy is ~12 MB); a turned one is turned, not copied too."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    copies = []
    copy = Image.Image.copy
    monkeypatch.setattr(Image.Image, "copy", lambda self: copies.append(self.size) or copy(self))
    decoded = UploadedImage(buffer.getvalue(), MAX_PIXELS).decode()
    assert decoded.mode == "RGB" and decoded.size == ((40, 60) if orientation else (60, 40)) and copies == []
