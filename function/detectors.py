"""The face detectors the service offers, by name: the API's `detector` values, /v1/model's
listing and the page's choices all come from REGISTRY. An unknown name is an error."""

from __future__ import annotations

from typing import Literal, NamedTuple

from PIL import Image

from function import faces
from function.blazeface import BlazeFace, Model
from function.boxes import Box, BoxMap
from function.detection import DetectOptions, Detection, FaceDetector, Fallback

# HOG centre = BlazeFace centre + k * its size, HOG size = s * its size: (kx, ky, sx, sy), fitted
# on 732 faces (476 of 600 training photos, 256 in 60 frames of LFW faces of 36-120 px) by
# `python -m export.detector_boxes --detector blazeface --photos 600 --frames 60` (mean IoU with
# HOG's box 0.779 raw, 0.796 mapped). Thresholds and tiles: export/blazeface_choice.py.
BLAZEFACE_TO_HOG: BoxMap = (-0.006, -0.035, 0.962, 0.962)
BLAZEFACE = BlazeFace(
    "MediaPipe's BlazeFace on onnxruntime: a few ms per photo",
    Model("blazeface-short-range.onnx"),
    Model("blazeface-full-range.onnx"),
    whole_min_score=0.65,
    tiled_min_score=0.6,
    mapping=BLAZEFACE_TO_HOG,
)
REGISTRY: dict[str, FaceDetector] = {
    "hog": faces.HOG,
    "cnn": faces.CNN,
    "blazeface": BLAZEFACE,
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
