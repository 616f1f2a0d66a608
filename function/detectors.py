"""The face detectors the service offers, by name: the API's `detector` values, /v1/model's
listing and the page's choices all come from REGISTRY. An unknown name is an error."""

from __future__ import annotations

from typing import Literal, NamedTuple

from PIL import Image

from function import faces
from function.blazeface import FULL_RANGE_SIDE, SHORT_RANGE_SIDE, BlazeFace, Model
from function.boxes import Box, LandmarkMap
from function.detection import DetectOptions, Detection, FaceDetector, Fallback

# Where HOG draws BlazeFace's face, from BlazeFace's box and six landmarks (function.boxes.LandmarkMap;
# columns: 1, then x and y of the right eye, left eye, nose, mouth, right ear, left ear), fitted on
# 759 faces of four in five training people (487 of 800 training photos where both find one face,
# 272 in 64 frames of LFW faces of 36-120 px) by `python -m export.detector_boxes --detector blazeface
# --photos 800 --frames 80`. Mean IoU with HOG's box on the 214 faces of the held-out fifth: 0.790
# raw, 0.803 with the box map served before it (centre + (-0.006, -0.035) x size, size x 0.962),
# 0.853 with this one.
BLAZEFACE_TO_HOG = LandmarkMap((
    (-0.029, 0.1327, -0.0234, 0.1434, -0.0341, 0.213, -0.0254, 0.1703, 0.0205, 0.0572, -0.0532, 0.0067, -0.0613),
    (-0.0903, -0.0725, 0.1776, 0.0663, 0.1389, 0.0004, 0.2142, 0.0021, 0.1186, -0.1016, 0.0891, 0.0989, 0.0508),
    (0.8805, -0.0241, -0.0726, -0.0044, -0.023, 0.0275, -0.1689, 0.0519, -0.041, -0.1349, 0.1244, 0.1224, 0.1428),
    (0.8652, -0.0327, -0.0919, 0.0018, -0.0488, 0.0246, -0.1729, 0.0464, -0.033, -0.1285, 0.0978, 0.1083, 0.1137),
))
# Thresholds, tiles and the close-up check: export/blazeface_choice.py on training frames and photos
# (`--frames 60 --photos 400 --tile-min-face 16`, one look per level; bench/RESULTS.md). Below 0.6 on
# the tiles some non-faces keep their box at every close-up threshold. The check (the short-range
# model on 3x the box of a face only the full-range model found) leaves no box on no face from 0.3
# to 0.7, and keeps every face there at 0.3 and 0.4 (one 1600 px face is lost from 0.5): 0.4 of
# those is nearer the middle. Faces the tiles score 0.8 or more skip it with the same counts: 1.9
# close-ups per camera frame instead of 4.5, 1.1 per 1600 px photo instead of 5.0.
BLAZEFACE = BlazeFace(
    "MediaPipe's BlazeFace on onnxruntime: ~0.1x HOG's time for a 480 px photo and for a phone photo "
    "(one core); finds turned, tilted and blurred faces too (99.8% of FairFace's everyday photos); upsample 0 looks "
    "for faces of ~1/7 of the photo's longer side and more, each upsample from 1 on for faces half as small "
    "(40 px of a 1600 px photo at 1); boxes moved to where HOG would draw them",
    Model("blazeface-short-range.onnx", SHORT_RANGE_SIDE),
    Model("blazeface-full-range.onnx", FULL_RANGE_SIDE),
    whole_min_score=0.65,
    tiled_min_score=0.6,
    close_up_min_score=0.4,
    close_up_below=0.8,
    mapping=BLAZEFACE_TO_HOG,
)
REGISTRY: dict[str, FaceDetector] = {
    "hog": faces.HOG,
    "cnn": faces.CNN,
    "blazeface": BLAZEFACE,
    # BlazeFace at upsample 0 (its short-range model on the whole image: faces of 14% of the
    # longer side and more, as the CNN on its 384 px copy found those of ~18%) finds what the CNN
    # found where HOG finds nothing (67 and 68 of 74 FairFace training photos) in a few ms, so a
    # photo without a face costs little more than HOG (bench/RESULTS.md).
    "auto": Fallback(
        faces.HOG,
        BLAZEFACE,
        then_upsample=0,
        description="HOG, and only when it finds no face BlazeFace on the whole image (+a few ms): HOG's boxes and "
        "cost when HOG finds a face; also finds the turned, tilted and blurred faces HOG misses of ~1/7 of the "
        "photo's longer side and more",
    ),
}
DETECTORS = {name: detector.description for name, detector in REGISTRY.items()}
Detector = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]
DEFAULT_UPLOAD_DETECTOR: Detector = "auto"
# Live camera frames: BlazeFace finds the group of small faces at 3-4x HOG's frames per second.
DEFAULT_CAMERA_DETECTOR: Detector = "blazeface"


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
