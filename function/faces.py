"""Face detection through face_recognition (dlib), on a downscaled copy when the image is large,
spread over threads in overlapping strips when it is large enough to gain from it. `auto` adds
dlib's CNN on a small copy when HOG finds no face, its boxes mapped to HOG's geometry."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Literal

import numpy as np
from PIL import Image

# The detector names, defined once: the API's query parameter and /v1/model's listing come from here.
DETECTORS = {
    "hog": "dlib's HOG detector: fast (~0.1 s for a 480 px photo, ~0.7-1 s for a phone photo, one core); "
    "misses turned, tilted, dim or blurred faces (found 78.5% of FairFace's everyday photos)",
    "cnn": "dlib's CNN detector on the whole image (up to max_side): finds turned and blurred faces, "
    "seconds to tens of seconds per photo on CPU",
    "auto": "HOG, and only when it finds no face dlib's CNN on a 384 px copy (+~0.7 s, one core): "
    "HOG's cost when HOG finds a face; finds the turned and blurred faces of ~1/5 of the photo's "
    "longer side and more (100% of FairFace's everyday photos)",
}
Detector = Literal[tuple(DETECTORS)]  # type: ignore[valid-type]  # Literal["hog", "cnn", "auto"]
DEFAULT_UPLOAD_DETECTOR: Detector = "auto"


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

    def intersection_area(self, other: "Box") -> int:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        return max(0, width) * max(0, height)

    def shifted(self, dx: int, dy: int) -> "Box":
        return Box(self.left + dx, self.top + dy, self.right + dx, self.bottom + dy)

    def clipped(self, width: int, height: int) -> "Box":
        return Box(
            min(max(self.left, 0), width),
            min(max(self.top, 0), height),
            min(max(self.right, 0), width),
            min(max(self.bottom, 0), height),
        )


class _LazyDlibModel:
    """Stands in for a dlib model object and builds it on first use."""

    def __init__(self, constructor, *args):
        self._constructor, self._args = constructor, args
        self._model = None
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._constructor(*self._args)
        return self._model(*args, **kwargs)


class _PerThreadDlibModel:
    """Stands in for a dlib detector and builds one per thread, on first use there. dlib's
    detectors keep per-call state in the object and release the GIL: threads sharing one
    detector get garbage (thousands of boxes, or none) when they scan different images."""

    def __init__(self, constructor, *args):
        self._constructor, self._args = constructor, args
        self._local = threading.local()
        self._first = None

    @property
    def _model(self):
        """The first model built on any thread, None while none has been."""
        return self._first

    def __call__(self, *args, **kwargs):
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = self._constructor(*self._args)
            if self._first is None:
                self._first = model
        return model(*args, **kwargs)


@contextlib.contextmanager
def _lazy_dlib_models():
    # face_recognition.api builds all four dlib models at import (~130 MB, ~1.8 s), among
    # them the 100 MB 68-point landmark model that detection never touches. While it is
    # imported, dlib's model constructors return lazy stand-ins, so each model is read
    # from disk only when first used (the CNN detector only when detector=cnn is asked).
    import dlib

    stand_ins = {
        "shape_predictor": _LazyDlibModel,
        "face_recognition_model_v1": _LazyDlibModel,
        "cnn_face_detection_model_v1": _PerThreadDlibModel,
        "get_frontal_face_detector": _PerThreadDlibModel,
    }
    originals = {name: getattr(dlib, name) for name in stand_ins}
    for name, stand_in in stand_ins.items():
        setattr(dlib, name, lambda *args, _c=originals[name], _s=stand_in: _s(_c, *args))
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
    image: Image.Image, detector: Detector = "hog", upsample: int = 1, max_side: int = 1600, threads: int = 1
) -> list[Box]:
    """Find every face in an RGB image; boxes are in the image's own pixels, clipped to it.

    Images whose longer side exceeds max_side are downscaled for detection only. Detection
    runs on a pool of `threads` threads shared by all callers, which bounds both the CPU it
    takes and the number of dlib detectors built (one per thread, ~1.4 s of CPU each). With
    threads > 1, HOG detection of a large enough image is spread over the pool.
    """
    if detector == "auto":
        hog = detect_faces(image, "hog", upsample, max_side, threads)
        return hog or [box for box, _ in _executor(threads).submit(cnn_detections, image).result()]
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(small_size, Image.BILINEAR)
    pixels = np.asarray(image)
    if threads > 1 and detector == "hog" and upsample >= 1 and max(image.size) >= MIN_TILED_SIDE_FACTOR * seam_overlap(upsample):
        boxes = _detect_tiled(pixels, upsample, threads)
    else:
        boxes = _executor(threads).submit(_locate, pixels, detector, upsample).result()
    if scale < 1.0:
        boxes = [box.scaled(1.0 / scale) for box in boxes]
    boxes = [box.clipped(width, height) for box in boxes]
    return [box for box in boxes if box.width > 0 and box.height > 0]


# dlib's CNN raises on images under ~10 px a side (after upsampling); no face fits there anyway.
CNN_MIN_SIDE = 16


def _locate(pixels: np.ndarray, detector: Detector, upsample: int) -> list[Box]:
    if detector == "cnn":
        return [map_cnn_box(box) for box, _ in _cnn(pixels, upsample)]
    locations = face_recognition().face_locations(pixels, number_of_times_to_upsample=upsample, model=detector)
    return [Box(left, top, right, bottom) for top, right, bottom, left in locations]


def _cnn(pixels: np.ndarray, upsample: int) -> list[tuple[Box, float]]:
    """dlib CNN boxes as it draws them (not clipped), with its confidence in each."""
    if min(pixels.shape[:2]) * 2**upsample < CNN_MIN_SIDE:
        return []
    found = face_recognition().api.cnn_face_detector(pixels, upsample)
    return [(Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1), d.confidence) for d in found]


# `auto`'s second look: the CNN on a copy whose longer side is CNN_SIDE px (~0.7 s on one core),
# its boxes mapped to HOG's geometry and clipped. The CNN finds faces of ~65 px and more there
# (LFW faces pasted at known sizes), so faces of ~18% of the photo's longer side; at 224 px it
# missed the faces of photos with some surroundings. dlib's own threshold: no box on 145
# face-free photos (bench/RESULTS.md, "Faces HOG misses").
CNN_SIDE = 384
# HOG centre = CNN centre + k * CNN size, HOG size = s * CNN size: (kx, ky, sx, sy), fitted on
# 321 faces both find in 400 training photos by `python -m export.detector_boxes` (mean IoU with
# HOG's box 0.742 raw, 0.777 mapped).
CNN_TO_HOG = (0.038, 0.049, 1.035, 1.037)


def cnn_detections(image: Image.Image, mapping: tuple[float, float, float, float] = CNN_TO_HOG) -> list[tuple[Box, float]]:
    """The CNN's faces on a CNN_SIDE copy of the image (never enlarged): boxes in the image's
    pixels, mapped to HOG's geometry (`mapping`) and clipped to it, each with the CNN's confidence."""
    width, height = image.size
    scale = min(1.0, CNN_SIDE / max(width, height))
    small = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    found = [(map_cnn_box(box, mapping).scaled(1 / scale).clipped(width, height), c) for box, c in _cnn(np.asarray(small), 0)]
    return [(box, c) for box, c in found if box.width > 0 and box.height > 0]


def map_cnn_box(box: Box, mapping: tuple[float, float, float, float] = CNN_TO_HOG) -> Box:
    """A CNN box where HOG would have drawn it (see CNN_TO_HOG)."""
    kx, ky, sx, sy = mapping
    cx = (box.left + box.right) / 2 + kx * box.width
    cy = (box.top + box.bottom) / 2 + ky * box.height
    half_w, half_h = sx * box.width / 2, sy * box.height / 2
    return Box(round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))


# Tiled HOG detection. dlib releases the GIL, so strips of the image can be scanned at the
# requested upsample on several threads at once. A face cut by a seam between strips is lost
# to both strips unless it lies whole in one of them, i.e. unless it is narrower than their
# overlap. Bigger faces come from a coarse pass over the whole image at half size and one
# upsample fewer (1/16 of the cost of a full scan), which finds every face of 120 px and more
# (measured at upsample=1 on LFW faces; half that per extra upsample). The strips overlap by
# 1.5x that, so every face is seen whole by the coarse pass or by a strip.
COARSE_SCALE = 0.5
COARSE_MIN_FACE_AT_UPSAMPLE_1 = 120
SEAM_MARGIN = 1.5
MIN_TILED_SIDE_FACTOR = 4  # below 4 overlaps the seams cost more than the threads save


def seam_overlap(upsample: int) -> int:
    """Pixels by which neighbouring strips overlap at this upsample."""
    return round(SEAM_MARGIN * COARSE_MIN_FACE_AT_UPSAMPLE_1 / 2 ** (upsample - 1))


def strip_spans(length: int, count: int, overlap: int, lighter: float) -> list[tuple[int, int]]:
    """`count` spans covering [0, length), neighbours overlapping by `overlap` pixels; the
    last one is `lighter` pixels shorter, for the worker that also runs the coarse pass."""
    share = (length + (count - 1) * overlap + lighter) / count
    spans, start = [], 0
    for index in range(count):
        end = length if index == count - 1 else round(start + share)
        spans.append((start, end))
        start = end - overlap
    return spans


@lru_cache(maxsize=None)
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detect")


def warm_up(threads: int) -> None:
    """Build the HOG detector of every thread of the pool, so no request pays for it."""
    everyone_started = threading.Barrier(threads)
    blank = np.zeros((64, 64, 3), np.uint8)

    def build() -> None:
        everyone_started.wait()  # holds each thread until all have a task: one task per thread
        _locate(blank, "hog", 0)

    for job in [_executor(threads).submit(build) for _ in range(threads)]:
        job.result()


def _detect_tiled(pixels: np.ndarray, upsample: int, threads: int) -> list[Box]:
    height, width = pixels.shape[:2]
    vertical = height > width  # cut across the longer side
    length = height if vertical else width
    overlap = seam_overlap(upsample)
    count = min(threads, max(2, length // (2 * overlap)))
    # The coarse pass costs a quarter of the pixels at a quarter of the upsampled area.
    spans = strip_spans(length, count, overlap, lighter=length * COARSE_SCALE**2 / 4)
    executor = _executor(threads)

    def strip(span: tuple[int, int]) -> list[Box]:
        start, end = span
        cut = pixels[start:end] if vertical else pixels[:, start:end]
        dx, dy = (0, start) if vertical else (start, 0)
        return [box.shifted(dx, dy) for box in _locate(np.ascontiguousarray(cut), "hog", upsample)]

    def coarse() -> list[Box]:
        small = Image.fromarray(pixels).resize(
            (max(1, round(width * COARSE_SCALE)), max(1, round(height * COARSE_SCALE))), Image.BILINEAR
        )
        return [box.scaled(1 / COARSE_SCALE) for box in _locate(np.asarray(small), "hog", upsample - 1)]

    # Submission order puts the coarse pass and the lighter last strip on the same worker.
    strip_jobs = [executor.submit(strip, span) for span in spans[:-1]]
    coarse_job = executor.submit(coarse)
    strip_jobs.append(executor.submit(strip, spans[-1]))
    seams = {end for _, end in spans[:-1]} | {start for start, _ in spans[1:]}

    def at_seam(box: Box) -> bool:
        low, high = (box.top, box.bottom) if vertical else (box.left, box.right)
        return low in seams or high in seams

    strip_boxes = sorted((b for job in strip_jobs for b in job.result()), key=lambda b: b.area, reverse=True)
    # A strip sees a face whole at the same scales as an untiled scan, so its box is kept
    # first; a box ending on a seam may be part of a face, so the coarse box wins over it.
    whole = [b for b in strip_boxes if not at_seam(b)]
    cut = [b for b in strip_boxes if at_seam(b)]
    return merge_duplicates(whole + coarse_job.result() + cut)


def merge_duplicates(boxes: list[Box]) -> list[Box]:
    """Boxes in order of preference, without later ones that are mostly inside a kept one."""
    kept: list[Box] = []
    for box in boxes:
        if all(_overlap(box, other) < 0.5 for other in kept):
            kept.append(box)
    return kept


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area: 1 when one box contains the other."""
    return a.intersection_area(b) / max(1, min(a.area, b.area))
