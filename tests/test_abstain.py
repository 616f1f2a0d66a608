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
    threshold = abstain.lowest_threshold(confidence, correct, np.zeros(100), required=98.0)
    kept = confidence >= threshold
    assert 100 * correct[kept].mean() >= 98.0
    lower = abstain.GRID[abstain.GRID < threshold].max()
    assert 100 * correct[confidence >= lower].mean() < 98.0, "a lower threshold already met the requirement"


def test_a_model_right_everywhere_answers_everything():
    assert abstain.lowest_threshold(np.full(5, 0.6), np.ones(5, bool), np.zeros(5)) == 0.5
    assert abstain.answered(np.array([0.6, 0.9]), np.array([False, True]), 0.5) == {"n": 2, "answered": 100.0, "accuracy": 50.0}
    assert abstain.answered(np.array([0.6, 0.9]), np.array([False, True]), 0.7) == {"n": 2, "answered": 50.0, "accuracy": 100.0}


def test_every_source_must_be_right_often_enough_not_just_the_pool():
    # a large easy source, always right, and a small hard one whose answers below 0.9 are all wrong
    confidence = np.concatenate([np.full(900, 0.95), np.linspace(0.5, 1.0, 100)])
    correct = np.concatenate([np.ones(900, bool), np.linspace(0.5, 1.0, 100) >= 0.9])
    sources = np.array(["easy"] * 900 + ["hard"] * 100)
    assert abstain.lowest_threshold(confidence, correct, np.zeros(1000)) < 0.87, "pooled, the easy source carries the hard one"
    threshold = abstain.lowest_threshold(confidence, correct, sources)
    assert 0.88 <= threshold <= 0.9
    assert correct[(sources == "hard") & (confidence >= threshold)].mean() >= 0.99


def test_the_child_signal_ranks_children_above_adults_on_features_that_tell_them_apart():
    from export.age_signal import fit_child_probe

    rng = np.random.default_rng(0)
    is_child = np.arange(400) < 40  # few children, as in training
    features = rng.normal(size=(400, 8)) + 2.0 * is_child[:, None] * np.eye(8)[0]
    fresh = np.vstack([rng.normal(size=(50, 8)) + 2.0 * np.eye(8)[0], rng.normal(size=(50, 8))])
    p_child = fit_child_probe(features, is_child)(fresh)
    assert p_child[:50].mean() > 0.7 > 0.3 > p_child[50:].mean()


def test_the_lowest_cut_flags_as_many_as_the_adults_cost_allows():
    from export.age_signal import lowest_cut

    p_child = np.linspace(0, 0.8, 1000)  # adults, all answered: 6% of them at 0.75 or more, one at 0.8
    answered = np.ones(1000, bool)
    assert lowest_cut(p_child, answered, max_cost=1.0) == 0.8
    assert lowest_cut(p_child, np.zeros(1000, bool)) == 0.5, "no adult answered, none to lose"
    assert lowest_cut(np.ones(1000), answered) is None, "every adult looks a child: no cut is cheap enough"


def test_the_child_output_in_the_graph_is_the_regression_on_the_pooled_features(tmp_path):
    import onnx
    import onnxruntime as ort

    from export.age_signal import POOLED, with_child_output
    from export.teacher import Logistic
    from function.inference import CHILD_OUTPUT
    from function.settings import DEFAULT_MODEL_PATH

    rng = np.random.default_rng(0)
    probe = Logistic(rng.normal(size=1280) / 30, 0.3)
    model = with_child_output(with_child_output(onnx.load(str(DEFAULT_MODEL_PATH)), probe), probe)  # twice: replaced
    model.graph.output.append(onnx.helper.make_tensor_value_info(POOLED, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    batch = rng.random((3, 3, 128, 128), dtype=np.float32)
    logits, child, pooled = session.run(["logits", CHILD_OUTPUT, POOLED], {session.get_inputs()[0].name: batch})
    assert [o.name for o in model.graph.output].count(CHILD_OUTPUT) == 1
    assert child.shape == (3, 1) and np.allclose(child[:, 0], probe(pooled.astype(np.float64)), atol=1e-5)
    assert logits.shape == (3, 2)
