"""The `auto` detector: HOG, and BlazeFace only when HOG finds no face (issue 41; dlib's CNN
before it, issue 31); the CNN's boxes mapped to HOG's geometry."""

import random
import typing

import pytest
from PIL import Image, ImageOps

from bench.scenes import background
from conftest import FACE_PHOTOS, FIXTURES, NO_FACE_PHOTO
from export.detector_boxes import fit
from function import faces
from function.blazeface import BlazeFace
from function.boxes import IDENTITY, Box, iou, map_box, merge_duplicates
from function.detectors import DEFAULT_UPLOAD_DETECTOR, DETECTORS, REGISTRY, Detector, UnknownDetector, detect_faces
from function.faces import CNN_TO_HOG

# A FairFace training photo (not external/) of a man turned to a microphone: HOG finds no face.
TURNED_FACE = FIXTURES / "turned_face.jpg"


def in_a_photo(path) -> Image.Image:
    """A tight face crop on a grey border, the way a photo surrounds a face."""
    image = Image.open(path).convert("RGB")
    return ImageOps.expand(image, border=image.width // 4, fill=(128, 128, 128))


def test_the_names_are_defined_once():
    assert typing.get_args(Detector) == tuple(DETECTORS) == ("hog", "cnn", "blazeface", "auto")
    assert DEFAULT_UPLOAD_DETECTOR in DETECTORS and all(DETECTORS.values())


def test_auto_is_made_of_registered_detectors():
    auto = REGISTRY["auto"]
    assert auto.first is REGISTRY["hog"] and auto.then is REGISTRY["blazeface"] and auto.then_upsample == 0


def test_an_unknown_detector_is_an_error_not_hog():
    image = Image.open(FACE_PHOTOS[0]).convert("RGB")
    with pytest.raises(UnknownDetector, match="'hogg'"):
        detect_faces(image, "hogg", 1, 1600)


def test_auto_finds_a_turned_face_hog_misses():
    image = in_a_photo(TURNED_FACE)
    assert detect_faces(image, "hog", 1, 1600) == []
    (box,) = detect_faces(image, "auto", 1, 1600)
    face = Box(56, 56, 280, 280)  # the 224 px crop inside its border: the face fills most of it
    assert face.intersection_area(box) >= 0.8 * box.area and box.width >= 100


def test_auto_returns_hogs_boxes_without_running_blazeface_when_hog_finds_a_face(monkeypatch):
    image = Image.open(FACE_PHOTOS[0]).convert("RGB")
    monkeypatch.setattr(BlazeFace, "detect", lambda *args: pytest.fail("BlazeFace ran"))
    assert detect_faces(image, "auto", 1, 1600) == detect_faces(image, "hog", 1, 1600) != []


@pytest.mark.parametrize("seed", range(3))
def test_auto_finds_no_face_where_there_is_none(seed):
    assert detect_faces(Image.open(NO_FACE_PHOTO).convert("RGB"), "auto", 1, 1600) == []
    assert detect_faces(background((480, 360), random.Random(seed)), "auto", 1, 1600) == []


def test_cnn_boxes_are_mapped_to_hogs_geometry():
    """On faces both find, the CNN's boxes as served (mapped) are where HOG puts its box."""
    for path in FACE_PHOTOS:
        image = Image.open(path).convert("RGB")
        (hog,) = detect_faces(image, "hog", 1, 1600)
        (mapped,) = [d.box for d in faces.cnn_detections(image)]
        (raw,) = [d.box for d in faces.cnn_detections(image, IDENTITY)]
        (served,) = detect_faces(image, "cnn", 0, 1600)
        assert mapped == map_box(raw, CNN_TO_HOG) or iou(mapped, map_box(raw, CNN_TO_HOG)) > 0.95  # rounding at the copy's scale
        assert iou(hog, mapped) >= 0.6 and iou(hog, served) >= 0.6


def test_map_moves_and_scales_by_the_box_size():
    assert map_box(Box(100, 100, 200, 300), (0.1, -0.05, 1.2, 0.8)) == Box(100, 110, 220, 270)


def test_fit_recovers_a_known_map():
    rng = random.Random(0)
    truth = (0.03, 0.06, 1.1, 0.95)
    cnn = [Box(x, y, x + s, y + s) for x, y, s in ((rng.randint(0, 500), rng.randint(0, 500), rng.randint(60, 300)) for _ in range(50))]
    fitted = fit([map_box(b, truth) for b in cnn], cnn)
    assert fitted == pytest.approx(truth, abs=0.01)


def test_a_face_found_by_both_is_kept_once_hogs_box_first():
    hog = Box(100, 100, 180, 180)
    cnn = map_box(Box(96, 90, 182, 176), CNN_TO_HOG)
    other = Box(400, 100, 480, 180)
    assert merge_duplicates([hog, cnn, other]) == [hog, other]


def test_a_request_with_auto_labels_the_face_hog_misses():
    from conftest import encode
    from function.pipeline import FaceGenderPipeline
    from function.settings import Settings

    pipeline = FaceGenderPipeline(Settings.from_env())
    data = encode(in_a_photo(TURNED_FACE))
    assert pipeline.analyze(data, "hog", 1, 1600).faces == []
    (face,) = pipeline.analyze(data, "auto", 1, 1600).faces
    assert face.gender in ("female", "male") and face.box.width >= 100
