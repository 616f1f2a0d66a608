"""The face detectors the service offers, by name: the API's `detector` values, /v1/model's
listing and the page's choices all come from REGISTRY. An unknown name is an error."""

from __future__ import annotations

from typing import Literal, NamedTuple

from PIL import Image

from function import faces
from function.boxes import Box
from function.detection import DetectOptions, Detection, FaceDetector, Fallback

REGISTRY: dict[str, FaceDetector] = {
    "hog": faces.HOG,
    "cnn": faces.CNN,
    "auto": Fallback(
        faces.HOG,
        faces.CNN,
        then_upsample=0,
        then_max_side=faces.CNN_SIDE,
        description="HOG, and only when it finds no face dlib's CNN on a 384 px copy (+~0.7 s, one core): "
        "HOG's cost when HOG finds a face; finds the turned and blurred faces of ~1/5 of the photo's "
        "longer side and more (100% of FairFace's everyday photos)",
    ),
}
DETECTORS = {name: detector.description for name, detector in REGISTRY.items()}
Detector = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]
DEFAULT_UPLOAD_DETECTOR: Detector = "auto"


class NamedDetector(NamedTuple):
    name: str
    options: DetectOptions

    def metadata(self) -> dict[str, str | int]:
        """How a model file records it."""
        return {"name": self.name, "upsample": self.options.upsample, "max_side": self.options.max_side}


# The detector whose boxes the gender model learned on (export/data.py's training boxes):
# training, the yardstick and export detect with it, and every other detector's boxes are
# moved to its geometry by a fitted map.
REFERENCE_DETECTOR = NamedDetector("hog", DetectOptions(upsample=1, max_side=1600, threads=1))


class UnknownDetector(ValueError):
    pass


def detect(image: Image.Image, name: str, options: DetectOptions) -> list[Detection]:
    """Every face the named detector finds in an RGB image."""
    if name not in REGISTRY:
        raise UnknownDetector(f"no detector {name!r}; the detectors are {', '.join(REGISTRY)}")
    return REGISTRY[name].detect(image, options)


def detect_faces(image: Image.Image, detector: str, upsample: int, max_side: int, threads: int = 1) -> list[Box]:
    """The boxes of every face the named detector finds, in the image's pixels."""
    return [d.box for d in detect(image, detector, DetectOptions(upsample, max_side, threads))]


def reference_boxes(image: Image.Image) -> list[Box]:
    """The boxes of every face REFERENCE_DETECTOR finds, as the gender model's training boxes were found."""
    return [d.box for d in detect(image, *REFERENCE_DETECTOR)]
