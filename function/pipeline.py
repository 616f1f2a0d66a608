"""Bytes in, faces with gender out: decode, detect, classify, with per-stage timings."""

from __future__ import annotations

import io
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from PIL import Image

from function.boxes import Box
from function.detectors import Detector, detect_faces
from function.faces import warm_up as warm_up_detection
from function.images import UploadedImage
from function.inference import GenderClassifier
from function.preprocess import ModelSpec, crop_face, to_input
from function.settings import ALWAYS_ANSWER, Settings


def _blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG")
    return buffer.getvalue()


_BLANK_JPEG = _blank_jpeg()


@dataclass(frozen=True)
class Face:
    box: Box
    scores: dict[str, float]
    likely_child: bool = False  # the model's age signal says under 10: its gender label is not to be shown

    @property
    def gender(self) -> str:
        return max(self.scores, key=self.scores.get)

    @property
    def confidence(self) -> float:
        return self.scores[self.gender]

    def uncertain(self, min_confidence: float) -> bool:
        """Below the threshold, or a likely child, unless the threshold is "always answer"."""
        if min_confidence <= ALWAYS_ANSWER:
            return False
        return self.confidence < min_confidence or self.likely_child


@dataclass
class Analysis:
    width: int
    height: int
    faces: list[Face]
    timings_ms: dict[str, float] = field(default_factory=dict)


class FaceGenderPipeline:
    """Holds the classifier (created on first use, once) and runs requests through it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._classifier: GenderClassifier | None = None
        self._lock = threading.Lock()

    @property
    def classifier(self) -> GenderClassifier:
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    self._classifier = GenderClassifier(self.settings.model_path, self.settings.ort_threads)
        return self._classifier

    @property
    def min_confidence(self) -> float:
        """The default threshold below which a face is uncertain: FACES_MIN_CONFIDENCE, else the
        one chosen on validation and stored in the model's metadata."""
        if self.settings.min_confidence is not None:
            return self.settings.min_confidence
        # A model exported before thresholds were chosen has none: it answers every face, as before.
        return float(self.classifier.info.get("min_confidence", ALWAYS_ANSWER))

    def warm_up(self) -> None:
        """Load everything a request needs (model, detector) so the first request is not slow."""
        warm_up_detection(self.settings.detect_threads)
        self.analyze(_BLANK_JPEG, "hog", 0, 64)

    def analyze(self, data: bytes, detector: Detector, upsample: int, max_side: int, draft: bool = True) -> Analysis:
        """Decode, detect, classify. With `draft`, a JPEG of twice max_side or more is decoded
        at a reduced scale (detection looks at max_side pixels only); boxes are in the full
        image's pixels either way."""
        classifier = self.classifier
        spec = classifier.spec
        timings: dict[str, float] = defaultdict(float)
        with _timed(timings, "total"):
            with _timed(timings, "decode"):
                upload = UploadedImage(data, self.settings.max_pixels)
                reduction = upload.reduction_for(max_side) if draft else 1
                images = {reduction: upload.decode(reduction)}
            with _timed(timings, "detect"):
                found = detect_faces(images[reduction], detector, upsample, max_side, self.settings.detect_threads)
                boxes = sorted(
                    (box.scaled(reduction).clipped(*upload.size) for box in found), key=lambda b: b.area, reverse=True
                )
            sources = crop_reductions(boxes, reduction, spec)
            with _timed(timings, "decode"):
                for finer in set(sources) - {reduction}:
                    images[finer] = upload.decode(finer)
            with _timed(timings, "classify"):
                faces = []
                if boxes:
                    crops = [crop_face(images[r], box.scaled(1 / r), spec) for box, r in zip(boxes, sources)]
                    probabilities, likely_child = classifier.classify(to_input(crops, spec))
                    scores = [dict(zip(spec.labels, map(float, row))) for row in probabilities]
                    faces = [Face(box, face_scores, bool(child)) for box, face_scores, child in zip(boxes, scores, likely_child)]
        return Analysis(*upload.size, faces, dict(timings))


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    """Adds the block's wall time, in ms, to timings[stage]."""
    start = time.perf_counter()
    yield
    timings[stage] += (time.perf_counter() - start) * 1000


def crop_reductions(boxes: list[Box], reduction: int, spec: ModelSpec) -> list[int]:
    """For each face (a box in full-resolution pixels), the reduction of the decode to cut its
    classifier crop from: the detection's `reduction` when the crop region (the box grown by
    the margin) still has the classifier's input size there on its shorter side, else the
    coarsest reduction at which every such face does (1 at worst), shared by them all so the
    photo is decoded once more at most. Crops are then never enlarged from a reduced copy
    when the photo holds more pixels for them."""
    def enough_at(box: Box, r: int) -> bool:
        return min(box.width, box.height) * (1 + 2 * spec.margin) / r >= spec.input_size

    finer = reduction
    for box in boxes:
        while finer > 1 and not enough_at(box, finer):
            finer //= 2
    return [reduction if enough_at(box, reduction) else finer for box in boxes]
