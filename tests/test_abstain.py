"""Choosing the confidence below which a face is called uncertain."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="export tools (scripts/setup.sh dev)")

from export import abstain  # noqa: E402


def test_the_lowest_threshold_whose_answers_are_right_often_enough():
    # 100 faces: the 10 least confident are all wrong, the rest right but one at 0.8
    confidence = np.linspace(0.5, 1.0, 100)
    correct = np.ones(100, bool)
    correct[:10] = False
    correct[60] = False
    threshold = abstain.lowest_threshold(confidence, correct, required=98.0)
    kept = confidence >= threshold
    assert 100 * correct[kept].mean() >= 98.0
    lower = abstain.GRID[abstain.GRID < threshold].max()
    assert 100 * correct[confidence >= lower].mean() < 98.0, "a lower threshold already met the requirement"


def test_a_model_right_everywhere_answers_everything():
    assert abstain.lowest_threshold(np.full(5, 0.6), np.ones(5, bool)) == 0.5
    assert abstain.answered(np.array([0.6, 0.9]), np.array([False, True]), 0.5) == {"n": 2, "answered": 100.0, "accuracy": 50.0}
    assert abstain.answered(np.array([0.6, 0.9]), np.array([False, True]), 0.7) == {"n": 2, "answered": 50.0, "accuracy": 100.0}
