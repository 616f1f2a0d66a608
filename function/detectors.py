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
# 2,546 faces of four in five training people (1,863 of 3,000 training photos, none of a validation
# person, where both find one face; 683 in 160 frames of LFW faces of 36-120 px) by `python -m
# export.detector_boxes --detector blazeface --photos 3000 --frames 200 --training-side` (with the
# close-up check at 0.5). Mean IoU with HOG's box on the 742 faces of the held-out fifth: 0.780 raw,
# 0.799 with a box map fitted beside it, 0.852 with this one, as with the landmark map served before
# it (fitted on 800 photos). Chosen over that map and over square boxes by gender on the FairFace
# validation faces both HOG and BlazeFace find (bench/RESULTS.md; export/EXPERIMENTS.md's rule).
BLAZEFACE_TO_HOG = LandmarkMap((
    (-0.0397, 0.1254, -0.0403, 0.1491, -0.043, 0.2154, -0.0204, 0.1695, 0.0322, 0.0566, -0.0793, -0.0044, -0.0733),
    (-0.1166, -0.0675, 0.1296, 0.0761, 0.1343, -0.0018, 0.2057, -0.0114, 0.1189, -0.1068, 0.0266, 0.1063, 0.0587),
    (0.8949, -0.0181, -0.0526, 0.0052, -0.028, 0.0199, -0.1821, 0.048, -0.0715, -0.1292, 0.1507, 0.1206, 0.1437),
    (0.88, -0.0269, -0.0699, 0.0123, -0.0463, 0.0178, -0.1849, 0.043, -0.0615, -0.1239, 0.1247, 0.1112, 0.1219),
))
# Thresholds, tiles and the close-up check: export/blazeface_choice.py on training frames and photos
# (`--frames 60 --photos 400 --tile-min-face 16`, one look per level; bench/RESULTS.md). Below 0.6 on
# the tiles some non-faces keep their box at every close-up threshold. The check (the short-range
# model on 3x the box of a face only the full-range model found) leaves no box on no face from 0.3
# to 0.7, and keeps every face there at 0.3 and 0.4 (one 1600 px face is lost from 0.5): 0.4 of
# those is nearer the middle. Faces the tiles score 0.8 or more skip it with the same counts: 1.9
# close-ups per camera frame instead of 4.5, 1.1 per 1600 px photo instead of 5.0.
# The re-look (a face the levels score from 0.4 to 0.6 looked at again centred, in a 96 px input, kept
# at 0.6 there): 289 of those 300 camera faces instead of 273, the rest unchanged, no box on no face;
# from 0.5 285, and 128 or 192 px inputs from 0.4 left a box on a 1600 px photo's background
# (`--only-relook`).
BLAZEFACE = BlazeFace(
    "MediaPipe's BlazeFace on onnxruntime: ~0.1x HOG's time for a 480 px photo and for a phone photo "
    "(one core); finds turned, tilted and blurred faces too (99.8% of FairFace's everyday photos); upsample 0 looks "
    "for faces of ~1/7 of the photo's longer side and more, each upsample from 1 on for faces half as small "
    "(40 px of a 1600 px photo at 1); boxes moved to where HOG would draw them",
    Model("blazeface-short-range.onnx", SHORT_RANGE_SIDE),
    Model("blazeface-full-range.onnx", FULL_RANGE_SIDE),
    whole_min_score=0.65,
    tiled_min_score=0.6,
    relook_min_score=0.4,
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
