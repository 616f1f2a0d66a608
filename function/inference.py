"""The gender classifier: one onnxruntime session per process, metadata read from the model file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from function.preprocess import ModelSpec

SPEC_KEY = "preprocessing"
INFO_KEY = "model_info"
CHILD_OUTPUT = "child_probability"  # written by export.age_signal; its cut is model_info["child_flag"]["cut"]
# The label order export.train gives every model; a file states its own (spec.labels), and the
# served files' are these (tests/test_committed_models.py).
LABELS = ("female", "male")


class GenderClassifier:
    def __init__(self, path: Path, threads: int = 1):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        metadata = self.session.get_modelmeta().custom_metadata_map
        if SPEC_KEY not in metadata or INFO_KEY not in metadata:
            raise ValueError(f"{path} lacks the '{SPEC_KEY}'/'{INFO_KEY}' metadata written by export.onnx")
        self.spec = ModelSpec.from_json(metadata[SPEC_KEY])
        self.info = json.loads(metadata[INFO_KEY])
        self.info["onnx_sha256"] = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.temperature = float(self.info.get("temperature", 1.0))
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        flag = self.info.get("child_flag")
        self.child_cut: float | None = float(flag["cut"]) if flag and CHILD_OUTPUT in outputs else None
        self.outputs = [outputs[0], CHILD_OUTPUT] if self.child_cut is not None else [outputs[0]]

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(self.outputs[:1], {self.input_name: batch})[0]

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, shape (N, len(labels)), in the spec's label order."""
        return self._calibrated(self.logits(batch))

    def classify(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """probabilities(), and for each face whether it likely shows a child (all False for a
        model file without the child flag), from one run of the graph."""
        results = self.session.run(self.outputs, {self.input_name: batch})
        likely_child = results[1][:, 0] >= self.child_cut if self.child_cut is not None else np.zeros(len(batch), bool)
        return self._calibrated(results[0]), likely_child

    def _calibrated(self, logits: np.ndarray) -> np.ndarray:
        scaled = logits.astype(np.float64) / self.temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        exp = np.exp(scaled)
        return exp / exp.sum(axis=1, keepdims=True)
