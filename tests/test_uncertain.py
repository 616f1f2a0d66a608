"""Faces below the confidence threshold are marked uncertain. The threshold comes from the
model's metadata, FACES_MIN_CONFIDENCE overrides it, and ?min_confidence= overrides both."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from conftest import FACE_PHOTOS, gender_of
from function import service
from function.inference import INFO_KEY, GenderClassifier
from function.pipeline import FaceGenderPipeline
from function.settings import Settings
from response_checks import assert_error, checking_against_openapi

PHOTO = FACE_PHOTOS[0]


@pytest.fixture(scope="module")
def client(client):
    with checking_against_openapi(client):
        yield client


def analyse(client, photo=PHOTO, path="/v1/faces", **params) -> dict:
    response = client.post(path, files={"file": ("a.jpg", photo.read_bytes(), "image/jpeg")}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def confidence_of(client, photo=PHOTO) -> float:
    [face] = analyse(client, photo, min_confidence=0.5)["faces"]
    assert face["confidence"] < 1  # room above it for a stricter threshold
    return face["confidence"]


@pytest.fixture
def model_info(monkeypatch):
    """The served model's metadata, restored after the test."""
    info = service.pipeline().classifier.info
    monkeypatch.setattr(service.pipeline().classifier, "info", dict(info))
    return service.pipeline().classifier.info


@pytest.fixture
def environment(monkeypatch):
    """Sets FACES_MIN_CONFIDENCE and gives the served pipeline the settings read from it."""
    def set_threshold(value: str) -> None:
        monkeypatch.setenv("FACES_MIN_CONFIDENCE", value)
        monkeypatch.setattr(service.pipeline(), "settings", Settings.from_env())
    return set_threshold


def test_the_flag_flips_exactly_at_the_threshold_and_nothing_else_changes(client):
    confidence = confidence_of(client)
    at = analyse(client, min_confidence=confidence)
    above = analyse(client, min_confidence=math.nextafter(confidence, 1))
    assert at["min_confidence"] == confidence and at["faces"][0]["uncertain"] is False
    assert above["min_confidence"] > confidence and above["faces"][0]["uncertain"] is True
    for body in (at, above):
        face = body["faces"][0]
        assert face["gender"] == gender_of(PHOTO) and face["confidence"] == confidence
        assert face["scores"][face["gender"]] == confidence


def test_half_answers_every_face_and_one_none_short_of_certain(client):
    assert analyse(client, min_confidence=0.5)["faces"][0]["uncertain"] is False
    assert analyse(client, min_confidence=1)["faces"][0]["uncertain"] is True


def test_the_default_comes_from_the_model_metadata(client, model_info):
    confidence = confidence_of(client)
    model_info["min_confidence"] = math.nextafter(confidence, 1)
    body = analyse(client)
    assert body["min_confidence"] == model_info["min_confidence"] and body["faces"][0]["uncertain"] is True
    assert client.get("/v1/model").json()["min_confidence"] == model_info["min_confidence"]
    model_info["min_confidence"] = confidence
    assert analyse(client)["faces"][0]["uncertain"] is False


def test_a_model_without_a_threshold_answers_every_face(client, model_info):
    model_info.pop("min_confidence", None)
    body = analyse(client)
    assert body["min_confidence"] == 0.5 and body["faces"][0]["uncertain"] is False
    assert client.get("/v1/model").json()["min_confidence"] == 0.5


def test_the_threshold_is_read_from_the_onnx_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    settings = Settings.from_env()
    model = onnx.load(settings.model_path)
    [entry] = [e for e in model.metadata_props if e.key == INFO_KEY]
    entry.value = json.dumps(json.loads(entry.value) | {"min_confidence": 0.87})
    path = tmp_path / "with-threshold.onnx"
    onnx.save(model, path)
    assert GenderClassifier(path).info["min_confidence"] == 0.87
    assert FaceGenderPipeline(dataclasses.replace(settings, model_path=path)).min_confidence == 0.87


def test_the_environment_overrides_the_model_and_the_query_overrides_both(client, model_info, environment):
    model_info["min_confidence"] = 0.7
    environment("0.9")
    assert client.get("/v1/model").json()["min_confidence"] == 0.9
    assert analyse(client)["min_confidence"] == 0.9
    assert analyse(client, min_confidence=0.6)["min_confidence"] == 0.6


@pytest.mark.parametrize("value", ["0.4", "1.5", "-1", "nan", "abc"])
def test_an_environment_value_out_of_range_stops_the_service(monkeypatch, value):
    monkeypatch.setenv("FACES_MIN_CONFIDENCE", value)
    with pytest.raises(ValueError, match="FACES_MIN_CONFIDENCE|could not convert"):
        Settings.from_env()


def test_an_empty_environment_value_means_the_model_default(monkeypatch):
    monkeypatch.setenv("FACES_MIN_CONFIDENCE", " ")
    assert Settings.from_env().min_confidence is None


@pytest.mark.parametrize("value", ["0.49", "1.0001", "nan", "twelve"])
def test_a_query_value_out_of_range_is_a_422_naming_the_parameter(client, value):
    response = client.post("/v1/faces", files={"file": ("a.jpg", PHOTO.read_bytes(), "image/jpeg")},
                           params={"min_confidence": value})
    assert_error(response, 422, "invalid_parameter")
    assert "min_confidence" in response.json()["error"]["message"]


def test_the_seed_endpoint_keeps_labelling_uncertain_faces(client, environment):
    photos = [FACE_PHOTOS[0], FACE_PHOTOS[-1]]
    before = [analyse(client, photo, "/predictModel")["faces"] for photo in photos]
    environment("1.0")
    assert all(face["uncertain"] for photo in photos for face in analyse(client, photo)["faces"])
    after = [analyse(client, photo, "/predictModel")["faces"] for photo in photos]
    assert after == before
    assert [faces["face1"]["gender"] for faces in after] == [gender_of(photo).capitalize() for photo in photos]


CHILD = FACE_PHOTOS[0].parent.parent / "child_face.jpg"


def test_a_likely_child_is_uncertain_however_confident_except_when_every_face_is_answered(client):
    [child] = analyse(client, CHILD)["faces"]
    assert child["likely_child"] is True and child["uncertain"] is True
    [confident_enough] = analyse(client, CHILD, min_confidence=0.6)["faces"]
    assert confident_enough["confidence"] >= 0.6, "the flag, not a low confidence, is what makes it uncertain"
    assert confident_enough["likely_child"] is True and confident_enough["uncertain"] is True
    [answered] = analyse(client, CHILD, min_confidence=0.5)["faces"]
    assert answered["likely_child"] is True and answered["uncertain"] is False
    assert answered["gender"] == child["gender"] and answered["scores"] == child["scores"]
    for photo in FACE_PHOTOS:  # adults
        [face] = analyse(client, photo)["faces"]
        assert face["likely_child"] is False, photo.name


def test_the_flag_follows_the_cut_in_the_model_file(client, monkeypatch):
    classifier = service.pipeline().classifier
    assert classifier.info["child_flag"]["cut"] == classifier.child_cut
    monkeypatch.setattr(classifier, "child_cut", 0.0)  # every face a child
    assert analyse(client)["faces"][0]["likely_child"] is True
    monkeypatch.setattr(classifier, "child_cut", 1.01)  # none
    [face] = analyse(client, CHILD)["faces"]
    assert face["likely_child"] is False and face["uncertain"] is (face["confidence"] < analyse(client, CHILD)["min_confidence"])


def test_a_model_file_without_the_flag_flags_no_face():
    lfw_only = GenderClassifier(Settings.from_env().model_path.with_name("gender-mobilenet-v2-lfw.onnx"))
    assert lfw_only.child_cut is None
    pipeline = FaceGenderPipeline(dataclasses.replace(Settings.from_env(), model_path=lfw_only.path))
    [face] = pipeline.analyze(CHILD.read_bytes(), "hog", 1, 640).faces
    assert face.likely_child is False
