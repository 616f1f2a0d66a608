"""Detection modes against HOG (issue 31): faces found, gender accuracy on the faces found, time
per photo as a ratio to HOG, and boxes on photos without a face, in one run on one thread.

    taskset -c 1 nice -n 10 python -m bench.detectors --set fairface --set pixabay --set group --set face-free \
        [--face-free-dir DIR] [--limit N]
    taskset -c 1 nice -n 10 python -m bench.detectors --latency [--limit N]

Each photo is scanned once by each part a mode is made of, and each mode's result and time
are put together from those parts (a mode runs its parts one after the other):
- hog: the service's HOG at upsample 1, max_side 1600 (today's default);
- cnn: dlib's CNN on a CNN_SIDE copy (function.faces.cnn_detections), boxes mapped to HOG's
  geometry; "raw" keeps the CNN's own boxes for the gender check;
- rot: HOG on copies turned by +-ROTATION degrees, each face's centre turned back.
Modes: (a) hog + cnn merged (overlapping boxes kept once, HOG's first); (b) auto: cnn only
when hog finds nothing (function.faces, the shipped mode); (c) hog + rot merged, and rot only
when hog finds nothing.

Sets: ../shared/data/external FairFace (540; 10+ apart) and Pixabay on a grey border as the
yardstick gives them (measuring only: nothing is fitted or chosen on them), the labelled face
the found box nearest the centre; the group scenes of bench/scenes.py (recall at IoU 0.5);
face-free photos (tests/fixtures/no_face.jpg, generated ones, and the images of
--face-free-dir, e.g. scikit-image's data folder without its three photos of people).

--latency: the whole request (FaceGenderPipeline.analyze, one detection thread) with hog and
with auto, alternately on the same bytes: external photos (480 px with their border), the
bench's 1200x900 single-face and 4032x3024 phone scenes, and 4032x3024 photos of no face (the
worst case: auto's CNN always runs); medians and the ratio of medians.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import random
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from bench.scenes import background, benchmark_scenes, matched
from export.data import CHILD_BINS, TIGHT_CROP_PAD, bordered, face_box, open_rgb
from export.shared_data import SHARED_DATA
from function.boxes import IDENTITY, Box, map_box, merge_duplicates
from function.detectors import detect_faces
from function.faces import CNN_SIDE, CNN_TO_HOG, cnn_detections
from function.inference import GenderClassifier
from function.preprocess import preprocess

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "function" / "models" / "gender-mobilenet-v2-int8.onnx"
ROTATION = 15
WITH_ROTATIONS = True  # --no-rotations: skip the rot part (its modes then read as hog)
CNN_ALWAYS = True  # --fallback-only: the CNN only where HOG finds nothing, as auto runs it (modes a and "found by both" then lack it)
MODES = ("hog", "a: hog+cnn", "b: auto", "c: hog+rot", "c: rot if none")


@dataclasses.dataclass
class Photo:
    name: str
    image: Image.Image
    gender: str = ""
    group: str = ""
    truth: list[Box] = dataclasses.field(default_factory=list)  # scenes only


def external(name: str, limit: int | None) -> list[Photo]:
    folder = SHARED_DATA / "external" / name
    with open(folder / "labels.csv") as f:
        rows = list(csv.DictReader(f))[:limit]
    return [Photo(row["path"], bordered(open_rgb(folder / row["path"]))[0], row["gender"],
                  "child" if row.get("age") in CHILD_BINS else "10+") for row in rows]


def face_free(extra: Path | None, seed: int = 0) -> list[Photo]:
    """No face in any: the test fixture, generated textures, shapes and text (seed 0 for
    measuring), and extra photos whole, mirrored and cut in quarters."""
    rng = random.Random(seed)
    photos = [Photo("fixture no_face.jpg", open_rgb(ROOT / "tests" / "fixtures" / "no_face.jpg"))]
    for i in range(12):
        size = rng.choice([(320, 320), (640, 480), (1024, 768)])
        photos.append(Photo(f"noise {i}", background(size, rng)))
        canvas = background(size, rng)
        draw = ImageDraw.Draw(canvas)
        for _ in range(12):
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            r = rng.randint(10, size[0] // 4)
            colour = tuple(rng.randrange(256) for _ in range(3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r // 2), fill=colour)
        draw.text((10, 10), "no face here " * 3, fill=(0, 0, 0))
        photos.append(Photo(f"shapes {i}", canvas.filter(ImageFilter.GaussianBlur(rng.choice([0, 1, 2])))))
    for path in sorted(extra.glob("*")) if extra else []:
        try:
            image = open_rgb(path)
        except OSError:
            continue
        w, h = image.size
        photos += [Photo(path.name, image), Photo(path.name + " mirrored", ImageOps.mirror(image))]
        photos += [Photo(f"{path.name} quarter {q}", image.crop((x, y, x + w // 2, y + h // 2)))
                   for q, (x, y) in enumerate([(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2)])]
    return photos


def rotated_hog(image: Image.Image) -> list[Box]:
    """HOG on the image turned by +-ROTATION degrees; each box is moved back to the upright
    image by its centre, its size kept."""
    found = []
    cx, cy = image.width / 2, image.height / 2
    for angle in (ROTATION, -ROTATION):
        turned = image.rotate(angle, Image.BILINEAR, expand=False, fillcolor=(128, 128, 128))
        for box in detect_faces(turned, "hog", 1, 1600, 1):
            x, y = (box.left + box.right) / 2 - cx, (box.top + box.bottom) / 2 - cy
            a = math.radians(angle)  # PIL turns counter-clockwise on screen: turn the centre back
            ox, oy = cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)
            found.append(Box(round(ox - box.width / 2), round(oy - box.height / 2), round(ox + box.width / 2), round(oy + box.height / 2)))
    return merge_duplicates(found)


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def scan(photo: Photo) -> dict:
    """Every part's boxes and seconds for one photo."""
    hog, t_hog = timed(detect_faces, photo.image, "hog", 1, 1600, 1)
    raw, t_cnn = timed(cnn_detections, photo.image, IDENTITY) if CNN_ALWAYS or not hog else ([], 0.0)
    size = photo.image.size
    cnn = [b for b in (map_box(d.box, CNN_TO_HOG).clipped(*size) for d in raw) if b.area > 0]
    rot, t_rot = timed(rotated_hog, photo.image) if WITH_ROTATIONS else ([], 0.0)
    parts = {"hog": hog, "cnn": cnn, "raw": [d.box for d in raw], "rot": rot, "confidence": [d.score for d in raw]}
    modes = {
        "hog": (hog, t_hog),
        "a: hog+cnn": (merge_duplicates(hog + cnn), t_hog + t_cnn),
        "b: auto": (hog or cnn, t_hog + (0 if hog else t_cnn)),
        "c: hog+rot": (merge_duplicates(hog + rot), t_hog + t_rot),
        "c: rot if none": (hog or rot, t_hog + (0 if hog else t_rot)),
    }
    return {"parts": parts, "modes": modes}


def labelled(boxes: list[Box], size: tuple[int, int]) -> Box | None:
    return face_box([[b.left, b.top, b.right, b.bottom] for b in boxes], size)


def gender(classifier: GenderClassifier, image: Image.Image, box: Box) -> str:
    probabilities = classifier.probabilities(preprocess(image, [box], classifier.spec))[0]
    return classifier.spec.labels[int(np.argmax(probabilities))]


def ratio_cells(times: dict[str, list[float]], mode: str) -> str:
    base, mine = times["hog"], times[mode]
    return (f"{1000 * statistics.mean(mine):.0f} / {1000 * statistics.median(mine):.0f} / "
            f"{1000 * np.percentile(mine, 95):.0f} | {sum(mine) / sum(base):.2f}x | "
            f"{statistics.median(mine) / statistics.median(base):.2f}x")


def report_external(name: str, photos: list[Photo], classifier: GenderClassifier) -> None:
    results = [scan(p) for p in photos]
    times = table(f"{name}: {len(photos)} photos", ["faces found, all", "found, 10+", "extra boxes", "gender accuracy on found", "on found, 10+"], results)
    for mode in MODES:
        found = correct = found_adult = correct_adult = extra = 0
        for photo, r in zip(photos, results):
            boxes = r["modes"][mode][0]
            box = labelled(boxes, photo.image.size)
            if box is None:
                continue
            found += 1
            found_adult += photo.group == "10+"
            extra += len(boxes) - 1
            right = gender(classifier, photo.image, box) == photo.gender
            correct += right
            correct_adult += right and photo.group == "10+"
        adults = sum(p.group == "10+" for p in photos)
        print(f"| {mode} | {found}/{len(photos)} ({found / len(photos):.1%}) | {found_adult}/{adults} ({found_adult / max(1, adults):.1%}) "
              f"| {extra} | {correct}/{found} ({correct / max(1, found):.1%}) "
              f"| {correct_adult}/{found_adult} ({correct_adult / max(1, found_adult):.1%}) | {ratio_cells(times, mode)} |")
    # The crop question: the same faces, boxed by HOG, by the CNN as it draws them and mapped.
    both = [(p, r) for p, r in zip(photos, results) if r["parts"]["hog"] and r["parts"]["cnn"]]
    only_cnn = [(p, r) for p, r in zip(photos, results) if not r["parts"]["hog"] and r["parts"]["cnn"]]
    print(f"\nGender accuracy by box, {name}:\n")
    print("| faces | n | HOG box | CNN box mapped (served) | CNN box raw |")
    print("| --- | --- | --- | --- | --- |")
    for label, items in (("found by both", both), ("found only by the CNN (auto's gain)", only_cnn)):
        cells = []
        for part in ("hog", "cnn", "raw"):
            answers = [gender(classifier, p.image, b) == p.gender for p, r in items
                       if (b := labelled(r["parts"][part], p.image.size)) is not None]
            cells.append(f"{sum(answers)}/{len(answers)} ({sum(answers) / max(1, len(answers)):.1%})" if answers else "-")
        print(f"| {label} | {len(items)} | " + " | ".join(cells) + " |")


def table(heading: str, columns: list[str], results: list[dict]) -> dict[str, list[float]]:
    """Prints a table's heading and header; returns each mode's seconds per photo."""
    columns = ["mode", *columns, "ms per photo mean / p50 / p95", "time, sum vs hog", "median vs hog"]
    print(f"\n### {heading}\n\n| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns))
    return {m: [r["modes"][m][1] for r in results] for m in MODES}


def report_scenes(photos: list[Photo]) -> None:
    results = [scan(p) for p in photos]
    times = table(f"group scenes: {len(photos)} photos, {sum(len(p.truth) for p in photos)} faces",
                  ["recall (IoU >= 0.5)", "extra boxes"], results)
    for mode in MODES:
        hits = sum(matched(p.truth, r["modes"][mode][0]) for p, r in zip(photos, results))
        boxes = sum(len(r["modes"][mode][0]) for r in results)
        total = sum(len(p.truth) for p in photos)
        print(f"| {mode} | {hits}/{total} ({hits / total:.1%}) | {boxes - hits} | {ratio_cells(times, mode)} |")


def report_face_free(photos: list[Photo]) -> None:
    results = [scan(p) for p in photos]
    times = table(f"face-free photos: {len(photos)}", ["photos with a box", "boxes"], results)
    for mode in MODES:
        counts = [len(r["modes"][mode][0]) for r in results]
        print(f"| {mode} | {sum(c > 0 for c in counts)} | {sum(counts)} | {ratio_cells(times, mode)} |")
    for photo, r in zip(photos, results):
        if any(r["parts"][k] for k in ("hog", "raw", "rot")):
            print(f"  boxes on {photo.name}: " + ", ".join(f"{k} {len(r['parts'][k])}" for k in ("hog", "raw", "rot"))
                  + f"; CNN confidence {', '.join(f'{c:.2f}' for c in r['parts']['confidence'])}")


def latency(limit: int) -> None:
    from function.pipeline import FaceGenderPipeline
    from function.settings import Settings

    pipeline = FaceGenderPipeline(dataclasses.replace(Settings.from_env(), detect_threads=1))
    pipeline.warm_up()
    pipeline.analyze(_jpeg(Image.new("RGB", (300, 300), (90, 90, 90))), "auto", 1, 1600)  # loads the CNN
    sets = {
        "fairface 480 px": [_jpeg(p.image) for p in external("fairface", limit)],
        "pixabay ~480 px": [_jpeg(p.image) for p in external("pixabay", limit)],
        "single 1200x900": [s.jpeg() for s, _ in benchmark_scenes({"single"})],
        "phone 4032x3024": [s.jpeg() for s, _ in benchmark_scenes({"phone"})],
        "phone 4032x3024, no face": [_jpeg(background((4032, 3024), random.Random(i))) for i in range(3)],
    }
    print("\n| photos | n | hog total ms p50 | auto total ms p50 | median auto / hog | mean auto / hog | photos auto ran the CNN on |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, items in sets.items():
        totals: dict[str, list[float]] = {"hog": [], "auto": []}
        fallbacks = 0
        for data in items:
            for detector in ("hog", "auto"):
                analysis = pipeline.analyze(data, detector, 1, 1600)
                totals[detector].append(analysis.timings_ms["total"])
                if detector == "hog":
                    fallbacks += not analysis.faces
        hog, auto = totals["hog"], totals["auto"]
        print(f"| {name} | {len(items)} | {statistics.median(hog):.0f} | {statistics.median(auto):.0f} | "
              f"{statistics.median(auto) / statistics.median(hog):.2f}x | {statistics.mean(auto) / statistics.mean(hog):.2f}x | {fallbacks} |", flush=True)


def _jpeg(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", choices=["fairface", "pixabay", "group", "face-free"], default=[])
    parser.add_argument("--face-free-dir", type=Path, help="extra photos with no face in them")
    parser.add_argument("--limit", type=int, help="first N photos of each external set")
    parser.add_argument("--latency", action="store_true", help="whole requests, hog against auto")
    parser.add_argument("--no-rotations", action="store_true", help="skip HOG on turned copies (mode c)")
    parser.add_argument("--fallback-only", action="store_true", help="the CNN only where HOG finds nothing (auto's work)")
    args = parser.parse_args()
    global WITH_ROTATIONS, CNN_ALWAYS
    WITH_ROTATIONS, CNN_ALWAYS = not args.no_rotations, not args.fallback_only
    if args.latency:
        latency(args.limit)
        return
    detect_faces(Image.new("RGB", (64, 64)), "hog", 0, 64, 1)  # builds the detectors outside the timings
    cnn_detections(Image.new("RGB", (64, 64)))
    classifier = GenderClassifier(MODEL)
    print(f"CNN_SIDE {CNN_SIDE}; rotations +-{ROTATION} degrees; border {TIGHT_CROP_PAD} on external photos")
    for name in args.set:
        if name in ("fairface", "pixabay"):
            report_external(name, external(name, args.limit), classifier)
        elif name == "group":
            report_scenes([Photo(f"{s.name} {i}", s.image, truth=s.faces) for i, (s, _) in enumerate(benchmark_scenes({"group"}))])
        else:
            report_face_free(face_free(args.face_free_dir))


if __name__ == "__main__":
    main()
