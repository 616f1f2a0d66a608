"""The BlazeFace detector (function/blazeface.py) beside HOG, in the same run (issue 41): ratios
are the result on a loaded machine.

    nice -n 5 python -m bench.detectors_blazeface [--part speed|found|validation|scenes|close-up|fallback|api ...] [--face-free-dir DIR] [--limit N]

- speed: whole requests through the pipeline on one detection thread, upsample 1, max_side
  1600 (the service's defaults): the detect stage's ms for 480 px FairFace photos (bordered,
  as bench.detectors gives them), 12 MP phone photos with and without faces; hog, blazeface,
  auto (HOG, then BlazeFace on the whole image) and the face-free photos for auto.
- found: faces found on the external sets (the labelled face: the found box nearest the centre),
  gender accuracy with the served int8 model on the faces both find, HOG's box against
  BlazeFace's moved by the landmark map served before and the one served; each box's difference
  from HOG's in points with a 95% interval of BOOTSTRAPS resamples of the photos (the external
  sets name no person).
- validation: the same gender comparison on FairFace's validation photos (export.data.split,
  person-disjoint from the gender model's training; bordered), the first --limit of a seeded
  shuffle, for each candidate map (MAPS), the intervals resampling people (export.identities):
  where a box map may be chosen, as the external sets may not.
- scenes: recall on the benchmark scenes and boxes on the face-free photos.
- close-up: what the close-up check costs: BlazeFace's looks and blending alone against the
  same with the check (BlazeFace.faces), alternately, on the camera group frame (below) and the
  benchmark's 1200x900 single-face scenes, one thread.
- fallback: FairFace training photos HOG misses: faces the CNN finds there (auto's fallback)
  against BlazeFace's, and their time.
- api: a real uvicorn with FACES_DETECT_THREADS=1, the browser tests' group frame (five faces
  of 40-60 px in a 640x480 view) posted one at a time for --seconds: frames/s and faces found.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.detectors import MODEL, Photo, external, face_free, gender, labelled
from bench.scenes import background, benchmark_scenes, crowd, face_photos, matched
from bench.server import uvicorn_server
from export.data import bordered, identities, load_samples, open_rgb, photo_file, split
from export.shared_data import SHARED_DATA
from function.blazeface import blend
from function.boxes import Box, LandmarkMap
from function.detection import DetectOptions
from function.detectors import BLAZEFACE, detect_faces
from function.inference import GenderClassifier
from function.pipeline import FaceGenderPipeline
from function.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GROUP_WIDTHS = [40, 46, 52, 56, 60]  # tests/test_browser.py's group frame
GROUP_CENTRES = [(70, 140), (200, 330), (330, 150), (460, 320), (615, 230)]
BOOTSTRAPS = 2000
# The candidates for BLAZEFACE_TO_HOG (bench/RESULTS.md, "Gender on BlazeFace's boxes, with intervals"):
# the landmark map served before (fitted on 800 photos), the same with square boxes (HOG draws
# squares), and the landmark map refitted on more faces, none of a validation person, served since.
LANDMARK_MAP_BEFORE = LandmarkMap((
    (-0.029, 0.1327, -0.0234, 0.1434, -0.0341, 0.213, -0.0254, 0.1703, 0.0205, 0.0572, -0.0532, 0.0067, -0.0613),
    (-0.0903, -0.0725, 0.1776, 0.0663, 0.1389, 0.0004, 0.2142, 0.0021, 0.1186, -0.1016, 0.0891, 0.0989, 0.0508),
    (0.8805, -0.0241, -0.0726, -0.0044, -0.023, 0.0275, -0.1689, 0.0519, -0.041, -0.1349, 0.1244, 0.1224, 0.1428),
    (0.8652, -0.0327, -0.0919, 0.0018, -0.0488, 0.0246, -0.1729, 0.0464, -0.033, -0.1285, 0.0978, 0.1083, 0.1137),
))
MAPS = {
    "landmark map served before": LANDMARK_MAP_BEFORE,
    "served before, square": replace(LANDMARK_MAP_BEFORE, square=True),
    "refitted, 3000 photos (served)": BLAZEFACE.mapping,
}


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def speed(limit: int, free: list[Photo]) -> None:
    pipeline = FaceGenderPipeline(replace(Settings.from_env(), detect_threads=1))
    pipeline.warm_up()
    for detector in ("blazeface", "auto"):
        pipeline.analyze(jpeg(Image.new("RGB", (300, 300), (90, 90, 90))), detector, 1, 1600)  # loads its models
    sets = {
        "480 px upload (FairFace, bordered)": [jpeg(p.image) for p in external("fairface", limit)],
        "12 MP phone photo, 4 faces": [s.jpeg() for s, _ in benchmark_scenes({"phone"})],
        "12 MP phone photo, no face": [jpeg(background((4032, 3024), random.Random(i))) for i in range(3)],
        "face-free photos": [jpeg(p.image) for p in free],
    }
    detectors = ("hog", "blazeface", "auto")
    print("\n| photos | n | " + " | ".join(f"{d} detect ms p50 / mean" for d in detectors)
          + " | blazeface / hog (median, sum) | auto / hog (median, sum) |")
    print("|" + " --- |" * (4 + len(detectors)))
    for name, items in sets.items():
        ms: dict[str, list[float]] = {d: [] for d in detectors}
        for data in items:
            for detector in detectors:  # interleaved: a change of load falls on all three
                ms[detector].append(pipeline.analyze(data, detector, 1, 1600).timings_ms["detect"])
        cells = [f"{statistics.median(ms[d]):.1f} / {statistics.mean(ms[d]):.1f}" for d in detectors]
        ratios = [f"{statistics.median(ms[d]) / statistics.median(ms['hog']):.2f}x, {sum(ms[d]) / sum(ms['hog']):.2f}x"
                  for d in ("blazeface", "auto")]
        print(f"| {name} | {len(items)} | " + " | ".join(cells + ratios) + " |", flush=True)


def found(limit: int | None) -> None:
    sets = {f"external {name}": external(name, limit) for name in ("fairface", "pixabay")}
    gender_by_box(sets, {name: MAPS[name] for name in ("landmark map served before", "refitted, 3000 photos (served)")}, {})


def validation(limit: int) -> None:
    samples = split(load_samples(SHARED_DATA, ("fairface",)))[1]
    random.Random(7).shuffle(samples)
    photos = [Photo(s.path, bordered(open_rgb(photo_file(SHARED_DATA, s.path)))[0], s.gender) for s in samples[:limit]]
    gender_by_box({f"validation fairface ({len(photos)} of a seeded shuffle)": photos}, MAPS, identities("fairface"))


def gender_by_box(sets: dict[str, list[Photo]], maps: dict[str, LandmarkMap], people: dict[str, str]) -> None:
    """Gender accuracy on the faces HOG and BlazeFace both find, with HOG's box and BlazeFace's
    moved by each map; a photo's person is people[its name], or the photo itself."""
    classifier = GenderClassifier(MODEL)
    options = DetectOptions(upsample=1, max_side=1600)
    for name, photos in sets.items():
        right: dict[str, list[bool]] = {box: [] for box in ("HOG's box", *maps)}
        persons = []
        hog_found = blaze_found = 0
        for photo in photos:
            hog = labelled(detect_faces(photo.image, "hog", 1, 1600), photo.image.size)
            faces = BLAZEFACE.faces(photo.image, options)
            boxes = {box: labelled([mapping.box(f.points).clipped(*photo.image.size) for f in faces], photo.image.size)
                     for box, mapping in maps.items()}
            hog_found += hog is not None
            blaze_found += bool(faces)
            if hog is not None and faces:
                persons.append(people.get(photo.name, photo.name))
                for box, found_box in {"HOG's box": hog, **boxes}.items():
                    right[box].append(gender(classifier, photo.image, found_box) == photo.gender)
        n, both = len(photos), len(persons)
        print(f"\n{name}: {n} photos, HOG found {hog_found} ({hog_found / n:.1%}), BlazeFace {blaze_found} "
              f"({blaze_found / n:.1%}), both {both}; intervals: {BOOTSTRAPS} resamples of {len(set(persons))} "
              + ("people" if people else "photos") + "\n")
        print("| box | gender right on faces both find | points against HOG's box | 95% interval |")
        print("| --- | --- | --- | --- |")
        hog_right = np.array(right["HOG's box"], float)
        for box, answers in right.items():
            cells = ["-", "-"]
            if box != "HOG's box":
                difference = np.array(answers, float) - hog_right
                low, high = paired_interval(difference, persons)
                cells = [f"{100 * difference.mean():+.2f}", f"{100 * low:+.2f} to {100 * high:+.2f}"]
            print(f"| {box} | {sum(answers)}/{both} ({sum(answers) / both:.2%}) | " + " | ".join(cells) + " |", flush=True)


def paired_interval(difference: np.ndarray, persons: list[str]) -> tuple[float, float]:
    """The 95% percentile interval of the mean per-face difference, resampling persons (all of a
    person's faces together) BOOTSTRAPS times, seeded."""
    index = {person: i for i, person in enumerate(dict.fromkeys(persons))}
    of_person = np.array([index[p] for p in persons])
    sums, counts = np.bincount(of_person, weights=difference), np.bincount(of_person)
    draws = np.random.default_rng(41).integers(0, len(index), (BOOTSTRAPS, len(index)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def scenes_and_face_free(free: list[Photo]) -> None:
    print("\n| scenes | images | faces | HOG found (IoU >= 0.5) | BlazeFace found | HOG extra boxes | BlazeFace extra boxes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    scenes = benchmark_scenes()
    for category in dict.fromkeys(scene.name for scene, _ in scenes):
        chosen = [(s, u) for s, u in scenes if s.name == category]
        total = sum(len(s.faces) for s, _ in chosen)
        cells = []
        extra = []
        for detector in ("hog", "blazeface"):
            boxes = [detect_faces(s.image, detector, u, 1600) for s, u in chosen]
            hits = sum(matched(s.faces, b) for (s, _), b in zip(chosen, boxes))
            cells.append(f"{hits}")
            extra.append(f"{sum(map(len, boxes)) - hits}")
        print(f"| {category} (upsample {chosen[0][1]}) | {len(chosen)} | {total} | " + " | ".join(cells + extra) + " |", flush=True)
    counts = {d: [len(detect_faces(p.image, d, 1, 1600)) for p in free] for d in ("hog", "blazeface")}
    print(f"\nFace-free photos ({len(free)}), photos with a box: " + ", ".join(f"{d} {sum(c > 0 for c in counts[d])}" for d in counts))
    for photo, blaze in zip(free, counts["blazeface"]):
        if blaze:
            print(f"  blazeface boxes on {photo.name}: {blaze}")


def close_up_cost(rounds: int) -> None:
    scene = crowd("group", (640, 480), face_photos(sorted((ROOT / "tests" / "fixtures" / "faces").glob("*.jpg"))),
                  GROUP_WIDTHS, random.Random(14), GROUP_CENTRES)
    options = DetectOptions(upsample=1, max_side=1600)
    print("\n| image | n | looks and blend ms p50 | with the close-up check | ratio of medians | ratio of sums |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, images in (("camera group frame, 640x480, 5 faces of 40-60 px", [scene.image]),
                         ("single-face scenes, 1200x900", [s.image for s, _ in benchmark_scenes({"single"})])):
        BLAZEFACE.faces(images[0], options)
        alone, checked = [], []
        for image in images * max(1, rounds // len(images)):
            start = time.perf_counter()
            blend(BLAZEFACE.hits(image, options))
            alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            BLAZEFACE.faces(image, options)
            checked.append(time.perf_counter() - start)
        print(f"| {name} | {len(alone)} | {1000 * statistics.median(alone):.1f} | {1000 * statistics.median(checked):.1f} "
              f"| {statistics.median(checked) / statistics.median(alone):.2f}x | {sum(checked) / sum(alone):.2f}x |", flush=True)


def fallback(count: int) -> None:
    """Where auto's fallback runs: training photos HOG finds nothing on."""
    with open(SHARED_DATA / "fairface" / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    random.Random(5).shuffle(rows)
    images = [bordered(open_rgb(SHARED_DATA / "fairface" / row["path"]))[0] for row in rows[:count]]
    misses = [image for image in images if not detect_faces(image, "hog", 1, 1600)]
    seconds = {"cnn": 0.0, "blazeface": 0.0}
    found = {"cnn": 0, "blazeface": 0, "both": 0}
    for image in misses:
        start = time.perf_counter()
        cnn = detect_faces(image, "auto", 1, 1600)  # HOG finds none here: auto's answer is the CNN's
        seconds["cnn"] += time.perf_counter() - start
        start = time.perf_counter()
        blaze = detect_faces(image, "blazeface", 1, 1600)
        seconds["blazeface"] += time.perf_counter() - start
        found["cnn"] += bool(cnn)
        found["blazeface"] += bool(blaze)
        found["both"] += bool(cnn) and bool(blaze)
    print(f"\nFairFace training photos (first {count} of a seeded shuffle, bordered) HOG finds no face on: {len(misses)}")
    print(f"  found by auto (HOG, then the CNN): {found['cnn']}; by BlazeFace: {found['blazeface']}; by both: {found['both']}")
    print(f"  ms per photo: auto {1000 * seconds['cnn'] / len(misses):.0f} (HOG + CNN), BlazeFace {1000 * seconds['blazeface'] / len(misses):.0f}")


def api(seconds: float) -> None:
    photos = face_photos(sorted((ROOT / "tests" / "fixtures" / "faces").glob("*.jpg")))
    scene = crowd("group", (640, 480), photos, GROUP_WIDTHS, random.Random(14), GROUP_CENTRES)
    # (label, detector, upsample, width sent): the page's HOG setting enlarges the view 1.8x
    runs = [("hog, 1152 px frame, upsample 0 (the page's today)", "hog", 0, 1152),
            ("blazeface, 640 px frame, upsample 1", "blazeface", 1, 640),
            ("blazeface, 1152 px frame, upsample 0 (the page's frames)", "blazeface", 0, 1152)]
    print("\n| detector | frames | frames/s | frames with all 5 faces | server detect ms p50 | classify ms p50 | total ms p50 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with uvicorn_server(env={"FACES_DETECT_THREADS": "1"}) as (base, _), httpx.Client(timeout=30) as client:
        for label, detector, upsample, width in runs * 2:  # twice, alternating: a change of load shows in both
            factor = width / scene.image.width
            data = jpeg(scene.image.resize((width, round(scene.image.height * factor)), Image.BILINEAR), 85)
            url = f"{base}/v1/faces?detector={detector}&upsample={upsample}"
            client.post(url, content=data, headers={"content-type": "image/jpeg"})
            timings, complete, frames = [], 0, 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                body = client.post(url, content=data, headers={"content-type": "image/jpeg"}).json()
                boxes = [Box(f["box"]["x"], f["box"]["y"], f["box"]["x"] + f["box"]["width"], f["box"]["y"] + f["box"]["height"]).scaled(1 / factor)
                         for f in body["faces"]]
                complete += matched(scene.faces, boxes) == 5
                timings.append(body["timings_ms"])
                frames += 1
            rate = frames / (time.perf_counter() - start)
            p50 = {k: np.median([t[k] for t in timings]) for k in ("detect", "classify", "total")}
            print(f"| {label} | {frames} | {rate:.1f} | {complete}/{frames} | {p50['detect']:.1f} | {p50['classify']:.1f} | {p50['total']:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", action="append", choices=["speed", "found", "validation", "scenes", "close-up", "fallback", "api"], default=[])
    parser.add_argument("--face-free-dir", type=Path, help="extra photos with no face in them (bench.detectors)")
    parser.add_argument("--limit", type=int, help="first N photos of each external set")
    parser.add_argument("--training-photos", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    free = face_free(args.face_free_dir)
    detect_faces(Image.new("RGB", (64, 64)), "hog", 0, 64, 1)  # builds the detectors outside the timings
    detect_faces(Image.new("RGB", (64, 64)), "blazeface", 0, 64, 1)
    for part in args.part:
        if part == "speed":
            speed(args.limit or 100, free)
        elif part == "found":
            found(args.limit)
        elif part == "validation":
            validation(args.limit or 500)
        elif part == "scenes":
            scenes_and_face_free(free)
        elif part == "close-up":
            close_up_cost(args.limit or 40)
        elif part == "fallback":
            fallback(args.training_photos)
        else:
            api(args.seconds)


if __name__ == "__main__":
    main()
