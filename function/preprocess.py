"""Face crops to model input: the one implementation used by training and by serving."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from function.boxes import Box


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

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        fields = json.loads(text)
        for key in ("mean", "std", "labels"):
            fields[key] = tuple(fields[key])
        return cls(**fields)


def crop_face(image: Image.Image, box: Box, spec: ModelSpec) -> Image.Image:
    """The box grown by the margin, cut out (black beyond the image edge), resized bilinearly."""
    dx, dy = box.width * spec.margin, box.height * spec.margin
    region = (round(box.left - dx), round(box.top - dy), round(box.right + dx), round(box.bottom + dy))
    size = (spec.input_size, spec.input_size)
    # Regions of 4x the input size or more (big faces in phone photos) are first shrunk by an
    # integer factor: half the time, 99.8% the same answers (bench/RESULTS.md). Training
    # crops never get that big, so training takes the exact path.
    return image.crop(region).resize(size, Image.BILINEAR, reducing_gap=2.0)


def to_input(crops: Sequence[Image.Image], spec: ModelSpec) -> np.ndarray:
    """Stack RGB crops into a normalised float32 NCHW batch: (pixel * scale - mean) / std."""
    pixels = np.stack([np.asarray(crop.convert("RGB")) for crop in crops])
    batch = pixels.transpose(0, 3, 1, 2).astype(np.float32, order="C")
    std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)
    batch *= np.float32(spec.scale) / std  # one multiply and one subtract: half the time of the textbook form
    batch -= np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1) / std
    return batch


def preprocess(image: Image.Image, boxes: Sequence[Box], spec: ModelSpec) -> np.ndarray:
    return to_input([crop_face(image, box, spec) for box in boxes], spec)
