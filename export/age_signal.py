"""Measures whether a cheap signal of age could let the service abstain on children (issue 32):
a logistic regression on the gender model's own pooled features (the 1,280 numbers its last
layer reads, so no second network runs), fitted on the training photos that carry an age to
tell 0-9 from 10+, scored on the validation faces.

    python -m export.age_signal --data ../shared/data function/models/gender-mobilenet-v2-int8.onnx

Prints, per cut on p(child): the share of validation children flagged and of adults flagged
(per source), and what the service would answer if a flagged face were also called uncertain:
share answered and accuracy (against the audited labels) at the model's min_confidence.
Nothing is written: this is a measurement, not a served feature.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from export.data import CHILD_BINS, FaceCrops, audited_genders, detect_all, load_samples, split, training_boxes
from export.evaluate import DEFAULT_CACHE
from export.teacher import fit_logistic
from function.inference import GenderClassifier
from function.preprocess import to_input

POOLED = "/Flatten_output_0"  # the pooled features export.onnx's graph feeds its classifier
CUTS = (0.5, 0.7, 0.8, 0.9)


def pooled_features(model: Path, crops: FaceCrops, batch_size: int = 128) -> np.ndarray:
    graph = onnx.load(str(model))
    graph.graph.output.append(onnx.helper.make_tensor_value_info(POOLED, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out = []
    for start in range(0, len(crops), batch_size):
        batch = to_input([crops.crop(i) for i in range(start, min(start + batch_size, len(crops)))], crops.spec)
        out.append(session.run([POOLED], {name: batch})[0])
    return np.concatenate(out).astype(np.float64)


def child_probability(train_features: np.ndarray, is_child: np.ndarray, features: np.ndarray) -> np.ndarray:
    """p(aged 0-9) from a regression fitted with children and everyone else weighing the same."""
    weights = np.where(is_child, 0.5 / is_child.mean(), 0.5 / (1 - is_child.mean()))
    return fit_logistic(train_features, is_child.astype(float), weights)(features)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)

    classifier = GenderClassifier(args.model)
    samples = load_samples(args.data)
    boxes, detected = training_boxes(samples, detect_all(args.data, samples, args.cache))
    train, validation = split(samples)
    train = [s for s in train if s.age_bin]  # LFW gives no ages
    validation = [s for s in validation if detected[s.path]]
    labels = classifier.spec.labels
    train_crops, crops = (FaceCrops(args.data, group, boxes, classifier.spec, labels) for group in (train, validation))
    p_child = child_probability(pooled_features(args.model, train_crops),
                                np.array([s.age_bin in CHILD_BINS for s in train]), pooled_features(args.model, crops))

    probabilities = np.concatenate([classifier.probabilities(to_input([crops.crop(i) for i in range(start, min(start + 128, len(crops)))],
                                                                      classifier.spec)) for start in range(0, len(crops), 128)])
    fixed = audited_genders()
    correct = probabilities.argmax(1) == np.array([labels.index(fixed.get(s.path, s.gender)) for s in validation])
    answered = probabilities.max(1) >= float(classifier.info.get("min_confidence", 0.5))
    child = np.array([s.age_bin in CHILD_BINS for s in validation])
    origin = np.array([s.origin.name for s in validation])
    groups = {"children 0-9": child, "adults 10+": ~child,
              **{f"{name} 10+": ~child & (origin == name) for name in sorted(set(origin))}}
    print(f"{len(train)} training photos with an age ({int(sum(s.age_bin in CHILD_BINS for s in train))} children), "
          f"{len(validation)} validation faces; answered = confidence >= {classifier.info.get('min_confidence', 0.5)}")
    print("| p(child) cut | " + " | ".join(f"{g}: flagged, answered → right" for g in groups) + " |")
    print("|" + " --- |" * (1 + len(groups)))
    for cut in (1.01, *CUTS):
        flagged = p_child >= cut
        kept = answered & ~flagged
        cells = [f"{100 * flagged[m].mean():.1f}%, {100 * kept[m].mean():.1f}% → {100 * correct[kept & m].mean():.2f}"
                 for m in groups.values()]
        print(f"| {'none' if cut > 1 else cut} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
