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

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, shape (N, len(labels)), in the spec's label order."""
        scaled = self.logits(batch).astype(np.float64) / self.temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        exp = np.exp(scaled)
        return exp / exp.sum(axis=1, keepdims=True)
