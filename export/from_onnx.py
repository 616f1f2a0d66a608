"""Back from an exported model of ours to a trainable checkpoint, so a committed ONNX file can
start a training run (export.train --init model.onnx) when its best.pt is gone.

The export folded each batch norm into its convolution (weights W, bias b). Loaded back with
the batch norm as the identity, the model's eval-mode outputs are exact. Each batch norm then
gets the channel mean m and variance v its convolution produces on real faces, with weight
sqrt(v + eps) and bias b + m: eval-mode outputs stay exactly the same, and in training mode the
batch statistics start near where the folded model was.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from export.mobilenet_v2 import gender_mobilenet_v2
from export.onnx import PARITY_TOLERANCE
from function.inference import INFO_KEY, SPEC_KEY


def conv_batchnorm_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each convolution with the batch norm that follows it, in the order they run."""
    modules = list(model.modules())
    pairs = [(a, b) for a, b in zip(modules, modules[1:]) if isinstance(a, nn.Conv2d)]
    if not all(isinstance(b, nn.BatchNorm2d) for _, b in pairs):
        raise ValueError("a convolution without a batch norm after it")
    return pairs


def checkpoint_from_onnx(path: Path, faces: np.ndarray) -> dict:
    """{state_dict, spec, info} as export.train writes, from an ONNX file of export.onnx;
    faces: a batch of model input (NCHW) to measure the channel statistics on."""
    model_proto = onnx.load(str(path))
    weights = {i.name: numpy_helper.to_array(i) for i in model_proto.graph.initializer}
    folded = [(weights[n.input[1]], weights[n.input[2]]) for n in model_proto.graph.node if n.op_type == "Conv"]
    model = gender_mobilenet_v2(2, pretrained=False).eval()
    pairs = conv_batchnorm_pairs(model)
    if len(pairs) != len(folded):
        raise ValueError(f"{path}: {len(folded)} convolutions, the model has {len(pairs)}")
    statistics = {}

    def measure(conv: nn.Module, _, out: torch.Tensor) -> None:
        statistics[conv] = (out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False))

    with torch.no_grad():
        for (conv, norm), (w, b) in zip(pairs, folded):
            conv.weight.copy_(torch.tensor(w))
            norm.running_mean.zero_()
            norm.running_var.fill_(1 - norm.eps)
            norm.weight.fill_(1)
            norm.bias.copy_(torch.tensor(b))
        head = model.classifier[1]
        head.weight.copy_(torch.tensor(weights["classifier.1.weight"]))
        head.bias.copy_(torch.tensor(weights["classifier.1.bias"]))
        hooks = [conv.register_forward_hook(measure) for conv, _ in pairs]
        logits = model(torch.from_numpy(faces))
        for hook in hooks:
            hook.remove()
        for (conv, norm), (_, b) in zip(pairs, folded):
            mean, var = statistics[conv]
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.weight.copy_((var + norm.eps).sqrt())
            norm.bias.copy_(torch.tensor(b) + mean)
        unfolded = model(torch.from_numpy(faces))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: faces})[0]
    difference = max(np.abs(logits.numpy() - reference).max(), np.abs(unfolded.numpy() - reference).max())
    if difference > PARITY_TOLERANCE:
        raise ValueError(f"{path}: the unfolded model's logits differ from onnxruntime's by {difference:.2g}")
    metadata = session.get_modelmeta().custom_metadata_map
    return {"state_dict": model.state_dict(), "spec": metadata[SPEC_KEY], "info": json.loads(metadata[INFO_KEY])}
