"""The honest yardstick's parts: people found in UTKFace, the split by person, the peer's adapter, the scores."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

from conftest import FACE_PHOTOS, SHARED_DATA, gender_of, needs_shared_data
from export import data, identities, yardstick


def test_photos_linked_through_a_chain_are_one_person():
    assert identities.connected_groups(5, [(0, 1), (1, 2), (3, 4)]) == [0, 0, 0, 1, 1]
    assert identities.connected_groups(3, []) == [0, 1, 2]


def test_links_need_closeness_and_mutual_nearness():
    # two tight pairs far apart; then a chain whose gaps widen, so with k=1 only its first two points are mutually nearest
    pairs_of_twins = np.array([[0, 0], [0.1, 0], [5, 5], [5.1, 5]], np.float32)
    assert identities.mutual_neighbour_pairs(pairs_of_twins, 0.5, k=1) == [(0, 1), (2, 3)]
    assert identities.mutual_neighbour_pairs(pairs_of_twins, 0.05, k=1) == []
    chain = np.array([[x, 0] for x in (0, 1, 2.1, 3.3)], np.float32)
    assert identities.mutual_neighbour_pairs(chain, 1.5, k=1) == [(0, 1)]
    assert identities.mutual_neighbour_pairs(chain, 1.5, k=2) == [(0, 1), (1, 2), (2, 3)]


def test_wilson_interval_brackets_the_proportion():
    low, high = yardstick.wilson(50, 100)
    assert 40 < low < 41 and 59 < high < 60
    low, high = yardstick.wilson(10, 10)
    assert high == pytest.approx(100) and 69 < low < 73
    assert all(math.isnan(v) for v in yardstick.wilson(0, 0))


def test_score_counts_only_found_faces_and_recall_per_gender():
    result = yardstick.score(["female", "female", "male", "male"], [("female", 0.9), ("male", 0.6), ("male", 0.8), None])
    assert result["found"] == 75 and result["accuracy"] == pytest.approx(200 / 3)
    assert result["female_recall"] == 50 and result["male_recall"] == 100


def test_calibration_error_is_the_gap_between_confidence_and_accuracy():
    genders = ["female"] * 4 + ["male"] * 4
    # right 3 times in 4 at confidence 0.75: calibrated; the unfound face does not count
    calibrated = [("female", 0.75)] * 3 + [("male", 0.75)] + [("male", 0.75)] * 3 + [("female", 0.75)]
    assert yardstick.calibration_error(genders + ["male"], calibrated + [None]) == pytest.approx(0)
    overconfident = [(label, 0.95) for label, _ in calibrated]
    assert yardstick.calibration_error(genders, overconfident) == pytest.approx(20)
    assert math.isnan(yardstick.calibration_error(["male"], [None]))


@needs_shared_data
def test_split_keeps_every_utkface_person_on_one_side():
    person = data.identities("utkface")
    assert person, "export/people/utkface.csv is missing: run python -m export.identities --source utkface"
    train, validation = data.split(data.load_samples(SHARED_DATA))
    train_people = {person[s.path] for s in train if s.source == "utkface"}
    validation_people = {person[s.path] for s in validation if s.source == "utkface"}
    assert validation_people and not train_people & validation_people
    share = sum(s.source == "utkface" for s in validation) / sum(s.source == "utkface" for s in train + validation)
    assert 0.14 < share < 0.16


def test_peer_adapter_answers_for_the_centre_face():
    if not yardstick.PEER_PYTHON.exists():
        pytest.skip("the peer's environment .tools/peer is missing: scripts/setup.sh dev makes it")
    jobs = [[str(p), 0] for p in FACE_PHOTOS]
    out = subprocess.run([str(yardstick.PEER_PYTHON), str(yardstick.PEER_SCRIPT)], input=json.dumps(jobs),
                         capture_output=True, text=True, check=True).stdout
    answers = json.loads(out)
    assert len(answers) == len(FACE_PHOTOS) and {a[0] for a in answers} <= {"female", "male"}
    assert all(0.5 <= a[1] <= 1 for a in answers)
    assert sum(a[0] == gender_of(p) for a, p in zip(answers, FACE_PHOTOS)) >= len(FACE_PHOTOS) - 1
