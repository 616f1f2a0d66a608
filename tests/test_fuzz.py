"""Fuzzing: Hypothesis over request bodies and the decode -> detect -> classify path, and
schemathesis over the app's OpenAPI schema. Every input ends in a valid answer or a
client error (a ServiceError answered 4xx); never anything else."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import FACE_PHOTOS, encode
from function.app import app
from function.errors import HTTP_STATUS, ServiceError
from function.pipeline import Analysis, FaceGenderPipeline
from function.settings import Settings
from function.uploads import image_bytes
from response_checks import assert_valid_analysis

# No example database: nothing is written into the repository, and each run explores anew.
FUZZ = settings(max_examples=60, deadline=timedelta(seconds=20), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# The formats Pillow can write each mode in, all of them accepted by the service.
# (YCbCr is left out: Pillow reads its own YCbCr TIFF back as truncated RGBX.)
FORMATS_BY_MODE = {
    "1": ["PNG", "BMP", "TIFF", "GIF", "JPEG"],
    "L": ["JPEG", "PNG", "BMP", "TIFF", "GIF", "WEBP"],
    "LA": ["PNG", "TIFF", "WEBP"],
    "P": ["PNG", "GIF", "TIFF", "WEBP"],
    "PA": ["TIFF"],
    "RGB": ["JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF"],
    "RGBA": ["PNG", "TIFF", "WEBP", "BMP"],
    "CMYK": ["JPEG", "TIFF"],
    "LAB": ["TIFF"],
    "I;16": ["PNG", "TIFF"],
    "I": ["TIFF"],
    "F": ["TIFF"],
}
SIGNATURES = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"GIF87a", b"BM", b"II*\x00", b"MM\x00*",
              b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"%!PS-Adobe-3.0 EPSF-3.0\n", b"\x00\x00\x00\x0cjP  ", b"8BPS"]
FACE = Image.open(FACE_PHOTOS[0]).convert("RGB")


@pytest.fixture(scope="module")
def pipeline() -> FaceGenderPipeline:
    return FaceGenderPipeline(Settings.from_env())


def run(pipeline: FaceGenderPipeline, data: bytes, detector="hog", upsample=1, max_side=1600) -> Analysis | None:
    """The pipeline's answer, or None when it refused the input with a client error."""
    try:
        analysis = pipeline.analyze(data, detector, upsample, max_side)
    except ServiceError as error:
        assert HTTP_STATUS[error.code] in (400, 413), f"{error.code}: {error.message}"
        return None
    for face in analysis.faces:
        box = face.box
        assert 0 <= box.left < box.right <= analysis.width and 0 <= box.top < box.bottom <= analysis.height
        assert abs(sum(face.scores.values()) - 1) < 1e-5 and all(0 <= p <= 1 for p in face.scores.values())
    return analysis


@st.composite
def images(draw) -> tuple[Image.Image, str]:
    """A random image: a random size, content (noise, flat, or the face photo), mode and format."""
    width, height = draw(st.integers(1, 400)), draw(st.integers(1, 400))
    content = draw(st.sampled_from(["noise", "flat", "face"]))
    seed = draw(st.integers(0, 2**32 - 1))
    if content == "noise":
        rgb = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))
    elif content == "flat":
        rgb = Image.new("RGB", (width, height), tuple(draw(st.integers(0, 255)) for _ in range(3)))
    else:
        rgb = Image.new("RGB", (width, height), (128, 128, 128))
        side = draw(st.integers(8, 300))
        rgb.paste(FACE.resize((side, side)), (draw(st.integers(-side, width)), draw(st.integers(-side, height))))
    mode = draw(st.sampled_from(sorted(FORMATS_BY_MODE)))
    if mode in ("I;16", "I", "F"):
        grey = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
        image = Image.fromarray(grey if mode == "I;16" else grey.astype(np.int32 if mode == "I" else np.float32))
    elif mode == "P":
        image = rgb.quantize(draw(st.integers(2, 256)))
    elif mode == "PA":
        image = Image.merge("PA", (rgb.convert("L").convert("P"), Image.new("L", rgb.size, draw(st.integers(0, 255)))))
    elif mode in ("LA", "RGBA"):
        image = rgb.convert(mode)
        image.putalpha(draw(st.integers(0, 255)))
    else:
        image = rgb.convert(mode)
    return image, draw(st.sampled_from(FORMATS_BY_MODE[mode]))


@FUZZ
@given(image=images(), upsample=st.integers(0, 1), max_side=st.integers(64, 1600))
def test_random_valid_images_give_a_valid_analysis_of_their_size(pipeline, image, upsample, max_side):
    picture, fmt = image
    analysis = run(pipeline, encode(picture, fmt), "hog", upsample, max_side)
    assert analysis is not None, f"a valid {picture.mode} {fmt} {picture.size} was refused"
    assert (analysis.width, analysis.height) == picture.size


@settings(FUZZ, max_examples=200)
@given(prefix=st.sampled_from(SIGNATURES), tail=st.binary(max_size=4096))
def test_random_bytes_are_refused_or_analysed(pipeline, prefix, tail):
    run(pipeline, prefix + tail)


@FUZZ
@given(image=images(), data=st.data())
def test_damaged_images_are_refused_or_analysed(pipeline, image, data):
    picture, fmt = image
    damaged = bytearray(encode(picture, fmt))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damage = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if damage == "flip":
            damaged[position] ^= data.draw(st.integers(1, 255))
        elif damage == "cut":
            del damaged[position:]
            if not damaged:
                break
        else:
            damaged[position:position] = data.draw(st.binary(min_size=1, max_size=64))
    run(pipeline, bytes(damaged), "hog", 0, 400)


def multipart_bodies() -> st.SearchStrategy[bytes]:
    name = st.sampled_from([b"file", b"photo", b"", b'fi"le', "fïle".encode()])
    part = st.builds(
        lambda n, data, extra: b'--B\r\nContent-Disposition: form-data; name="' + n + b'"' + extra + b"\r\n\r\n" + data + b"\r\n",
        name, st.binary(max_size=256), st.sampled_from([b"", b'; filename="a.jpg"', b"\r\nContent-Type: image/png"]),
    )
    body = st.builds(lambda parts, end: b"".join(parts) + end, st.lists(part, max_size=4), st.sampled_from([b"--B--\r\n", b"--B--", b""]))
    return st.one_of(body, st.builds(lambda b, cut: b[:cut], body, st.integers(0, 600)), st.binary(max_size=512))


@settings(FUZZ, max_examples=300)
@given(
    content_type=st.sampled_from(["multipart/form-data; boundary=B", "multipart/form-data", "application/json",
                                  "image/png", "text/plain", "", "application/x+json; charset=utf-8"]),
    body=st.one_of(multipart_bodies(), st.binary(max_size=512), st.text(max_size=256).map(str.encode)),
)
def test_any_body_gives_bytes_or_a_client_error(content_type, body):
    try:
        assert isinstance(image_bytes(body, content_type), bytes)
    except ServiceError as error:
        assert 400 <= HTTP_STATUS[error.code] < 500


def test_cnn_detector_on_tiny_images_finds_nothing(pipeline):
    """dlib's CNN raises RuntimeError on images under ~10 px a side; the service answers no faces."""
    for size, max_side, upsample in [((1, 1), 64, 0), ((8, 8), 64, 0), ((300, 20), 64, 0), ((1, 1), 64, 2)]:
        analysis = run(pipeline, encode(Image.new("RGB", size), "PNG"), "cnn", upsample, max_side)
        assert analysis is not None and analysis.faces == []


schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=50, deadline=timedelta(seconds=30), database=None, suppress_health_check=list(HealthCheck))
def test_api_schema_never_answers_5xx(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path} {case.query}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    elif case.path == "/v1/faces":
        assert_valid_analysis(response.json())
