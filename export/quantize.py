"""An int8 copy of an exported gender model (onnxruntime static quantisation, QDQ, per channel),
written only if it is faster and keeps validation accuracy and balanced accuracy within 0.2 points
of the original.

    python -m export.quantize --data ../shared/data function/models/gender-mobilenet-v2.onnx \
        --out function/models/gender-mobilenet-v2-int8.onnx

Activation ranges are calibrated on faces from the training split, cut by the serving code.
The convolutions that quantisation hurts most stay in float: a sweep quantises all but one
convolution at a time and measures how far its logits stray from the float model's on other
training faces. Accuracy is compared on the validation faces of export.evaluate, latency as
there (batch 1, 1 thread), both models measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from export.data import FaceCrops, detect_all, load_samples, split, training_boxes
from export.evaluate import DEFAULT_CACHE, latency_ms, metrics_by_source, predict
from function.inference import CHILD_OUTPUT, INFO_KEY, GenderClassifier
from function.preprocess import to_input

MAX_ACCURACY_DROP = 0.2  # points of validation accuracy and of balanced accuracy
MAX_LATENCY_RATIO = 0.9  # int8 / float latency: "measurably faster"


class Calibration(CalibrationDataReader):
    """Face crops one at a time, as onnxruntime's calibrator asks for them."""

    def __init__(self, faces: np.ndarray, input_name: str):
        self.faces, self.input_name, self.index = faces, input_name, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.faces):
            return None
        self.index += 1
        return {self.input_name: self.faces[self.index - 1 : self.index]}


def end_layers(path: Path) -> list[str]:
    """The node reading the image and the node writing the logits. Left in float: quantising
    them flipped more validation predictions (0.98% against 0.74%) and saved no time."""
    graph = onnx.load(str(path)).graph
    first = next(node.name for node in graph.node if graph.input[0].name in node.input)
    last = next(node.name for node in graph.node if graph.output[0].name in node.output)
    return [first, last]


def quantize(prepared: Path, out: Path, calibration: np.ndarray, keep_float: list[str]) -> None:
    """Quantise a model already run through quant_pre_process; end_layers() and keep_float stay float."""
    input_name = onnx.load(str(prepared)).graph.input[0].name
    quantize_static(str(prepared), str(out), Calibration(calibration, input_name), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=end_layers(prepared) + keep_float)


def logit_margins(path: Path, faces: np.ndarray) -> np.ndarray:
    """Last minus first logit per face: what decides a two-class prediction."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.concatenate([session.run(None, {name: faces[i : i + 100]})[0] for i in range(0, len(faces), 100)])
    return logits[:, -1] - logits[:, 0]


def margin_error(quantized: Path, reference: np.ndarray, probe: np.ndarray) -> float:
    """Root mean square difference from the float model's logit margins (reference) on the probe faces."""
    return float(np.sqrt(np.mean((logit_margins(quantized, probe) - reference) ** 2)))


def sensitivity(prepared: Path, calibration: np.ndarray, probe: np.ndarray, reference: np.ndarray) -> list[tuple[float, str]]:
    """(margin_error, convolution) for every convolution with all convolutions but that one
    quantised, smallest error first; the first entry is (error, "") with all of them quantised."""
    kept = end_layers(prepared)
    candidates = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv" and n.name not in kept]
    errors = []
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / "trial.onnx"
        for name in ["", *candidates]:
            quantize(prepared, trial, calibration, [name] if name else [])
            errors.append((margin_error(trial, reference, probe), name))
    return errors[:1] + sorted(errors[1:])


def set_metadata(path: Path, values: dict[str, str]) -> None:
    proto = onnx.load(str(path))
    entries = {entry.key: entry for entry in proto.metadata_props}
    for key, value in values.items():
        entry = entries.get(key) or proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def without_child_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph without export.age_signal's child head (CHILD_OUTPUT): every node and weight
    that only fed that output is dropped. The int8 copy gets its own head, fitted on its features."""
    graph = model.graph
    for output in [o for o in graph.output if o.name == CHILD_OUTPUT]:
        graph.output.remove(output)
    needed = {o.name for o in graph.output}
    for node in reversed(list(graph.node)):
        if needed.intersection(node.output):
            needed.update(node.input)
        else:
            graph.node.remove(node)
    for weight in [w for w in graph.initializer if w.name not in needed]:
        graph.initializer.remove(weight)
    return model


def face_inputs(crops: FaceCrops) -> np.ndarray:
    return to_input([crops.crop(i) for i in range(len(crops))], crops.spec)


def validation_metrics(classifier: GenderClassifier, crops: FaceCrops) -> dict:
    predicted = predict(classifier, crops).argmax(axis=1)
    return metrics_by_source(np.array(crops.targets), predicted, [s.source for s in crops.samples], classifier.spec.labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an ONNX file written by export.onnx")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--calibration-faces", type=int, default=400)
    parser.add_argument("--max-latency-ratio", type=float, default=MAX_LATENCY_RATIO,
                        help="int8 / float time per face at most this (measured here, so a busy machine skews it)")
    parser.add_argument("--probe-faces", type=int, default=1000, help="training faces (not calibration ones) for the sweep")
    parser.add_argument("--float-layers", type=int, default=2, help="how many of the most sensitive convolutions stay float")
    args = parser.parse_args(argv)

    original = GenderClassifier(args.model)
    spec, labels = original.spec, original.spec.labels
    samples = load_samples(args.data)
    boxes, detected = training_boxes(samples, detect_all(args.data, samples, args.cache))
    training, validation = ([s for s in part if detected[s.path]] for part in split(samples))
    shuffled = random.Random(0).sample(training, len(training))
    calibration = face_inputs(FaceCrops(args.data, shuffled[: args.calibration_faces], boxes, spec, labels))
    with tempfile.TemporaryDirectory() as scratch:
        source, prepared = Path(scratch) / "source.onnx", Path(scratch) / "prepared.onnx"
        onnx.save(without_child_head(onnx.load(str(args.model))), str(source))
        quant_pre_process(str(source), str(prepared))
        keep_float = []
        if args.float_layers:
            probe = FaceCrops(args.data, shuffled[args.calibration_faces :][: args.probe_faces], boxes, spec, labels)
            if not len(probe):
                parser.error("no training faces left for the sweep: lower --calibration-faces or set --float-layers 0")
            probe_faces = face_inputs(probe)
            reference = logit_margins(prepared, probe_faces)
            (all_int8, _), *ranked = sensitivity(prepared, calibration, probe_faces, reference)
            keep_float = [name for _, name in ranked[: args.float_layers]]
            print(f"logit-margin error on {len(probe)} training faces: {all_int8:.3f} with every convolution int8; "
                  "with one left float, least first:\n" +
                  "\n".join(f"  {error:.3f} {name}" for error, name in ranked[: 2 * args.float_layers + 3]))
        quantize(prepared, args.out, calibration, keep_float)
        if keep_float:
            error = margin_error(args.out, reference, probe_faces)
            print(f"logit-margin error with the {len(keep_float)} most sensitive left float: {error:.3f}")
        float_nodes = end_layers(prepared) + keep_float

    source_metadata = original.session.get_modelmeta().custom_metadata_map
    set_metadata(args.out, source_metadata)  # the spec and info travel with the file
    crops = FaceCrops(args.data, validation, boxes, spec, labels)
    before, after = validation_metrics(original, crops), validation_metrics(GenderClassifier(args.out), crops)
    info = json.loads(source_metadata[INFO_KEY])
    info.pop("child_flag", None)
    info.update(name=f"{info['name']}-int8", metrics={**info.get("metrics", {}), "validation": after},
                quantization=f"int8 static QDQ per channel, calibrated on {len(calibration)} training faces, "
                             f"from {args.model.name}; float: {', '.join(float_nodes)}")
    set_metadata(args.out, {INFO_KEY: json.dumps(info, sort_keys=True)})

    float_ms, int8_ms = latency_ms([original, GenderClassifier(args.out)])
    drop = max(before["all"][key] - after["all"][key] for key in ("accuracy", "balanced_accuracy"))
    print(f"validation accuracy {before['all']['accuracy']} -> {after['all']['accuracy']}, balanced "
          f"{before['all']['balanced_accuracy']} -> {after['all']['balanced_accuracy']} ({len(crops)} faces); "
          f"{float_ms} -> {int8_ms} ms per face on 1 thread ({int8_ms / float_ms:.2f}x); "
          f"{args.model.stat().st_size / 1e6:.1f} -> {args.out.stat().st_size / 1e6:.1f} MB")
    if drop > MAX_ACCURACY_DROP or int8_ms > args.max_latency_ratio * float_ms:
        args.out.unlink()
        print(f"REJECTED: needs drops in accuracy and balanced accuracy <= {MAX_ACCURACY_DROP} points and <= {args.max_latency_ratio}x "
              "the latency; nothing written", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
