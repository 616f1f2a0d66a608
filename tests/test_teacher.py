"""The distillation teacher's parts: balanced weights, the regression, and predictions out of fold."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the teacher is fitted with the export tools (scripts/setup.sh dev)")

from export import data, teacher  # noqa: E402


def test_each_source_gets_its_women_and_men_weighted_alike():
    sources = ["lfw-deepfunneled"] * 6 + ["lfw-original150"] * 6 + ["utkface"] * 5
    genders = ["male"] * 5 + ["female"] + ["male"] * 5 + ["female"] + ["male", "female", "female", "female", "female"]
    weights = data.balancing_weights(sources, genders)
    totals = {}
    for source, gender, weight in zip(sources, genders, weights):
        cell = (source.split("-")[0], gender)
        totals[cell] = totals.get(cell, 0) + weight
    assert len(totals) == 4 and np.allclose(list(totals.values()), totals["lfw", "male"])
    assert weights.mean() == pytest.approx(1.0)


def test_the_regression_learns_a_direction_and_heeds_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    y = (x[:, 2] > 0).astype(float)
    predict = teacher.fit_logistic(x, y, np.ones(len(y)))
    assert np.mean((predict(x) > 0.5) == y) > 0.95
    # the same features with labels drawn at random: weighting the ones far outweighs the zeros
    coin = rng.integers(0, 2, len(y)).astype(float)
    leaning = teacher.fit_logistic(x, coin, np.where(coin == 1, 10.0, 0.1))
    assert leaning(x).mean() > 0.8


def test_out_of_fold_predictions_never_come_from_a_fit_that_saw_the_person():
    # each person has a feature of their own and a label drawn at random: a fit that saw a
    # person recalls their label, one that did not can only guess
    people = [f"p{i}" for i in range(60) for _ in range(3)]
    x = np.repeat(np.eye(60), 3, axis=0)
    y = np.repeat(np.random.default_rng(1).integers(0, 2, 60), 3).astype(float)
    seen = teacher.fit_logistic(x, y, np.ones(len(y)))(x)
    unseen = teacher.out_of_fold(x, y, np.ones(len(y)), people)
    assert np.mean((seen > 0.5) == y) == 1.0
    assert np.abs(unseen - 0.5).max() < np.abs(seen - 0.5).min()


def test_folds_keep_each_person_whole_whatever_the_order_of_rows():
    people = [f"p{i % 7}" for i in range(40)]
    folds = data.person_folds(people, 3)
    assert set(folds.tolist()) == {0, 1, 2}
    assert all(len({f for p, f in zip(people, folds) if p == person}) == 1 for person in set(people))
    reordered = people[::-1]
    assert dict(zip(reordered, data.person_folds(reordered, 3).tolist())) == dict(zip(people, folds.tolist()))


def test_pooling_gives_each_named_person_their_mean_and_leaves_the_unnamed_alone():
    probability = np.array([0.9, 0.3, 0.6, 0.2, 0.7])
    pooled = teacher.pooled_by_person(probability, ["ann", "ann", "ann", "", ""])
    assert np.allclose(pooled, [0.6, 0.6, 0.6, 0.2, 0.7])
    assert np.allclose(probability, [0.9, 0.3, 0.6, 0.2, 0.7])
