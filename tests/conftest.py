from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from export.shared_data import SEED_CHECKPOINT, SHARED_DATA  # noqa: F401  (tests import both from here)
from function.boxes import Box

FIXTURES = Path(__file__).parent / "fixtures"
FACE_PHOTOS = sorted((FIXTURES / "faces").glob("*.jpg"))
NO_FACE_PHOTO = FIXTURES / "no_face.jpg"

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="../shared/data (LFW, UTKFace, seed checkpoint) is not beside the repo"
)


def gender_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def composite(photos: list[Path], columns: int, gap: int = 40) -> tuple[Image.Image, list[tuple[int, int]]]:
    """Photos laid out on a grey canvas in a grid; returns the canvas and each photo's offset."""
    tiles = [Image.open(p).convert("RGB") for p in photos]
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    canvas = Image.new("RGB", (columns * (w + gap) + gap, rows * (h + gap) + gap), (128, 128, 128))
    offsets = []
    for i, tile in enumerate(tiles):
        offset = (gap + (i % columns) * (w + gap), gap + (i // columns) * (h + gap))
        canvas.paste(tile, offset)
        offsets.append(offset)
    return canvas, offsets


def pixel_box(box: dict) -> Box:
    """An answer's box ({"x", "y", "width", "height"}) as a function.boxes.Box."""
    return Box(box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])


def distinct_photos(count: int) -> list[bytes]:
    """`count` (up to 72) different JPEGs of one face each, from the six fixture faces: each
    mirrored or not, at up to six sizes."""
    photos = []
    for number in range(count):
        image = Image.open(FACE_PHOTOS[number % 6]).convert("RGB")
        side = 200 + 20 * (number // 12)
        image = image.resize((side, side))
        photos.append(encode(ImageOps.mirror(image) if number // 6 % 2 else image, quality=90))
    assert len(set(photos)) == count
    return photos


@pytest.fixture(scope="session")
def client():
    from fastapi.testclient import TestClient

    from function.app import app

    with TestClient(app) as test_client:
        yield test_client
