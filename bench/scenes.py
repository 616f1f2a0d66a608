"""Labelled test images: real face photos pasted at known positions and sizes on a generated
background. A face's label is the box face_recognition finds on its source photo, scaled and
moved with it, so recall can be measured against known positions."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from export.shared_data import SHARED_DATA
from function.boxes import Box, iou
from function.detectors import reference_boxes

CONTEXT = 0.5  # of the face box's width, kept around it on each side when pasting


@dataclass(frozen=True)
class FacePhoto:
    path: Path
    box: Box  # the one face found on the photo


@dataclass
class Scene:
    name: str
    image: Image.Image
    faces: list[Box]

    def jpeg(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "JPEG", quality=90)
        return buffer.getvalue()


def face_photos(paths: list[Path]) -> list[FacePhoto]:
    """The photos on which face_recognition finds exactly one face, with that face's box."""
    found = []
    for path in paths:
        boxes = reference_boxes(Image.open(path).convert("RGB"))
        if len(boxes) == 1:
            found.append(FacePhoto(path, boxes[0]))
    return found


def background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Smooth coloured noise: textured like a real scene, without anything face-like."""
    width, height = size
    noise = np.random.default_rng(rng.getrandbits(32)).integers(40, 220, (height // 32 + 2, width // 32 + 2, 3))
    coarse = Image.fromarray(noise.astype(np.uint8)).resize((width, height), Image.BICUBIC)
    return coarse.filter(ImageFilter.GaussianBlur(4))


def face_patch(photo: FacePhoto, face_width: int) -> tuple[Image.Image, Box]:
    """The photo scaled so its face is face_width wide, cut to the face plus some context;
    returns the patch and the face's box within it."""
    scale = face_width / photo.box.width
    image = Image.open(photo.path).convert("RGB")
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    box = photo.box.scaled(scale)
    pad = round(box.width * CONTEXT)
    region = Box(box.left - pad, box.top - pad, box.right + pad, box.bottom + pad).clipped(*image.size)
    return image.crop((region.left, region.top, region.right, region.bottom)), box.shifted(-region.left, -region.top)


def paste_face(canvas: Image.Image, photo: FacePhoto, face_width: int, centre: tuple[int, int]) -> Box:
    """Paste the face centred at `centre`; returns its box on the canvas."""
    patch, box = face_patch(photo, face_width)
    dx = centre[0] - (box.left + box.right) // 2
    dy = centre[1] - (box.top + box.bottom) // 2
    canvas.paste(patch, (dx, dy))
    return box.shifted(dx, dy)


def crowd(
    name: str,
    size: tuple[int, int],
    photos: list[FacePhoto],
    widths: list[int],
    rng: random.Random,
    fixed_centres: list[tuple[int, int]] = (),
) -> Scene:
    """Faces of the given widths, the first ones at fixed centres, the rest placed at random
    where their patches do not overlap any other (skipped if there is no room)."""
    canvas = background(size, rng)
    taken: list[Box] = []
    faces: list[Box] = []
    for index, width in enumerate(widths):
        half = round(width * (0.5 + CONTEXT)) + 2
        if index < len(fixed_centres):
            candidates = [fixed_centres[index]]
        else:
            candidates = [
                (rng.randint(half, size[0] - half), rng.randint(half, size[1] - half)) for _ in range(200)
            ]
        for x, y in candidates:
            room = Box(x - half, y - half, x + half, y + half)
            if all(room.intersection_area(other) == 0 for other in taken):
                taken.append(room)
                faces.append(paste_face(canvas, rng.choice(photos), width, (x, y)))
                break
    return Scene(name, canvas, faces)


def matched(truth: list[Box], found: list[Box], threshold: float = 0.5) -> int:
    """How many true faces have a found box with IoU >= threshold (each found box used once)."""
    free = list(found)
    hits = 0
    for face in truth:
        best = max(free, key=lambda box: iou(face, box), default=None)
        if best is not None and iou(face, best) >= threshold:
            free.remove(best)
            hits += 1
    return hits


LFW = SHARED_DATA / "lfw"

# (name, canvas size, face widths range, faces per image, images, upsample the service uses)
CATEGORIES = [
    ("single", (1200, 900), (250, 450), 1, 12, 1),
    ("webcam", (640, 480), (150, 200), 1, 12, 0),
    ("group", (1600, 900), (40, 220), 12, 8, 1),
    ("phone", (4032, 3024), (300, 800), 4, 3, 1),
]


def lfw_face_photos(count: int, rng: random.Random, lfw: Path = LFW) -> list[FacePhoto]:
    paths = sorted((lfw / "deepfunneled").glob("*/*.jpg"))
    return face_photos(rng.sample(paths, count))


def benchmark_scenes(names: set[str] | None = None, seed: int = 0) -> list[tuple[Scene, int]]:
    """The fixed benchmark set, or the named categories of it: (scene, upsample the service
    would use for it). Each category has its own random stream, so a subset is the same."""
    photos = lfw_face_photos(60, random.Random(seed))
    scenes = []
    for name, size, (smallest, largest), faces, images, upsample in CATEGORIES:
        if names is not None and name not in names:
            continue
        rng = random.Random(f"{seed}-{name}")
        for _ in range(images):
            widths = [rng.randint(smallest, largest) for _ in range(faces)]
            scenes.append((crowd(name, size, photos, widths, rng), upsample))
    return scenes
