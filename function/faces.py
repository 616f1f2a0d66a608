"""Face detection through face_recognition (dlib), on a downscaled copy when the image is large."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np
from PIL import Image

Detector = Literal["hog", "cnn"]


@dataclass(frozen=True)
class Box:
    """A face box in pixels: left/top inclusive, right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return self.width * self.height

    def scaled(self, factor: float) -> "Box":
        return Box(*(round(v * factor) for v in (self.left, self.top, self.right, self.bottom)))

    def clipped(self, width: int, height: int) -> "Box":
        return Box(
            min(max(self.left, 0), width),
            min(max(self.top, 0), height),
            min(max(self.right, 0), width),
            min(max(self.bottom, 0), height),
        )


class _LazyDlibModel:
    """Stands in for a dlib model object and builds it on first use."""

    def __init__(self, constructor, path: str):
        self._constructor, self._path = constructor, path
        self._model = None
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._constructor(self._path)
        return self._model(*args, **kwargs)


@contextlib.contextmanager
def _lazy_dlib_models():
    # face_recognition.api builds all four dlib models at import (~130 MB, ~1.8 s), among
    # them the 100 MB 68-point landmark model that detection never touches. While it is
    # imported, dlib's model constructors return lazy stand-ins, so each model is read
    # from disk only when first used (the CNN detector only when detector=cnn is asked).
    import dlib

    names = ("shape_predictor", "cnn_face_detection_model_v1", "face_recognition_model_v1")
    originals = {name: getattr(dlib, name) for name in names}
    for name, constructor in originals.items():
        setattr(dlib, name, lambda path, _c=constructor: _LazyDlibModel(_c, path))
    try:
        yield
    finally:
        for name, constructor in originals.items():
            setattr(dlib, name, constructor)


_face_recognition: ModuleType | None = None
_import_lock = threading.Lock()


def face_recognition() -> ModuleType:
    """The face_recognition module, imported once with its unused models deferred."""
    global _face_recognition
    if _face_recognition is None:
        with _import_lock:
            if _face_recognition is None:
                with _lazy_dlib_models():
                    import face_recognition as module
                _face_recognition = module
    return _face_recognition


def detect_faces(
    image: Image.Image, detector: Detector = "hog", upsample: int = 1, max_side: int = 1600
) -> list[Box]:
    """Find every face in an RGB image; boxes are in the image's own pixels, clipped to it.

    Images whose longer side exceeds max_side are downscaled for detection only.
    """
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(small_size, Image.BILINEAR)
    pixels = np.asarray(image)
    locations = face_recognition().face_locations(pixels, number_of_times_to_upsample=upsample, model=detector)
    boxes = [Box(left, top, right, bottom) for top, right, bottom, left in locations]
    if scale < 1.0:
        boxes = [box.scaled(1.0 / scale) for box in boxes]
    boxes = [box.clipped(width, height) for box in boxes]
    return [box for box in boxes if box.width > 0 and box.height > 0]
