"""dlib's detectors (through face_recognition): HOG and the CNN, on a downscaled copy when the
image is large, HOG spread over threads in overlapping strips when the image is large enough
to gain from it. The CNN's boxes are mapped to HOG's geometry."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np
from PIL import Image

from function.boxes import Box, BoxMap, map_box, merge_duplicates
from function.detection import DetectOptions, Detection, detection_pool


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

    def _thread_model(self):
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = self._constructor(*self._args)
            if self._first is None:
                self._first = model
        return model

    def __call__(self, *args, **kwargs):
        return self._thread_model()(*args, **kwargs)

    def run(self, *args):
        """The HOG detector's boxes with their scores."""
        return self._thread_model().run(*args)


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


DlibModel = Literal["hog", "cnn"]


@dataclass(frozen=True)
class DlibDetector:
    """dlib's HOG or CNN detector, on a copy downscaled to max_side when the image is larger.
    Detection runs on the shared pool of `threads` threads, which bounds both the CPU it takes
    and the number of dlib detectors built (one per thread, ~1.4 s of CPU each). With
    threads > 1, HOG detection of a large enough image is spread over the pool. The CNN's boxes
    are moved by `mapping` (to HOG's geometry)."""

    model: DlibModel
    description: str
    mapping: BoxMap | None = None

    def detect(self, image: Image.Image, options: DetectOptions) -> list[Detection]:
        upsample, threads = options.upsample, options.threads
        width, height = image.size
        scale = min(1.0, options.max_side / max(width, height))
        if scale < 1.0:
            small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = image.resize(small_size, Image.BILINEAR)
        pixels = np.asarray(image)
        if threads > 1 and self.model == "hog" and upsample >= 1 and max(image.size) >= MIN_TILED_SIDE_FACTOR * seam_overlap(upsample):
            found = _detect_tiled(pixels, upsample, threads)
        else:
            found = detection_pool(threads).submit(_locate, pixels, self.model, upsample).result()
        if self.mapping is not None:
            found = [Detection(map_box(d.box, self.mapping), d.score) for d in found]
        if scale < 1.0:
            found = [Detection(d.box.scaled(1.0 / scale), d.score) for d in found]
        found = [Detection(d.box.clipped(width, height), d.score) for d in found]
        return [d for d in found if d.box.width > 0 and d.box.height > 0]


# dlib's CNN raises on images under ~10 px a side (after upsampling); no face fits there anyway.
CNN_MIN_SIDE = 16


def _locate(pixels: np.ndarray, model: DlibModel, upsample: int) -> list[Detection]:
    """dlib's boxes as face_recognition gives them, with dlib's score."""
    if model == "cnn":  # its boxes as it draws them, unclipped: the map to HOG's was fitted on these
        if min(pixels.shape[:2]) * 2**upsample < CNN_MIN_SIDE:
            return []
        found = face_recognition().api.cnn_face_detector(pixels, upsample)
        return [Detection(Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1), d.confidence) for d in found]
    height, width = pixels.shape[:2]
    rects, scores, _ = face_recognition().api.face_detector.run(pixels, upsample, 0.0)
    return [Detection(Box(r.left(), r.top(), r.right(), r.bottom()).clipped(width, height), score) for r, score in zip(rects, scores)]


# `auto`'s second look until BlazeFace replaced it (bench.detectors still measures it): the CNN on
# a copy whose longer side is CNN_SIDE px (~0.7 s on one core),
# its boxes mapped to HOG's geometry and clipped. The CNN finds faces of ~65 px and more there
# (LFW faces pasted at known sizes), so faces of ~18% of the photo's longer side; at 224 px it
# missed the faces of photos with some surroundings. dlib's own threshold: no box on 145
# face-free photos (bench/RESULTS.md, "Faces HOG misses").
CNN_SIDE = 384
# HOG centre = CNN centre + k * CNN size, HOG size = s * CNN size: (kx, ky, sx, sy), fitted on
# 321 faces both find in 400 training photos by `python -m export.detector_boxes` (mean IoU with
# HOG's box 0.742 raw, 0.777 mapped).
CNN_TO_HOG: BoxMap = (0.038, 0.049, 1.035, 1.037)

HOG = DlibDetector(
    "hog",
    "dlib's HOG detector: fast (~0.1 s for a 480 px photo, ~0.7-1 s for a phone photo, one core); "
    "misses turned, tilted, dim or blurred faces (found 78.5% of FairFace's everyday photos)",
)
CNN = DlibDetector(
    "cnn",
    "dlib's CNN detector on the whole image (up to max_side): finds turned and blurred faces, "
    "seconds to tens of seconds per photo on CPU",
    CNN_TO_HOG,
)


def cnn_detections(image: Image.Image, mapping: BoxMap = CNN_TO_HOG) -> list[Detection]:
    """The CNN's faces on a CNN_SIDE copy of the image (never enlarged), as `auto` looked for
    them before BlazeFace: boxes in the image's pixels moved by `mapping`, clipped, with the
    CNN's confidence."""
    return DlibDetector("cnn", CNN.description, mapping).detect(image, DetectOptions(upsample=0, max_side=CNN_SIDE))


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


def warm_up(threads: int) -> None:
    """Build the HOG detector of every thread of the pool, so no request pays for it."""
    everyone_started = threading.Barrier(threads)
    blank = np.zeros((64, 64, 3), np.uint8)

    def build() -> None:
        everyone_started.wait()  # holds each thread until all have a task: one task per thread
        _locate(blank, "hog", 0)

    for job in [detection_pool(threads).submit(build) for _ in range(threads)]:
        job.result()


def _detect_tiled(pixels: np.ndarray, upsample: int, threads: int) -> list[Detection]:
    height, width = pixels.shape[:2]
    vertical = height > width  # cut across the longer side
    length = height if vertical else width
    overlap = seam_overlap(upsample)
    count = min(threads, max(2, length // (2 * overlap)))
    # The coarse pass costs a quarter of the pixels at a quarter of the upsampled area.
    spans = strip_spans(length, count, overlap, lighter=length * COARSE_SCALE**2 / 4)
    executor = detection_pool(threads)

    def strip(span: tuple[int, int]) -> list[Detection]:
        start, end = span
        cut = pixels[start:end] if vertical else pixels[:, start:end]
        dx, dy = (0, start) if vertical else (start, 0)
        return [Detection(d.box.shifted(dx, dy), d.score) for d in _locate(np.ascontiguousarray(cut), "hog", upsample)]

    def coarse() -> list[Detection]:
        small = Image.fromarray(pixels).resize(
            (max(1, round(width * COARSE_SCALE)), max(1, round(height * COARSE_SCALE))), Image.BILINEAR
        )
        return [Detection(d.box.scaled(1 / COARSE_SCALE), d.score) for d in _locate(np.asarray(small), "hog", upsample - 1)]

    # Submission order puts the coarse pass and the lighter last strip on the same worker.
    strip_jobs = [executor.submit(strip, span) for span in spans[:-1]]
    coarse_job = executor.submit(coarse)
    strip_jobs.append(executor.submit(strip, spans[-1]))
    seams = {end for _, end in spans[:-1]} | {start for start, _ in spans[1:]}

    def at_seam(box: Box) -> bool:
        low, high = (box.top, box.bottom) if vertical else (box.left, box.right)
        return low in seams or high in seams

    found = [d for job in [*strip_jobs, coarse_job] for d in job.result()]
    scores = {d.box: d.score for d in found}
    strip_boxes = sorted((d.box for job in strip_jobs for d in job.result()), key=lambda b: b.area, reverse=True)
    # A strip sees a face whole at the same scales as an untiled scan, so its box is kept
    # first; a box ending on a seam may be part of a face, so the coarse box wins over it.
    whole = [b for b in strip_boxes if not at_seam(b)]
    cut = [b for b in strip_boxes if at_seam(b)]
    return [Detection(box, scores[box]) for box in merge_duplicates(whole + [d.box for d in coarse_job.result()] + cut)]
