"""Hostile and odd inputs, each with its expected outcome: a 4xx JSON error with the right code,
or a correct 200. Never a 5xx, never a hang, and the server keeps answering afterwards.

The corpus runs in-process (TestClient) and once over HTTP against a real uvicorn process.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import FACE_PHOTOS, NO_FACE_PHOTO, encode, gender_of
from function.settings import MAX_BODY_BYTES, MAX_PIXELS
from live_server import live_server
from response_checks import assert_error, assert_matches_openapi, assert_valid_analysis

PHOTO = FACE_PHOTOS[0]
GENDER = gender_of(PHOTO)
JPEG = PHOTO.read_bytes()
B64 = base64.b64encode(JPEG).decode()
OVER_LIMIT = MAX_BODY_BYTES + 1024
LARGEST_SIDE = math.isqrt(MAX_PIXELS)  # of a square image within the pixel limit
REQUEST_SECONDS = 60


@dataclass(frozen=True)
class Case:
    name: str
    request: dict
    status: int
    code: str = ""  # the error code, for 4xx
    check: Callable[[dict], None] | None = None  # extra checks on a 200 body
    chunked: bool = False  # send the content as a stream: Transfer-Encoding chunked, no Content-Length

    def kwargs(self) -> dict:
        if not self.chunked:
            return self.request
        content = self.request["content"]
        return {**self.request, "content": (content[i : i + 65536] for i in range(0, len(content), 65536))}


def faces(count: int, size: tuple[int, int] | None = None, gender: str | None = GENDER) -> Callable[[dict], None]:
    def check(body: dict) -> None:
        assert len(body["faces"]) == count, body["faces"]
        if size:
            assert (body["image"]["width"], body["image"]["height"]) == size
        if count and gender:
            assert [f["gender"] for f in body["faces"]] == [gender] * count
    return check


def face_in(region: tuple[int, int, int, int], size: tuple[int, int]) -> Callable[[dict], None]:
    """One face of the photo's gender, centred inside region (left, top, right, bottom)."""
    def check(body: dict) -> None:
        faces(1, size)(body)
        box = body["faces"][0]["box"]
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        assert region[0] <= cx <= region[2] and region[1] <= cy <= region[3], (box, region)
    return check


def uncertain(flag: bool) -> Callable[[dict], None]:
    """One face of the photo's gender (kept when uncertain), marked uncertain or not."""
    def check(body: dict) -> None:
        faces(1)(body)
        assert body["faces"][0]["uncertain"] is flag and body["faces"][0]["confidence"] < 1
    return check


def raw(data: bytes, content_type: str = "image/jpeg", **params) -> dict:
    return {"content": data, "headers": {"content-type": content_type}, "params": params}


def upload(data: bytes, name: str = "file", **params) -> dict:
    return {"files": {name: ("photo.jpg", data, "image/jpeg")}, "params": params}


def multipart(body: bytes, boundary: str | None = "XyZ") -> dict:
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if boundary else "")
    return {"content": body, "headers": {"content-type": content_type}}


def part(name: str, data: bytes, boundary: str = "XyZ") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n"
    ).encode() + data + b"\r\n"


def photo(mode: str = "RGB") -> Image.Image:
    return Image.open(PHOTO).convert(mode)


def padded_photo() -> Image.Image:
    """The 250x250 photo at (0, 40) on a 250x330 canvas, so a rotation shows in the size."""
    canvas = Image.new("RGB", (250, 330), (90, 90, 90))
    canvas.paste(photo(), (0, 40))
    return canvas


FACE_REGION = (60, 40 + 60, 190, 40 + 190)  # where the padded photo's face centre lies


def with_orientation(orientation: int) -> bytes:
    """The padded photo stored rotated, with the EXIF orientation that turns it upright."""
    stored = padded_photo().transpose(
        {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, quality=95, exif=exif.tobytes())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, bit_depth: int, colour_type: int, pixels: np.ndarray | None = None) -> bytes:
    """A PNG built by hand (fast, and in forms Pillow cannot write); all-zero pixels by default."""
    channels = {0: 1, 2: 3}[colour_type]
    row_bytes = -(-width * channels * bit_depth // 8)
    if pixels is None:
        rows = bytes((row_bytes + 1) * height)  # filter byte 0 and zeros on every row
    else:
        rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows, 1)) + png_chunk(b"IEND", b"")


def png_16bit_rgb(image: Image.Image) -> bytes:
    """A 48-bit (16 bits per channel) RGB PNG, which Pillow reads but cannot write."""
    return png(image.width, image.height, 16, 2, np.asarray(image.convert("RGB"), dtype=">u2") * 257)


def png_with_broken_crc() -> bytes:
    data = bytearray(encode(photo(), "PNG"))
    data[29] ^= 0xFF  # inside the IHDR checksum
    return bytes(data)


def png_with_zeroed_pixels() -> bytes:
    data = bytearray(encode(photo(), "PNG"))
    data[200:260] = bytes(60)  # inside the compressed pixel data
    return bytes(data)


def png_with_text_bomb() -> bytes:
    """A valid small PNG carrying a zTXt chunk that inflates to 16 MB (Pillow's limit is 1 MB)."""
    data = encode(Image.new("RGB", (32, 32)), "PNG")
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(16_000_000), 9))
    return data[:33] + bomb + data[33:]


def gif_header_bomb() -> bytes:
    """65535x65535 screen and frame declared, one pixel of data."""
    side = struct.pack("<HH", 65535, 65535)
    return b"GIF89a" + side + b"\x00\x00\x00" + b",\x00\x00\x00\x00" + side + b"\x00\x02\x02D\x01\x00;"


def bmp_header(width: int, height: int) -> bytes:
    """A 24-bit BMP header declaring width x height, with 4 bytes of pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 4, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) + info + bytes(4)


def tiff_header(width: int, height: int) -> bytes:
    """A little-endian greyscale TIFF declaring width x height, with 8 bytes of pixel data."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (273, 4, 8 + 2 + 9 * 12 + 4), (277, 3, 1), (278, 4, height), (279, 4, 8)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in tags
    )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(8)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims another size."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (120, 130, 140))))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_frames(*frames: Image.Image) -> bytes:
    return encode(frames[0], "GIF", save_all=True, append_images=list(frames[1:]), duration=100, loop=0)


def mpo(*frames: Image.Image) -> bytes:
    return encode(frames[0], "MPO", save_all=True, append_images=list(frames[1:]))


def jpeg_with_exif(exif: bytes) -> bytes:
    return encode(photo(), quality=90, exif=exif)


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


BLANK = Image.new("RGB", (250, 250), (200, 200, 200))
RGBA = photo("RGBA")
RGBA.paste((0, 0, 0, 0), (0, 0, 250, 12))  # a fully transparent strip
WRAPPED_B64 = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
SPACED_B64 = " \t".join(B64[i : i + 64] for i in range(0, len(B64), 64))
TWO_FILES = part("file", JPEG) + part("file", NO_FACE_PHOTO.read_bytes()) + b"--XyZ--\r\n"
WITH_EXTRA_FIELDS = part("note", b"hello") + part("file", JPEG) + part("other", b"\x00" * 100) + b"--XyZ--\r\n"
HUGE = bytes(OVER_LIMIT)

CASES = [
    # bodies and transports
    Case("empty raw body", raw(b""), 400, "empty_image"),
    Case("empty body without content type", {"content": b""}, 415, "unsupported_media_type"),
    Case("0-byte file", upload(b""), 400, "empty_image"),
    Case("text", raw(b"hello, world", "text/plain"), 415, "unsupported_media_type"),
    Case("text labelled image/png", raw(b"hello, world", "image/png"), 400, "invalid_image"),
    Case("html", raw(b"<html><body>hi</body></html>", "text/html"), 415, "unsupported_media_type"),
    Case("urlencoded form", raw(b"file=abc", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
    Case("jpeg labelled application/xml", raw(JPEG, "application/xml"), 415, "unsupported_media_type"),
    Case("content type with odd case and charset", raw(JPEG, "IMAGE/JPEG; charset=binary"), 200, check=faces(1)),
    Case("image/* label", raw(JPEG, "image/*"), 200, check=faces(1)),
    Case("octet-stream", raw(JPEG, "application/octet-stream"), 200, check=faces(1)),
    Case("png labelled image/jpeg", raw(encode(photo(), "PNG")), 200, check=faces(1)),
    Case("chunked transfer without content-length", raw(JPEG), 200, check=faces(1), chunked=True),
    Case("raw body over the limit", raw(HUGE), 413, "body_too_large"),
    Case("chunked body over the limit", raw(HUGE), 413, "body_too_large", chunked=True),
    Case("multipart body over the limit", upload(HUGE), 413, "body_too_large"),
    Case("json body over the limit", raw(b'{"image": "' + b"A" * OVER_LIMIT + b'"}', "application/json"), 413, "body_too_large"),
    # multipart
    Case("wrong field name", upload(JPEG, name="photo"), 422, "missing_file"),
    Case("two files: the first 'file' is used", multipart(TWO_FILES), 200, check=faces(1)),
    Case("extra fields around the file", multipart(WITH_EXTRA_FIELDS), 200, check=faces(1)),
    Case("multipart without boundary", multipart(part("file", JPEG) + b"--XyZ--\r\n", boundary=None), 422, "invalid_multipart"),
    Case("multipart with another boundary", multipart(part("file", JPEG, "Other") + b"--Other--\r\n"), 422, "invalid_multipart"),
    Case("multipart truncated in the file", multipart(part("file", JPEG)[: len(JPEG) // 2]), 422, "invalid_multipart"),
    Case("multipart without closing boundary", multipart(part("file", JPEG)), 422, "invalid_multipart"),
    Case("multipart truncated in a header", multipart(b'--XyZ\r\nContent-Disposition: form-da'), 422, "invalid_multipart"),
    Case("multipart garbage", multipart(b"garbage" * 100), 422, "invalid_multipart"),
    # JSON
    Case("json with bad base64", {"json": {"image": "@@@ not base64 @@@"}}, 400, "invalid_base64"),
    Case("json base64 with wrong padding", {"json": {"image": B64[:-3]}}, 400, "invalid_base64"),
    Case("json base64 of text", {"json": {"image": base64.b64encode(b"hello").decode()}}, 400, "invalid_image"),
    Case("json base64 wrapped at 76 columns", {"json": {"image": WRAPPED_B64}}, 200, check=faces(1)),
    Case("json base64 with spaces and tabs", {"json": {"image": SPACED_B64}}, 200, check=faces(1)),
    Case("data: URL", {"json": {"image": f"data:image/jpeg;base64,{B64}"}}, 200, check=faces(1)),
    Case("data: URL without base64", {"json": {"image": "data:image/jpeg,%FF%D8%FF"}}, 400, "invalid_base64"),
    Case("not json", raw(b"{image: nope", "application/json"), 422, "invalid_json"),
    Case("json in invalid utf-8", raw(b'{"image": "\xff\xfe"}', "application/json"), 422, "invalid_json"),
    Case("deeply nested json array", raw(b"[" * 100_000 + b"]" * 100_000, "application/json"), 422, "invalid_json"),
    Case("deeply nested json object", raw(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json"), 422, "invalid_json"),
    Case("json array", {"json": [B64]}, 422, "missing_image"),
    Case("json image is a number", {"json": {"image": 12}}, 422, "missing_image"),
    Case("json image is null", {"json": {"image": None}}, 422, "missing_image"),
    Case("json wrong key", {"json": {"file": B64}}, 422, "missing_image"),
    Case("huge json string of zeros in base64", {"json": {"image": "A" * 5_000_000}}, 400, "invalid_image"),
    Case("huge json string, not base64", {"json": {"image": "!" * 5_000_000}}, 400, "invalid_base64"),
    Case("problem+json label", raw(b'{"image": "' + B64.encode() + b'"}', "application/problem+json"), 200, check=faces(1)),
    # broken images
    Case("truncated jpeg", raw(JPEG[: len(JPEG) // 2]), 400, "corrupt_image"),
    Case("jpeg markers only", raw(b"\xff\xd8\xff\xe0" + bytes(64)), 400, "invalid_image"),
    Case("png with a broken header checksum", raw(png_with_broken_crc(), "image/png"), 400, "invalid_image"),
    Case("png with zeroed pixel data", raw(png_with_zeroed_pixels(), "image/png"), 400, "corrupt_image"),
    Case("png with a 16 MB text chunk", raw(png_with_text_bomb(), "image/png"), 400, "invalid_image"),
    Case("svg", raw(b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "image/svg+xml"), 400, "invalid_image"),
    Case("heic-like garbage", raw(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 8, "image/heic"), 400, "invalid_image"),
    Case("eps (would run ghostscript)", raw(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "image/*"), 400, "invalid_image"),
    Case("pdf", raw(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "image/jpeg"), 400, "invalid_image"),
    Case("pcx (not an accepted format)", raw(encode(Image.new("RGB", (8, 8)), "PCX"), "image/*"), 400, "invalid_image"),
    # sizes and decompression bombs
    Case("1x1 png", raw(encode(Image.new("RGB", (1, 1)), "PNG"), "image/png"), 200, check=faces(0, (1, 1))),
    Case("1x1 jpeg", raw(encode(Image.new("RGB", (1, 1)))), 200, check=faces(0, (1, 1))),
    Case("1x8000 image", raw(encode(Image.new("RGB", (1, 8000)), "PNG"), "image/png"), 200, check=faces(0, (1, 8000))),
    Case("8000x1 image", raw(encode(Image.new("RGB", (8000, 1)), "PNG"), "image/png"), 200, check=faces(0, (8000, 1))),
    Case("8000x2 image at upsample 2", raw(encode(Image.new("RGB", (8000, 2)), "PNG"), "image/png", upsample=2, max_side=8192), 200, check=faces(0, (8000, 2))),
    Case("png of the largest legal square", raw(png(LARGEST_SIDE, LARGEST_SIDE, 8, 0), "image/png", upsample=0), 200,
         check=faces(0, (LARGEST_SIDE, LARGEST_SIDE))),
    Case("png bomb: 20000x20000 in a few kB", raw(png(20000, 20000, 1, 0), "image/png"), 413, "too_many_pixels"),
    Case("png a side over the limit", raw(png(LARGEST_SIDE + 1, LARGEST_SIDE + 1, 1, 0), "image/png"), 413, "too_many_pixels"),
    Case("gif header bomb", raw(gif_header_bomb(), "image/gif"), 413, "too_many_pixels"),
    Case("bmp header bomb", raw(bmp_header(100_000, 100_000), "image/bmp"), 413, "too_many_pixels"),
    Case("bmp declaring a side over the limit", raw(bmp_header(LARGEST_SIDE + 1, LARGEST_SIDE + 1), "image/bmp"), 413, "too_many_pixels"),
    Case("bmp declaring 5000x5000 with 4 bytes", raw(bmp_header(5000, 5000), "image/bmp"), 400, "corrupt_image"),
    Case("tiff with absurd dimensions", raw(tiff_header(1_000_000, 1_000_000), "image/tiff"), 413, "too_many_pixels"),
    Case("tiff declaring 4000x4000 with 8 bytes", raw(tiff_header(4000, 4000), "image/tiff"), 400, "corrupt_image"),
    Case("jpeg declaring 65500x65500", raw(jpeg_declaring(65500, 65500)), 413, "too_many_pixels"),
    Case("jpeg declaring 0 height", raw(jpeg_declaring(16, 0)), 400, "invalid_image"),
    # modes, frames and orientation
    Case("animated gif: first frame has the face", raw(gif_frames(photo(), BLANK), "image/gif"), 200, check=faces(1, (250, 250))),
    Case("animated gif: face only in the second frame", raw(gif_frames(BLANK, photo()), "image/gif"), 200, check=faces(0, (250, 250))),
    Case("multi-picture jpeg (phones)", raw(mpo(photo(), BLANK)), 200, check=faces(1, (250, 250))),
    Case("cmyk jpeg", raw(encode(photo("CMYK"), quality=95)), 200, check=faces(1, (250, 250))),
    Case("16-bit greyscale png", raw(encode(Image.fromarray(np.asarray(photo("L"), dtype=np.uint16) * 257), "PNG"), "image/png"), 200, check=faces(1, (250, 250))),
    Case("16-bit rgb png", raw(png_16bit_rgb(photo()), "image/png"), 200, check=faces(1, (250, 250))),
    Case("greyscale jpeg", raw(encode(photo("L"), quality=95)), 200, check=faces(1, (250, 250))),
    Case("rgba png", raw(encode(RGBA, "PNG"), "image/png"), 200, check=faces(1, (250, 250))),
    Case("palette png", raw(encode(photo().convert("P", palette=Image.ADAPTIVE), "PNG"), "image/png"), 200, check=faces(1, (250, 250))),
    Case("webp", raw(encode(photo(), "WEBP", quality=90), "image/webp"), 200, check=faces(1, (250, 250))),
    Case("exif orientation 6", raw(with_orientation(6)), 200, check=face_in(FACE_REGION, (250, 330))),
    Case("exif orientation 8", raw(with_orientation(8)), 200, check=face_in(FACE_REGION, (250, 330))),
    Case("exif orientation 0 (invalid)", raw(jpeg_with_exif(exif_orientation(0))), 200, check=faces(1, (250, 250))),
    Case("exif orientation 9 (invalid)", raw(jpeg_with_exif(exif_orientation(9))), 200, check=faces(1, (250, 250))),
    Case("exif with an IFD offset past the end", raw(jpeg_with_exif(b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0" + bytes(20))), 200, check=faces(1, (250, 250))),
    Case("exif with a truncated IFD", raw(jpeg_with_exif(b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x12\x01\x03\x00")), 200, check=faces(1, (250, 250))),
    Case("exif that is not TIFF", raw(jpeg_with_exif(b"Exif\x00\x00garbage")), 200, check=faces(1, (250, 250))),
    # parameters
    *[
        Case(f"parameter {name}={value!r}", raw(JPEG, **{name: value}), 422, "invalid_parameter")
        for name, value in [
            ("upsample", -1), ("upsample", 3), ("upsample", 1.5), ("upsample", "abc"), ("upsample", ""),
            ("max_side", 63), ("max_side", 8193), ("max_side", 10**30), ("max_side", "1e3"),
            ("detector", "HOG"), ("detector", ""), ("detector", "hog;rm -rf"),
            ("min_confidence", 0.49), ("min_confidence", 1.01), ("min_confidence", -1), ("min_confidence", "nan"),
            ("min_confidence", "inf"), ("min_confidence", "abc"), ("min_confidence", ""),
        ]
    ],
    Case("unknown parameters are ignored", raw(JPEG, colour="blue"), 200, check=faces(1)),
    Case("boundary parameters", raw(JPEG, detector="hog", upsample=0, max_side=64), 200, check=faces(0, (250, 250))),
    Case("min_confidence=0.5 answers every face", raw(JPEG, min_confidence=0.5), 200, check=uncertain(False)),
    Case("min_confidence=1 answers no face short of certain", raw(JPEG, min_confidence=1), 200, check=uncertain(True)),
]


def assert_outcome(case: Case, response) -> None:
    assert response.status_code < 500, f"{case.name}: {response.status_code} {response.text[:300]}"
    assert_matches_openapi(response)
    if case.status == 200:
        assert response.status_code == 200, f"{case.name}: {response.status_code} {response.text[:300]}"
        body = response.json()
        assert_valid_analysis(body)
        if case.check:
            case.check(body)
    else:
        assert_error(response, case.status, case.code)


@pytest.mark.timeout(REQUEST_SECONDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_in_process(client, case):
    assert_outcome(case, client.post("/v1/faces", **case.kwargs()))


def still_serving(http) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    response = http.post("/v1/faces", files={"file": ("a.jpg", JPEG, "image/jpeg")})
    assert response.status_code == 200
    faces(1, (250, 250))(response.json())


def test_in_process_still_serving_after_the_corpus(client):
    still_serving(client)


@pytest.mark.timeout(len(CASES) * REQUEST_SECONDS)
def test_real_uvicorn():
    failures = []
    with live_server() as server, httpx.Client(base_url=server.url, timeout=REQUEST_SECONDS) as http:
        for case in CASES:
            try:
                assert_outcome(case, http.post("/v1/faces", **case.kwargs()))
            except (AssertionError, httpx.HTTPError) as exc:
                failures.append(f"{case.name}: {type(exc).__name__} {exc}")
        still_serving(http)
        assert server.process.poll() is None
    assert not failures, "\n".join(failures)
