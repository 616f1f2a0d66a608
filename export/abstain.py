"""The confidence below which the service calls a face "uncertain", chosen on validation and
written into the model file next to its temperature.

    python -m export.abstain --data ../shared/data function/models/gender-mobilenet-v2-int8.onnx

The rule, declared before it was first run (2026-12-04): the lowest threshold on a 0.005 grid
at which the faces answered among all validation faces aged 10 and over (the four sources
pooled, faces as the serving detector finds them, probabilities as the service computes them)
are at least 99% right. Children are never chosen on. Writes model_info["min_confidence"] and
model_info["abstention"] (answered share and accuracy per source at that threshold) into the
ONNX file in place; the external sets are never read here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from export.data import CHILD_BINS, FaceCrops
from export.evaluate import DEFAULT_CACHE, predict, validation_faces
from export.quantize import set_metadata
from function.inference import INFO_KEY, GenderClassifier

REQUIRED_ACCURACY = 99.0
GRID = np.round(np.arange(0.5, 1.0, 0.005), 3)


def answered(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    """Share of faces answered at this threshold and the accuracy of those answers, in percent."""
    kept = confidence >= threshold
    return {"n": int(len(kept)), "answered": round(100 * float(kept.mean()), 2),
            "accuracy": round(100 * float(correct[kept].mean()), 2) if kept.any() else float("nan")}


def lowest_threshold(confidence: np.ndarray, correct: np.ndarray, required: float = REQUIRED_ACCURACY) -> float:
    """The lowest grid threshold whose answered faces are at least `required` percent right."""
    for threshold in GRID:
        kept = confidence >= threshold
        if kept.any() and 100 * correct[kept].mean() >= required:
            return float(threshold)
    return float(GRID[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an ONNX file written by export.onnx or export.quantize")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)

    classifier = GenderClassifier(args.model)
    samples, boxes = validation_faces(args.data, args.cache)
    crops = FaceCrops(args.data, samples, boxes, classifier.spec, classifier.spec.labels)
    probabilities = predict(classifier, crops)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.array(crops.targets)
    adult = np.array([s.age_bin not in CHILD_BINS for s in samples])
    threshold = lowest_threshold(confidence[adult], correct[adult])

    origin = np.array([s.origin.name for s in samples])
    groups = {"all 10+": adult, **{f"{name} 10+": adult & (origin == name) for name in sorted(set(origin))},
              "children 0-9": ~adult}
    report = {name: answered(confidence[mask], correct[mask], threshold) for name, mask in groups.items() if mask.any()}
    info = json.loads(classifier.session.get_modelmeta().custom_metadata_map[INFO_KEY])
    info.update(min_confidence=threshold, abstention={"rule": f"lowest threshold with >= {REQUIRED_ACCURACY}% of the answered "
                                                               "validation faces aged 10+ right", "validation": report})
    set_metadata(args.model, {INFO_KEY: json.dumps(info, sort_keys=True)})
    print(f"min_confidence {threshold} written into {args.model}")
    for name, row in report.items():
        print(f"  {name}: {row['n']} faces, {row['answered']}% answered, {row['accuracy']}% of those right")


if __name__ == "__main__":
    main()
