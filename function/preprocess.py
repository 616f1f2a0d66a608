"""Face crops to model input: the one implementation used by training and by serving."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from function.faces import Box, eye_line_angles


@dataclass(frozen=True)
class ModelSpec:
    """How a model wants its input; stored inside the ONNX file's metadata."""

    input_size: int
    margin: float  # fraction of the box's width/height added on each side before resizing
    scale: float  # pixels (0..255) are multiplied by this, then normalised by mean/std
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: tuple[str, ...]  # class names in output order
    channel_order: str = "RGB"
    layout: str = "NCHW"
    align_eyes: bool = False  # turn each crop about the box centre so the eyes are level (5-point landmarks)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        fields = json.loads(text)
        for key in ("mean", "std", "labels"):
            fields[key] = tuple(fields[key])
        return cls(**fields)


def crop_face(image: Image.Image, box: Box, spec: ModelSpec, angle: float = 0.0) -> Image.Image:
    """The box grown by the margin, turned by `angle` (radians, clockwise) about its centre,
    cut out (black beyond the image edge) and resized bilinearly to the input size."""
    dx, dy = box.width * spec.margin, box.height * spec.margin
    size = (spec.input_size, spec.input_size)
    if not angle:
        region = (round(box.left - dx), round(box.top - dy), round(box.right + dx), round(box.bottom + dy))
        return image.crop(region).resize(size, Image.BILINEAR)
    width, height = box.width + 2 * dx, box.height + 2 * dy
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    # The turned region's upright bounds are cut and resized first (resize antialiases, an
    # affine transform does not), then turned at the input resolution.
    half_w, half_h = (width * abs(cos) + height * abs(sin)) / 2, (width * abs(sin) + height * abs(cos)) / 2
    left, top = round(cx - half_w), round(cy - half_h)
    bounds = image.crop((left, top, round(cx + half_w), round(cy + half_h)))
    scaled_size = (max(1, round(bounds.width * size[0] / width)), max(1, round(bounds.height * size[1] / height)))
    scaled = bounds.resize(scaled_size, Image.BILINEAR)
    sx, sy = scaled.width / bounds.width, scaled.height / bounds.height
    # output pixel (u, v) <- scaled pixel: the region's point (u, v) turned by angle about the centre
    a, b = sx * cos * width / size[0], -sx * sin * height / size[1]
    d, e = sy * sin * width / size[0], sy * cos * height / size[1]
    c = sx * (cx - left) - (a + b) * size[0] / 2
    f = sy * (cy - top) - (d + e) * size[1] / 2
    return scaled.transform(size, Image.AFFINE, (a, b, c, d, e, f), resample=Image.BILINEAR)


def to_input(crops: Sequence[Image.Image], spec: ModelSpec) -> np.ndarray:
    """Stack RGB crops into a normalised float32 NCHW batch."""
    batch = np.stack([np.asarray(crop.convert("RGB"), dtype=np.float32) for crop in crops])
    batch = (batch * spec.scale - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def preprocess(image: Image.Image, boxes: Sequence[Box], spec: ModelSpec) -> np.ndarray:
    angles = eye_line_angles(image, list(boxes)) if spec.align_eyes else [0.0] * len(boxes)
    return to_input([crop_face(image, box, spec, angle) for box, angle in zip(boxes, angles)], spec)
