"""The ONNX export: graph contract, metadata, and parity with PyTorch on real face crops."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import FACE_PHOTOS, SEED_CHECKPOINT, needs_shared_data
from export.onnx import PARITY_TOLERANCE, export_with_parity, face_batch, main, parity_error
from export.seed_model import SEED_SPEC, SeedMobileNet
from function.inference import GenderClassifier
from function.settings import DEFAULT_MODEL_PATH


def random_seed_model(seed: int) -> SeedMobileNet:
    torch.manual_seed(seed)
    model = SeedMobileNet()
    for module in model.modules():  # non-trivial batch-norm statistics, as in a trained model
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    model = random_seed_model(0)
    error = export_with_parity(model, SEED_SPEC, {"name": "test", "version": "0"}, out, FACE_PHOTOS)
    return model, out, error


def test_graph_contract(exported):
    _, path, error = exported
    proto = onnx.load(str(path))
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert error <= PARITY_TOLERANCE


def test_metadata_travels_with_the_model(exported):
    _, path, _ = exported
    classifier = GenderClassifier(path)
    assert classifier.spec == SEED_SPEC
    assert classifier.info["name"] == "test"


def test_dynamic_batch_matches_one_by_one(exported):
    _, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = face_batch(FACE_PHOTOS, SEED_SPEC)
    together = session.run(None, {"input": batch})[0]
    alone = np.concatenate([session.run(None, {"input": batch[i : i + 1]})[0] for i in range(len(batch))])
    assert together.shape == (len(FACE_PHOTOS), 2)
    assert np.max(np.abs(together - alone)) <= 1e-4


def test_parity_check_fails_for_a_different_model(exported):
    _, path, _ = exported
    assert parity_error(random_seed_model(1), path, face_batch(FACE_PHOTOS[:2], SEED_SPEC)) > PARITY_TOLERANCE


def test_export_exits_non_zero_when_parity_fails(tmp_path, monkeypatch):
    import export.onnx as export_onnx

    monkeypatch.setattr(export_onnx, "parity_error", lambda *_: 1.0)
    with pytest.raises(SystemExit) as failure:
        export_with_parity(random_seed_model(0), SEED_SPEC, {"name": "t", "version": "0"}, tmp_path / "m.onnx", FACE_PHOTOS)
    assert failure.value.code == 1


@needs_shared_data
def test_seed_checkpoint_export_command(tmp_path):
    out = tmp_path / "seed.onnx"
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"note": "test"}))
    main(["--seed", str(SEED_CHECKPOINT), "--out", str(out), "--metrics", str(metrics)])
    info = GenderClassifier(out).info
    assert info["name"] == "seed-mobilenet-small" and info["metrics"] == {"note": "test"}
    assert info["source_checkpoint_sha256"].startswith("0ef101e3")


@needs_shared_data
def test_committed_seed_model_is_that_checkpoint():
    from export.seed_model import load_seed

    path = DEFAULT_MODEL_PATH.parent / "seed-mobilenet-small.onnx"
    assert parity_error(load_seed(SEED_CHECKPOINT), path, face_batch(FACE_PHOTOS, SEED_SPEC)) <= PARITY_TOLERANCE
