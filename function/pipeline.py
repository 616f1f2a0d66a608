"""Bytes in, faces with gender out: decode, detect, classify, with per-stage timings."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from PIL import Image

from function.faces import Box, Detector, detect_faces
from function.faces import warm_up as warm_up_detection
from function.images import decode_image
from function.inference import GenderClassifier
from function.preprocess import preprocess
from function.settings import Settings


@dataclass(frozen=True)
class Face:
    box: Box
    scores: dict[str, float]

    @property
    def gender(self) -> str:
        return max(self.scores, key=self.scores.get)

    @property
    def confidence(self) -> float:
        return self.scores[self.gender]


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

    def warm_up(self) -> None:
        """Load everything a request needs (model, detector) so the first request is not slow."""
        warm_up_detection(self.settings.detect_threads)
        self.analyze_image(Image.new("RGB", (64, 64)), "hog", 0, 64)

    def analyze(self, data: bytes, detector: Detector, upsample: int, max_side: int) -> Analysis:
        start = time.perf_counter()
        image = decode_image(data, self.settings.max_pixels)
        decoded = time.perf_counter()
        analysis = self.analyze_image(image, detector, upsample, max_side)
        analysis.timings_ms = {"decode": (decoded - start) * 1000, **analysis.timings_ms}
        analysis.timings_ms["total"] = (time.perf_counter() - start) * 1000
        return analysis

    def analyze_image(self, image: Image.Image, detector: Detector, upsample: int, max_side: int) -> Analysis:
        classifier = self.classifier
        start = time.perf_counter()
        threads = self.settings.detect_threads
        boxes = sorted(detect_faces(image, detector, upsample, max_side, threads), key=lambda b: b.area, reverse=True)
        detected = time.perf_counter()
        faces = []
        if boxes:
            probabilities = classifier.probabilities(preprocess(image, boxes, classifier.spec))
            labels = classifier.spec.labels
            faces = [Face(box, dict(zip(labels, map(float, row)))) for box, row in zip(boxes, probabilities)]
        classified = time.perf_counter()
        timings = {"detect": (detected - start) * 1000, "classify": (classified - detected) * 1000}
        return Analysis(image.width, image.height, faces, timings)
