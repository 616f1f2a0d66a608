"""Validation metrics of ONNX gender models (ours and the seed's) on the same validation photos.

    python -m export.evaluate --data ../shared/data \
        function/models/gender-mobilenet-v2.onnx function/models/gender-mobilenet-v2-lfw.onnx \
        function/models/seed-mobilenet-small.onnx

Photos are the validation split of export.data, faces as the serving detector found them
(cached boxes; photos where it found none are left out, as the service would report no face),
crops and probabilities exactly as the service makes them (function.preprocess, function.inference).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from export.data import CHILD_BINS, FaceCrops, Sample, detect_all, load_samples, split, training_boxes
from function.inference import GenderClassifier
from function.preprocess import to_input

DEFAULT_CACHE = Path("runs/cache/boxes.json")
AGE_BANDS = ((0, 12), (13, 19), (20, 39), (40, 59), (60, 200))
RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}


def metrics(targets: np.ndarray, predicted: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    """Accuracy, balanced accuracy and per-class recall, in percent."""
    result = {"n": int(len(targets)), "accuracy": round(100 * float(np.mean(targets == predicted)), 2)}
    recalls = []
    for index, label in enumerate(labels):
        mask = targets == index
        if mask.any():
            recalls.append(100 * float(np.mean(predicted[mask] == index)))
            result[f"{label}_recall"] = round(recalls[-1], 2)
    result["balanced_accuracy"] = round(float(np.mean(recalls)), 2)
    return result


def metrics_by_source(targets: np.ndarray, predicted: np.ndarray, sources: list[str], labels: tuple[str, ...]) -> dict:
    """metrics() over all rows and per data source: the layout stored in a model's info."""
    result = {"all": metrics(targets, predicted, labels)}
    for source in sorted(set(sources)):
        mask = np.array([s == source for s in sources])
        result[source] = metrics(targets[mask], predicted[mask], labels)
    return result


def selection_score(report: dict) -> float:
    """The one figure that picks epochs and candidates, declared before the 2026-12-04 run: the
    mean over sources (LFW's two versions pooled) of each source's balanced accuracy on its
    validation faces aged 10 and over (children are reported apart, never chosen on)."""
    return round(float(np.mean([v["balanced_accuracy"] for k, v in report.items() if k.startswith("10+ ")])), 2)


def validation_report(targets: np.ndarray, predicted: np.ndarray, samples: list[Sample], labels: tuple[str, ...]) -> dict:
    """metrics_by_source(), each source's faces aged 10+, children apart, and the selection score."""
    result = metrics_by_source(targets, predicted, [s.source for s in samples], labels)
    adult = np.array([s.age_bin not in CHILD_BINS for s in samples])
    origin = np.array([s.origin.name for s in samples])
    for name in sorted(set(origin)):
        result[f"10+ {name}"] = metrics(targets[adult & (origin == name)], predicted[adult & (origin == name)], labels)
    if (~adult).any():
        result["children 0-9"] = metrics(targets[~adult], predicted[~adult], labels)
    result["selection_score"] = selection_score(result)
    return result


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence over equal-width bins, in percent."""
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    correct = predicted == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            error += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return round(100 * float(error), 2)


def groups(samples: list[Sample]) -> dict[str, np.ndarray]:
    """Row masks: all, each data source, UTKFace per race and per age band."""
    source = np.array([s.source for s in samples])
    utk = source == "utkface"
    age = np.array([s.age for s in samples])
    race = np.array([s.race for s in samples])
    result = {"all": np.ones(len(samples), bool)}
    result.update({name: source == name for name in sorted(set(source))})
    result["utkface 13+"] = utk & (age >= 13)
    result.update({f"utkface race {name}": utk & (race == code) for code, name in RACES.items()})
    result.update({f"utkface age {low}-{high if high < 200 else ''}": utk & (age >= low) & (age <= high) for low, high in AGE_BANDS})
    return result


def predict(classifier: GenderClassifier, crops: FaceCrops, batch_size: int = 64) -> np.ndarray:
    """Calibrated probabilities, in the model's label order, as the service computes them."""
    out = []
    for start in range(0, len(crops), batch_size):
        batch = to_input([crops.crop(i) for i in range(start, min(start + batch_size, len(crops)))], classifier.spec)
        out.append(classifier.probabilities(batch))
    return np.concatenate(out)


def latency_ms(classifiers: list[GenderClassifier], repeats: int = 200) -> list[float]:
    """Per classifier, the median time of classifying one face (batch of 1) with its thread
    setting; the classifiers take turns, so a busy machine slows them alike."""
    batches = [np.zeros((1, 3, c.spec.input_size, c.spec.input_size), np.float32) for c in classifiers]
    times: list[list[float]] = [[] for _ in classifiers]
    for repeat in range(20 + repeats):  # the first 20 warm up
        for classifier, batch, own in zip(classifiers, batches, times):
            start = time.perf_counter()
            classifier.logits(batch)
            if repeat >= 20:
                own.append(time.perf_counter() - start)
    return [round(1000 * float(np.median(own)), 2) for own in times]


def validation_faces(data: Path, cache: Path) -> tuple[list[Sample], dict]:
    """Validation photos in which the serving detector found a face, and their boxes."""
    samples = load_samples(data)
    boxes, detected = training_boxes(samples, detect_all(data, samples, cache))
    _, validation = split(samples)
    return [s for s in validation if detected[s.path]], boxes


def table(rows: dict[str, dict[str, dict]], keys: tuple[str, ...]) -> str:
    """Markdown: one row per group, one column block per model."""
    models = list(rows)
    header = "| group | n | " + " | ".join(f"{m} {k}" for m in models for k in keys) + " |"
    lines = [header, "|" + " --- |" * (2 + len(models) * len(keys))]
    for group in rows[models[0]]:
        cells = [f"{rows[m][group].get(k, float('nan')):.2f}" for m in models for k in keys]
        lines.append(f"| {group} | {rows[models[0]][group]['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+", help="ONNX files written by export.onnx")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)

    samples, boxes = validation_faces(args.data, args.cache)
    masks = groups(samples)
    classifiers = [GenderClassifier(path) for path in args.models]
    rows, extra = {}, []
    for path, classifier, ms in zip(args.models, classifiers, latency_ms(classifiers)):
        labels = classifier.spec.labels
        crops = FaceCrops(args.data, samples, boxes, classifier.spec, labels)
        probabilities = predict(classifier, crops)
        targets, predicted = np.array(crops.targets), probabilities.argmax(axis=1)
        name = classifier.info["name"] if classifier.info["name"] not in rows else path.name  # two runs of one recipe
        rows[name] = {g: metrics(targets[m], predicted[m], labels) for g, m in masks.items() if m.any()}
        extra.append(f"{name}: selection score {validation_report(targets, predicted, samples, labels)['selection_score']}, ECE {expected_calibration_error(probabilities, targets)}% "
                     f"(temperature {classifier.temperature}), {ms} ms per face on 1 thread, "
                     f"input {classifier.spec.input_size}px margin {classifier.spec.margin}")
    print(f"validation faces found by the serving detector: {len(samples)}\n")
    print(table(rows, ("accuracy", "balanced_accuracy")) + "\n")
    print(table(rows, ("female_recall", "male_recall")) + "\n")
    print("\n".join(extra))


if __name__ == "__main__":
    main()
