"""The confidence below which the service calls a face "uncertain", chosen on validation and
written into the model file next to its temperature.

    python -m export.abstain --data ../shared/data function/models/gender-mobilenet-v2-int8.onnx

The rule (second version, declared 2026-12-04 late in EXPERIMENTS.md before it was first run):
the lowest threshold on a 0.005 grid at which, in EACH source (LFW, UTKFace, FairFace,
All-Age-Faces), the answered validation faces aged 10 and over are at least 99% right, scored
against the audited labels (export/label-audit.csv: published labels a blind look found wrong).
Faces as the serving detector finds them, probabilities as the service computes them. The first
version pooled the sources, which let LFW's many easy faces carry FairFace's hard ones. Children
are never chosen on. Writes model_info["min_confidence"] and model_info["abstention"] (answered
share and accuracy per source at that threshold, against audited and published labels) into
the ONNX file in place; the external sets are never read here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from export.data import CHILD_BINS, FaceCrops, audited_genders
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


def lowest_threshold(confidence: np.ndarray, correct: np.ndarray, sources: np.ndarray,
                     required: float = REQUIRED_ACCURACY) -> float:
    """The lowest grid threshold at which every source's answered faces are at least `required` percent right."""
    for threshold in GRID:
        kept = confidence >= threshold
        if all(kept[sources == name].any() and 100 * correct[kept & (sources == name)].mean() >= required
               for name in np.unique(sources)):
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
    chosen = probabilities.argmax(axis=1)
    fixed = audited_genders()
    labels = classifier.spec.labels
    audited = np.array([labels.index(fixed.get(s.path, s.gender)) for s in samples])
    correct = chosen == audited
    adult = np.array([s.age_bin not in CHILD_BINS for s in samples])
    origin = np.array([s.origin.name for s in samples])
    threshold = lowest_threshold(confidence[adult], correct[adult], origin[adult])

    groups = {"all 10+": adult, **{f"{name} 10+": adult & (origin == name) for name in sorted(set(origin))},
              "children 0-9": ~adult}
    published = chosen == np.array(crops.targets)
    report = {name: {**answered(confidence[mask], correct[mask], threshold),
                     "accuracy_published_labels": answered(confidence[mask], published[mask], threshold)["accuracy"]}
              for name, mask in groups.items() if mask.any()}
    info = json.loads(classifier.session.get_modelmeta().custom_metadata_map[INFO_KEY])
    info.update(min_confidence=threshold,
                abstention={"rule": f"lowest threshold with >= {REQUIRED_ACCURACY}% of the answered validation faces "
                                    "aged 10+ right in each source, against the audited labels", "validation": report})
    set_metadata(args.model, {INFO_KEY: json.dumps(info, sort_keys=True)})
    print(f"min_confidence {threshold} written into {args.model}")
    for name, row in report.items():
        print(f"  {name}: {row['n']} faces, {row['answered']}% answered, {row['accuracy']}% of those right "
              f"({row['accuracy_published_labels']}% against the published labels)")


if __name__ == "__main__":
    main()
