"""A cheap signal of age that lets the service abstain on children (issue 32): a logistic
regression on the gender model's own pooled features (the 1,280 numbers its last layer reads,
so no second network runs), fitted on the training photos that carry an age to tell 0-9 from
10+, scored on the validation faces.

    python -m export.age_signal --data ../shared/data function/models/gender-mobilenet-v2-int8.onnx
    python -m export.age_signal --data ../shared/data --write function/models/gender-mobilenet-v2-int8.onnx

Prints, per cut on p(child): the share of validation children flagged and of adults flagged
(per source), and what the service answers if a flagged face is also uncertain: share answered
and accuracy (against the audited labels) at the model's min_confidence.

With --write, the regression becomes a second output of the file's graph, CHILD_OUTPUT, and
model_info["child_flag"] holds the cut, chosen by the rule declared in EXPERIMENTS.md before it
was first run: the lowest cut on CUT_GRID at which flagging costs at most MAX_ADULT_COST points
of the adult validation faces (10+, sources pooled) answered at the model's min_confidence.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from export.data import CHILD_BINS, FaceCrops, audited_genders, detect_all, load_samples, split, training_boxes
from export.evaluate import DEFAULT_CACHE, predict
from export.quantize import set_metadata, without_child_head
from export.teacher import Logistic, fit_logistic
from function.inference import CHILD_OUTPUT, INFO_KEY, GenderClassifier
from function.preprocess import to_input
from function.settings import ALWAYS_ANSWER

POOLED = "/Flatten_output_0"  # the pooled features export.onnx's graph feeds its classifier
HEAD = ("child_head.weight", "child_head.bias", "child_head.logit")
CUT_GRID = np.round(np.arange(0.5, 0.951, 0.05), 2)
MAX_ADULT_COST = 1.0  # points of the adult validation faces answered


def pooled_features(model: Path, crops: FaceCrops, batch_size: int = 128) -> np.ndarray:
    graph = onnx.load(str(model))
    graph.graph.output.append(helper.make_tensor_value_info(POOLED, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out = []
    for start in range(0, len(crops), batch_size):
        batch = to_input([crops.crop(i) for i in range(start, min(start + batch_size, len(crops)))], crops.spec)
        out.append(session.run([POOLED], {name: batch})[0])
    return np.concatenate(out).astype(np.float64)


def fit_child_probe(train_features: np.ndarray, is_child: np.ndarray) -> Logistic:
    """p(aged 0-9) from a regression fitted with children and everyone else weighing the same."""
    weights = np.where(is_child, 0.5 / is_child.mean(), 0.5 / (1 - is_child.mean()))
    return fit_logistic(train_features, is_child.astype(float), weights)


def lowest_cut(p_child: np.ndarray, answered: np.ndarray, max_cost: float = MAX_ADULT_COST) -> float | None:
    """The lowest grid cut at which flagging p_child >= cut takes at most max_cost points off
    the share of these (adult) faces answered; None if no cut on the grid does."""
    for cut in CUT_GRID:
        if 100 * (answered.mean() - (answered & (p_child < cut)).mean()) <= max_cost:
            return float(cut)
    return None


def with_child_output(model: onnx.ModelProto, probe: Logistic) -> onnx.ModelProto:
    """The graph with CHILD_OUTPUT, p(child) of shape (N, 1), computed from the pooled features;
    a head written before is replaced."""
    graph = without_child_head(model).graph
    weight, bias, logit = HEAD
    graph.initializer.extend([numpy_helper.from_array(probe.weights.astype(np.float32).reshape(-1, 1), weight),
                              numpy_helper.from_array(np.array([probe.bias], np.float32), bias)])
    graph.node.extend([helper.make_node("Gemm", [POOLED, weight, bias], [logit], name="child_head/Gemm"),
                       helper.make_node("Sigmoid", [logit], [CHILD_OUTPUT], name="child_head/Sigmoid")])
    graph.output.append(helper.make_tensor_value_info(CHILD_OUTPUT, onnx.TensorProto.FLOAT, ["batch", 1]))
    onnx.checker.check_model(model)
    return model


def flag_table(p_child: np.ndarray, answered: np.ndarray, correct: np.ndarray, groups: dict[str, np.ndarray]) -> dict:
    """Per cut (and none), per group: share flagged, share answered with flagged faces uncertain,
    accuracy of those answers; printed as a markdown table and returned."""
    print("| p(child) cut | " + " | ".join(f"{g}: flagged, answered → right" for g in groups) + " |")
    print("|" + " --- |" * (1 + len(groups)))
    report = {}
    for cut in (1.01, *CUT_GRID):
        flagged = p_child >= cut
        kept = answered & ~flagged
        name = "none" if cut > 1 else f"{cut:.2f}"
        report[name] = {g: {"flagged": round(100 * float(flagged[m].mean()), 2), "answered": round(100 * float(kept[m].mean()), 2),
                            "accuracy": round(100 * float(correct[kept & m].mean()), 2)} for g, m in groups.items()}
        print(f"| {name} | " + " | ".join(f"{r['flagged']:.1f}%, {r['answered']:.1f}% → {r['accuracy']:.2f}"
                                         for r in report[name].values()) + " |")
    return report


def write_child_flag(path: Path, probe: Logistic, flag: dict) -> None:
    """The probe into the file's graph (with_child_output) and `flag` into model_info["child_flag"]."""
    model = with_child_output(onnx.load(str(path)), probe)
    info = json.loads({p.key: p.value for p in model.metadata_props}[INFO_KEY])
    info["child_flag"] = flag
    onnx.save(model, str(path))
    set_metadata(path, {INFO_KEY: json.dumps(info, sort_keys=True)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--write", action="store_true", help="add the flag to the model file (output and cut)")
    args = parser.parse_args(argv)

    classifier = GenderClassifier(args.model)
    samples = load_samples(args.data)
    boxes, detected = training_boxes(samples, detect_all(args.data, samples, args.cache))
    train, validation = split(samples)
    train = [s for s in train if s.age_bin]  # LFW gives no ages
    validation = [s for s in validation if detected[s.path]]
    labels = classifier.spec.labels
    train_crops, crops = (FaceCrops(args.data, group, boxes, classifier.spec, labels) for group in (train, validation))
    probe = fit_child_probe(pooled_features(args.model, train_crops), np.array([s.age_bin in CHILD_BINS for s in train]))
    p_child = probe(pooled_features(args.model, crops))

    probabilities = predict(classifier, crops)
    fixed = audited_genders()
    correct = probabilities.argmax(1) == np.array([labels.index(fixed.get(s.path, s.gender)) for s in validation])
    min_confidence = float(classifier.info.get("min_confidence", ALWAYS_ANSWER))
    answered = probabilities.max(1) >= min_confidence
    child = np.array([s.age_bin in CHILD_BINS for s in validation])
    origin = np.array([s.origin.name for s in validation])
    groups = {"children 0-9": child, "adults 10+": ~child,
              **{f"{name} 10+": ~child & (origin == name) for name in sorted(set(origin))}}
    print(f"{len(train)} training photos with an age ({int(sum(s.age_bin in CHILD_BINS for s in train))} children), "
          f"{len(validation)} validation faces; answered = confidence >= {min_confidence}")
    report = flag_table(p_child, answered, correct, groups)
    if args.write:
        cut = lowest_cut(p_child[~child], answered[~child])
        if cut is None:
            raise SystemExit(f"no cut costs at most {MAX_ADULT_COST} point of the adults answered: no flag written")
        write_child_flag(args.model, probe, {
            "output": CHILD_OUTPUT, "cut": cut,
            "rule": f"lowest cut costing at most {MAX_ADULT_COST} point of the adult validation faces answered at "
                    f"min_confidence {min_confidence}",
            "validation": {"none": report["none"], "at the cut": report[f"{cut:.2f}"]}})
        print(f"child flag (cut {cut}) written into {args.model}")


if __name__ == "__main__":
    main()
