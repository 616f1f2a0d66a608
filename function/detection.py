"""The detector interface: the options a detector takes, the faces it returns, `Fallback` (a
detector made of two registered ones) and the thread pool detection runs on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

from PIL import Image

from function.boxes import Box


@dataclass(frozen=True)
class DetectOptions:
    upsample: int  # each step finds faces half as small, at ~4x the cost
    max_side: int  # a longer image is downscaled to this for detection
    threads: int = 1  # the size of the shared detection pool the call runs on


@dataclass(frozen=True)
class Detection:
    """A face found: its box in the image's pixels (clipped to it), the detector's own score
    (each detector has its own scale) and landmarks (x, y) where the detector gives them."""

    box: Box
    score: float
    landmarks: tuple[tuple[int, int], ...] = ()


class FaceDetector(Protocol):
    description: str  # for people: what it finds and what it costs

    def detect(self, image: Image.Image, options: DetectOptions) -> list[Detection]:
        """Every face in an RGB image."""
        ...


@dataclass(frozen=True)
class Fallback:
    """`first`'s faces, and only when it finds none `then`'s, at `then_upsample` whatever the call asked."""

    first: FaceDetector
    then: FaceDetector
    then_upsample: int
    description: str

    def detect(self, image: Image.Image, options: DetectOptions) -> list[Detection]:
        return self.first.detect(image, options) or self.then.detect(image, replace(options, upsample=self.then_upsample))


@lru_cache(maxsize=None)
def detection_pool(workers: int) -> ThreadPoolExecutor:
    """The pool every detection with this many threads runs on, shared by all callers: it bounds
    the CPU detection takes and the number of per-thread detectors built."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detect")
