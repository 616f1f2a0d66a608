"""The distillation teacher's parts: balanced weights, the regression, and predictions out of fold."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the teacher is fitted with the export tools (scripts/setup.sh dev)")

from export import data, teacher  # noqa: E402


def test_women_and_men_weigh_alike_within_each_source_and_age_bin():
    def photo(source, age_bin, gender):
        return data.Sample(f"{source}/{age_bin}/{gender}", source, gender, age_bin=age_bin)

    samples = ([photo("lfw-deepfunneled", "", "male")] * 30 + [photo("lfw-deepfunneled", "", "female")] * 6
               + [photo("fairface", "60-69", "male")] * 6 + [photo("fairface", "60-69", "female")] * 2
               + [photo("fairface", "10-19", "female")] * 3 + [photo("fairface", "10-19", "male")])
    weights = data.balancing_weights(samples)
    totals: dict[tuple, float] = {}
    for s, weight in zip(samples, weights):
        totals[s.source, s.age_bin, s.gender] = totals.get((s.source, s.age_bin, s.gender), 0) + weight
    for source, age_bin in {(s.source, s.age_bin) for s in samples}:
        assert totals[source, age_bin, "female"] == pytest.approx(totals[source, age_bin, "male"])
    # each age bin keeps its share of its source (8 and 4 of FairFace's 12 photos)
    assert totals["fairface", "60-69", "male"] == pytest.approx(2 * totals["fairface", "10-19", "male"])
    # a source weighs as the square root of its size: LFW 36 photos, FairFace 12
    lfw = totals["lfw-deepfunneled", "", "male"] * 2
    fairface = sum(v for k, v in totals.items() if k[0] == "fairface")
    assert lfw / fairface == pytest.approx(np.sqrt(36 / 12))
    assert weights.mean() == pytest.approx(1.0)


def test_an_age_factor_draws_that_bin_more_often_and_keeps_it_balanced():
    def photo(age_bin, gender):
        return data.Sample(f"fairface/{age_bin}/{gender}", "fairface", gender, age_bin=age_bin)

    samples = ([photo("60-69", "male")] * 6 + [photo("60-69", "female")] * 2
               + [photo("30-39", "female")] * 3 + [photo("30-39", "male")] * 5)
    def totals(weights):
        summed: dict[tuple, float] = {}
        for s, weight in zip(samples, weights):
            summed[s.age_bin, s.gender] = summed.get((s.age_bin, s.gender), 0) + weight
        return summed

    plain, weighted = totals(data.balancing_weights(samples)), totals(data.balancing_weights(samples, {"60-69": 3.0}))
    assert weighted["60-69", "male"] == pytest.approx(weighted["60-69", "female"])
    assert plain["60-69", "male"] / plain["30-39", "male"] == pytest.approx(1.0)
    assert weighted["60-69", "male"] / weighted["30-39", "male"] == pytest.approx(3.0)


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
