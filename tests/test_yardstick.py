"""The honest yardstick's parts: people found in UTKFace, the split by person, the peer's adapter, the scores."""

from __future__ import annotations

import csv
import json
import math
import subprocess
from pathlib import Path

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


def test_people_bootstrap_is_wider_when_one_person_has_all_the_errors():
    # 20 people with 5 photos each, 10 wrong answers: all on two people, or one on each of ten
    people = [f"p{i // 5}" for i in range(100)]
    concentrated = np.array([i >= 10 for i in range(100)])
    spread = np.array([i % 5 != 0 or i >= 50 for i in range(100)])
    assert concentrated.sum() == spread.sum() == 90
    low_c, high_c = yardstick.people_bootstrap(concentrated, people)
    low_s, high_s = yardstick.people_bootstrap(spread, people)
    assert low_c < 90 < high_c and low_s < 90 < high_s
    assert high_c - low_c > 1.5 * (high_s - low_s)
    # each photo its own person (the external sets): the same errors, a narrower interval than one person's
    low_p, high_p = yardstick.people_bootstrap(concentrated, [str(i) for i in range(100)])
    assert high_p - low_p < high_c - low_c
    assert yardstick.people_bootstrap(concentrated, people) == (low_c, high_c)  # fixed seed
    assert all(math.isnan(v) for v in yardstick.people_bootstrap(np.array([], bool), []))


def test_score_counts_only_found_faces_and_recall_per_gender():
    result = yardstick.score(["female", "female", "male", "male"], [("female", 0.9), ("male", 0.6), ("male", 0.8), None],
                             ["a", "b", "c", "d"])
    assert result["found"] == 75 and result["accuracy"] == pytest.approx(200 / 3)
    assert result["female_recall"] == 50 and result["male_recall"] == 100
    assert result["low"] < result["accuracy"] < result["high"]


def test_answered_share_and_accuracy_at_a_threshold():
    genders = ["female", "female", "male", "male", "male", "female"]
    answers = [("female", 0.95), ("male", 0.7), ("male", 0.8), ("female", 0.85), ("male", 0.6), None]
    assert yardstick.answered(genders, answers, 0.5) == pytest.approx((100, 60))  # always answer
    # at 0.8: three of the five found faces (0.8 itself counts as sure), two of them right
    assert yardstick.answered(genders, answers, 0.8) == pytest.approx((60, 200 / 3))
    assert yardstick.answered(genders, answers, 0.9) == pytest.approx((20, 100))
    share, accuracy = yardstick.answered(genders, answers, 0.99)
    assert share == 0 and math.isnan(accuracy)


def test_peer_at_a_matched_share_ranks_by_its_own_confidence_and_splits_ties():
    genders = ["male"] * 6
    # right at 0.99, wrong at 0.97, then three tied at 0.90 (two right), wrong at 0.80, and one face not found
    answers = [("male", 0.99), ("female", 0.97), ("male", 0.9), ("male", 0.9), ("female", 0.9), ("female", 0.8), None]
    assert yardstick.accuracy_at_share(genders + ["male"], answers, 100 * 2 / 6) == pytest.approx(50)
    # three faces: the top two and one of the three ties, which is right two times in three
    assert yardstick.accuracy_at_share(genders + ["male"], answers, 50) == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert yardstick.accuracy_at_share(genders + ["male"], answers, 100) == pytest.approx(50)
    order = [5, 3, 0, 4, 6, 2, 1]  # the order of the photos does not change it
    shuffled = yardstick.accuracy_at_share([(genders + ["male"])[i] for i in order], [answers[i] for i in order], 50)
    assert shuffled == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert math.isnan(yardstick.accuracy_at_share(genders, answers[:6], math.nan))


def test_risk_coverage_has_a_point_at_each_distinct_confidence():
    genders = ["male"] * 4
    answers = [("male", 0.9), ("female", 0.7), ("male", 0.7), ("male", 0.99)]
    assert np.allclose(yardstick.risk_coverage(genders, answers), [(25, 100), (50, 100), (100, 75)])


def test_curve_svg_holds_both_panels_with_every_system_and_our_default_point(tmp_path):
    from xml.etree import ElementTree

    rng = np.random.default_rng(0)
    items = [yardstick.Photo(Path(f"{i}.jpg"), "female" if i % 2 else "male",
                             "utkface 13+ (validation people)" if i < 60 else "external fairface age 20-29", True,
                             person=f"p{i // 3}" if i < 60 else "", age_bin="20-29") for i in range(100)]
    items.append(yardstick.Photo(Path("child.jpg"), "male", "external fairface age 3-9", True, age_bin="3-9"))

    def guesses(right_share: float, whole_percent: bool) -> list:
        out = []
        for p in items:
            confidence = rng.uniform(0.5, 1)
            confidence = math.floor(100 * confidence) / 100 if whole_percent else confidence
            right = rng.random() < right_share
            out.append((p.gender if right else ("male" if p.gender == "female" else "female"), confidence))
        return out

    systems = {"ours": guesses(0.9, False), "older": guesses(0.8, False), yardstick.PEER: guesses(0.85, True)}
    path = tmp_path / "curves" / "risk.svg"
    yardstick.write_curves(path, items, systems, {"ours": 0.8, "older": 0.5})
    svg = ElementTree.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    curves = [line.get("data-system") for line in svg.iter(f"{ns}polyline")]
    assert sorted(curves) == sorted(list(systems) * 2)  # two panels, each with every system
    assert all(len(line.get("points").split()) > 5 for line in svg.iter(f"{ns}polyline"))
    marks = [circle.get("data-system") for circle in svg.iter(f"{ns}circle")]
    assert marks == ["ours", "ours"]  # a model without a threshold always answers: no point to mark
    text = " ".join(t.text for t in svg.iter(f"{ns}text"))
    assert "share of found faces answered" in text and "accuracy of the answered faces" in text
    assert all(name in text for name in systems) and "external FairFace 10+" in text


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


@needs_shared_data
def test_sets_hold_validation_people_and_fairface_failure_groups():
    items = yardstick.photos(SHARED_DATA)
    sets = yardstick.set_masks(items)
    for name in ("fairface 10+ (validation people)", "allage (validation people)", "utkface 13+ (validation people)",
                 "lfw-deepfunneled (validation people)", "external fairface 10+", "external pixabay"):
        assert sets[name].sum() > 100, name
    assert sets["external fairface 10+"].sum() == 7 * 60 and sets["external fairface all ages"].sum() == 9 * 60
    external = [p for p in items if p.group.startswith("external")]
    assert external and not any(p.person for p in external)  # bootstrapped over photos
    assert all(p.person for p in items if not p.group.startswith("external"))
    own_fairface = {p.path.name for p in items if p.group.startswith("fairface")}
    assert not own_fairface & {p.path.name for p in external}

    genders = np.array([p.gender for p in items])
    groups = yardstick.failure_masks(items)
    races = [name for name in groups if name.startswith("fairface 10+ (validation people) ")]
    assert len(races) == 7 and "fairface 10+ (validation people) East Asian" in races
    for bin_ in data.AGE_BINS:
        assert f"external fairface age {bin_}" in groups and f"fairface (validation people) age {bin_}" in groups
    teenagers, old = groups["utkface (validation people) age 13-19"], groups["utkface (validation people) age 60+"]
    assert teenagers.sum() > 30 and old.sum() > 30 and not (teenagers & old).any()
    assert {items[i].age_bin for i in np.flatnonzero(old)} == {"60-69", "more than 70"}
    for name, mask in groups.items():
        assert {"female", "male"} <= set(genders[mask]), name
        if name in races:
            assert all(items[i].age_bin not in data.CHILD_BINS for i in np.flatnonzero(mask))


def test_only_sure_audit_calls_that_differ_from_the_published_label_relabel_a_photo(tmp_path):
    audit = tmp_path / "audit.csv"
    audit.write_text("path,published,audited,why_looked,note\n"
                     "a.jpg,female,male,model disagreed,\n"
                     "b.jpg,male,male,random control (model agreed),\n"
                     "c.jpg,male,unsure,model disagreed,\n")
    assert data.audited_genders(audit) == {"a.jpg": "male"}


def test_the_committed_audit_looked_at_validation_photos_only():
    with open(data.LABEL_AUDIT) as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["audited"] for r in rows} <= {"female", "male", "unsure"}
    assert {r["why_looked"] for r in rows} == {"model disagreed", "random control (model agreed)"}
    if SHARED_DATA.exists():
        _, validation = data.split(data.load_samples(SHARED_DATA))
        assert {r["path"] for r in rows} <= {s.path for s in validation}, "an audited photo outside validation"


def test_audited_labels_replace_the_published_ones_and_nothing_else():
    items = [yardstick.Photo(Path("a.jpg"), "female", "utkface 13+ (validation people)", True, audited="male"),
             yardstick.Photo(Path("b.jpg"), "male", "utkface 13+ (validation people)", True)]
    assert [p.gender for p in yardstick.with_audited_labels(items)] == ["male", "male"]
    assert [p.gender for p in items] == ["female", "male"]


def test_a_face_flagged_as_a_likely_child_is_answered_only_when_every_face_is():
    genders = ["male", "male", "female"]
    answers = [("male", 0.99, True), ("male", 0.95, False), ("male", 0.9)]  # the peer's answers carry no flag
    assert yardstick.answered(genders, answers, 0.5) == pytest.approx((100, 200 / 3))
    assert yardstick.answered(genders, answers, 0.9) == pytest.approx((200 / 3, 50))
    assert yardstick.risk_coverage(genders, answers)[0] == pytest.approx((100 / 3, 100)), "the flagged face ranks last"
