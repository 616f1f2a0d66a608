"""The trained models committed in function/models carry their metadata and read faces right."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.model_ops import node_times_us
from conftest import FACE_PHOTOS, gender_of
from function.detectors import reference_boxes
from function.inference import LABELS, GenderClassifier
from function.preprocess import preprocess
from function.settings import ALWAYS_ANSWER, DEFAULT_MODEL_PATH

MODELS = DEFAULT_MODEL_PATH.parent
TRAINED = [MODELS / "gender-mobilenet-v2.onnx", MODELS / "gender-mobilenet-v2-lfw.onnx", MODELS / "gender-mobilenet-v2-int8.onnx"]


def test_the_default_model_is_the_int8_copy_of_ours_and_as_accurate():
    assert DEFAULT_MODEL_PATH == TRAINED[2]
    original, int8 = (GenderClassifier(path).info for path in (TRAINED[0], DEFAULT_MODEL_PATH))
    assert f"from {TRAINED[0].name}" in int8["quantization"]
    assert int8["source_checkpoint_sha256"] == original["source_checkpoint_sha256"]
    for key in ("accuracy", "balanced_accuracy"):
        before, after = (info["metrics"]["validation"]["all"][key] for info in (original, int8))
        assert after >= before - 0.2, key


def test_always_answer_is_the_lowest_confidence_a_face_can_have():
    assert ALWAYS_ANSWER == 1 / len(LABELS)


@pytest.mark.parametrize("path", TRAINED, ids=[p.stem for p in TRAINED])
def test_trained_model_metadata(path):
    classifier = GenderClassifier(path)
    assert classifier.spec.labels == LABELS and classifier.spec.scale == pytest.approx(1 / 255)
    assert 0.2 < classifier.temperature < 5
    validation = classifier.info["metrics"]["validation"]
    assert validation["all"]["accuracy"] > 90 and len(classifier.info["source_checkpoint_sha256"]) == 64


@pytest.mark.parametrize("path", TRAINED, ids=[p.stem for p in TRAINED])
def test_trained_model_reads_the_fixture_faces(path):
    classifier = GenderClassifier(path)
    for photo in FACE_PHOTOS:
        image = Image.open(photo).convert("RGB")
        probabilities = classifier.probabilities(preprocess(image, reference_boxes(image)[:1], classifier.spec))[0]
        assert classifier.spec.labels[probabilities.argmax()] == gender_of(photo), photo.name


def test_the_default_model_runs_as_int8_kernels_after_a_float_stem():
    kinds = [kind for kind, _ in node_times_us(DEFAULT_MODEL_PATH, runs=2).values()]
    assert kinds.count("QLinearConv") >= 48 and kinds.count("Conv") <= 3


def test_the_served_model_carries_its_uncertain_threshold_chosen_on_validation():
    info = GenderClassifier(DEFAULT_MODEL_PATH).info
    assert 0.5 < info["min_confidence"] < 1
    answered = info["abstention"]["validation"]["all 10+"]
    assert answered["accuracy"] >= 99 and answered["answered"] > 50
