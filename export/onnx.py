"""Export a gender model to ONNX with its preprocessing metadata, and prove parity.

    python -m export.onnx --seed ../shared/data/seed-model/CE_Simple_checkpoint_state_mobilenetsmall_color.pt \
        --out function/models/seed-mobilenet-small.onnx
    python -m export.onnx --checkpoint runs/default/best.pt --out function/models/gender-mobilenet-v2.onnx

Parity: the exported model and the PyTorch model must give the same logits (max abs
difference <= 1e-4) on real face crops made by the serving code; otherwise exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image

from function.detectors import REFERENCE_DETECTOR, reference_boxes
from function.inference import INFO_KEY, SPEC_KEY
from function.preprocess import ModelSpec, preprocess

OPSET = 17
PARITY_TOLERANCE = 1e-4
DEFAULT_PARITY_IMAGES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faces"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def face_batch(image_paths: list[Path], spec: ModelSpec) -> np.ndarray:
    """Real face crops, found and cut by the serving code."""
    crops = []
    for path in image_paths:
        image = Image.open(path).convert("RGB")
        boxes = reference_boxes(image)
        if boxes:
            crops.append(preprocess(image, boxes, spec))
    if not crops:
        raise SystemExit(f"no face found in the parity images {image_paths}")
    return np.concatenate(crops)


def export_onnx(model: torch.nn.Module, spec: ModelSpec, info: dict, out: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 3, spec.input_size, spec.input_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(out))
    for key, value in ((SPEC_KEY, spec.to_json()), (INFO_KEY, json.dumps(info, sort_keys=True))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def parity_error(model: torch.nn.Module, onnx_path: Path, batch: np.ndarray) -> float:
    """Max |logit(torch) - logit(onnxruntime)| over the batch, run as one batch."""
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: batch})[0]
    return float(np.max(np.abs(expected - actual)))


def export_with_parity(
    model: torch.nn.Module, spec: ModelSpec, info: dict, out: Path, parity_images: list[Path]
) -> float:
    export_onnx(model, spec, info, out)
    error = parity_error(model, out, face_batch(parity_images, spec))
    print(f"exported {out} ({out.stat().st_size / 1e6:.2f} MB); parity max |diff| = {error:.2e}")
    if not error <= PARITY_TOLERANCE:
        print(f"PARITY FAILED: {error:.2e} > {PARITY_TOLERANCE:.0e}", file=sys.stderr)
        raise SystemExit(1)
    return error


def load_trained(checkpoint: Path) -> tuple[torch.nn.Module, ModelSpec, dict]:
    """The model, spec and info of a checkpoint written by export.train."""
    from export.mobilenet_v2 import gender_mobilenet_v2

    saved = torch.load(checkpoint, map_location="cpu")
    spec = ModelSpec.from_json(saved["spec"])
    model = gender_mobilenet_v2(len(spec.labels), pretrained=False)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), spec, saved["info"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=Path, help="the seed demo's state_dict (.pt)")
    source.add_argument("--checkpoint", type=Path, help="a checkpoint written by export.train (best.pt)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--metrics", type=Path, help="JSON of validation metrics to store with the model")
    parser.add_argument("--parity-images", type=Path, default=DEFAULT_PARITY_IMAGES)
    args = parser.parse_args(argv)
    images = sorted(args.parity_images.glob("*.jpg"))
    if args.checkpoint:
        model, spec, info = load_trained(args.checkpoint)
        # the detector whose boxes it learned on: every other detector's boxes are mapped to its geometry
        info.update(version=args.version, source_checkpoint_sha256=sha256_of(args.checkpoint),
                    reference_detector=REFERENCE_DETECTOR.metadata())
        export_with_parity(model, spec, info, args.out, images)
        return

    from export.seed_model import SEED_SPEC, load_seed

    info = {
        "name": "seed-mobilenet-small",
        "version": args.version,
        "architecture": "MobileNetV2-small (seed demo), 80x80 input",
        "source_checkpoint_sha256": sha256_of(args.seed),
        "trained_on": "LFW (the seed demo's unknown split)",
    }
    if args.metrics:
        info["metrics"] = json.loads(args.metrics.read_text())
    export_with_parity(load_seed(args.seed), SEED_SPEC, info, args.out, images)


if __name__ == "__main__":
    main()
