"""Choose BlazeFace's score thresholds and tile size on training photos and frames made from
them (never on ../shared/data/external, which is for measuring only).

    python -m export.blazeface_choice [--frames 40] [--groups 16] [--photos 300] [--data ../shared/data]

Faces are looked for once per image at the lowest threshold; each row then keeps the
short-range model's faces (whole image) and the full-range model's (its levels) at its own
threshold. Per row: faces found in camera frames composed from LFW training photos (640x480,
five faces of 36-52 px, a webcam's view of a group two to three metres away, upsample 1),
boxes there on no face, faces found in 1600x1200 photos of six faces of 40-200 px and in group
scenes of 1600x900 with twelve faces of 40-220 px (as the benchmark's group scenes; upsample 1),
single faces found in FairFace training photos (on a grey border) and LFW (upsample 1),
generated face-free images with a box, and ms per image on one thread.

With --only-levels, one table: the served path at the served thresholds per tile min face (the
first level's tile puts a face of 40 px at this many px of the full-range model's input), and
HOG's counts on the same images for reference.

A second table, at the chosen tile size and a few pairs of thresholds, gives the same per
threshold of the close-up check (a face only tiles found is kept if the short-range model,
looking at a square of --close-up-span times its box around it, scores it at least that;
0 keeps every face), and per tile score from which a face skips the check (its cost: one more
look per face).

A third, the served path (BlazeFace.faces) at the served thresholds, gives the same per re-look:
a face the levels score from the row's score up to the tiles' threshold is looked at again
centred, in an input of the row's side, and kept if it scores the tiles' threshold there.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from dataclasses import replace
from pathlib import Path

from bench.detectors import face_free
from bench.scenes import crowd, lfw_face_photos, matched
from export.data import bordered, open_rgb
from export.shared_data import SHARED_DATA
from export.detector_boxes import training_photos
from function.blazeface import BlazeFace, Hit, blend, points_box
from function.boxes import Box, iou
from function.detection import DetectOptions, FaceDetector
from function.detectors import BLAZEFACE, REGISTRY

WHOLE_THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.75)
TILED_THRESHOLDS = (0.4, 0.5, 0.6, 0.7)
CLOSE_UP_PAIRS = ((0.65, 0.6), (0.65, 0.5))  # (whole, tiled): the thresholds chosen without the check, and one lower
CLOSE_UP_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)  # 0: no check
RELOOK_MIN_SCORES = (0.4, 0.3, 0.25, 0.2)
RELOOK_SIDES = (96, 128)
SURE_TILED_SCORES = (0.9, 0.85, 0.8, 0.75)  # a face tiles score this high skips the check (rows at the served close-up threshold)
LEVEL_MIN_FACES = (16, 18, 20, 24)
UPSAMPLE = 1
FACE_FREE_SEEDS = (1, 2, 3)  # not the measuring set's generated images (seed 0)
SETS = ("camera", "phone", "group")  # of composed images with true faces
CELLS = ("camera faces found | boxes on no face (camera / 1600 px / group) | 1600 px faces found | group faces found "
         "| single faces found | face-free images with a box")  # row_cells' columns


def frames(count: int, size: tuple[int, int], faces: int, widths: tuple[int, int], seed: int) -> list:
    photos = lfw_face_photos(60, random.Random(seed))
    rng = random.Random(f"{seed}-{size}-{faces}")
    return [crowd(f"frame {i}", size, photos, [rng.randint(*widths) for _ in range(faces)], rng) for i in range(count)]


def tagged_hits(detector: BlazeFace, image) -> list[Hit]:
    """Every look's faces at the lowest thresholds, as served (the image at its own size)."""
    return detector.hits(image, DetectOptions(UPSAMPLE, max(image.size)), min(TILED_THRESHOLDS))


def kept_faces(hits: list[Hit], whole_min: float, tiled_min: float) -> list[Hit]:
    return blend([hit for hit in hits if hit.score >= (whole_min if hit.whole else tiled_min)])


def kept_boxes(hits: list[Hit], whole_min: float, tiled_min: float) -> list[Box]:
    return [points_box(face.points) for face in kept_faces(hits, whole_min, tiled_min)]


def row_cells(sets: dict, boxes: dict[str, list[list[Box]]]) -> str:
    """The CELLS, for each image's boxes."""
    cells, spurious = [], []
    for name in SETS:
        faces = [scene.faces for scene in sets[name]]
        cells.append(f"{sum(matched(f, b, 0.4) for f, b in zip(faces, boxes[name]))}/{sum(map(len, faces))}")
        spurious.append(str(sum(all(iou(box, face) < 0.2 for face in f) for f, b in zip(faces, boxes[name]) for box in b)))
    single = sum(map(bool, boxes["single"]))
    boxed = sum(map(bool, boxes["free"]))
    return (f"{cells[0]} | {' / '.join(spurious)} | {cells[1]} | {cells[2]} | {single}/{len(boxes['single'])} "
            f"| {boxed}/{len(boxes['free'])}")


def close_up_table(detector: BlazeFace, images: dict[str, list], hits: dict[str, list[list[Hit]]], sets: dict, span: float) -> None:
    detector = replace(detector, close_up_span=span)
    print(f"\nThe close-up check, {span}x the box, tile min face {detector.tile_min_face} px:\n")
    print(f"| whole score | tiled score | close-up score | checked below tiled score | {CELLS} | close-up looks per image (camera / 1600 px) |")
    print("|" + " --- |" * 11)
    for whole_min, tiled_min in CLOSE_UP_PAIRS:
        faces = {name: [kept_faces(h, whole_min, tiled_min) for h in hits[name]] for name in hits}
        scores = {name: [[1.0 if face.whole else detector.close_up_score(image, face.points, min(CLOSE_UP_THRESHOLDS[1:])) for face in found]
                         for image, found in zip(images[name], faces[name])] for name in hits}
        rows = [(close_up_min, 1.01) for close_up_min in CLOSE_UP_THRESHOLDS] + [(BLAZEFACE.close_up_min_score, sure) for sure in SURE_TILED_SCORES]
        for close_up_min, sure in rows:
            boxes = {name: [[points_box(face.points) for face, score in zip(found, image_scores) if face.score >= sure or score >= close_up_min]
                            for found, image_scores in zip(faces[name], scores[name])] for name in hits}
            looks = [sum(not face.whole and face.score < sure for found in faces[name] for face in found) / len(faces[name])
                     for name in ("camera", "phone")]
            print(f"| {whole_min} | {tiled_min} | {close_up_min} | {'all' if sure > 1 else sure} | {row_cells(sets, boxes)} "
                  f"| {looks[0]:.1f} / {looks[1]:.1f} |", flush=True)


def served_table(title: str, columns: str, rows: list[tuple[str, FaceDetector]], images: dict[str, list], sets: dict) -> None:
    """Per row (its first cells, a detector), each image's faces found by the detector as served."""
    print(f"\n{title}:\n")
    print(f"| {columns} | {CELLS} | CPU ms camera / 1600 px / group |")
    print("|" + " --- |" * (columns.count("|") + 8))
    for label, detector in rows:
        found_boxes(detector, images["camera"][0])  # loads the models outside the timing
        boxes, ms = {}, {}
        for name in images:
            start = time.process_time()  # one thread: CPU time, steadier than the wall clock on a shared machine
            boxes[name] = [found_boxes(detector, image) for image in images[name]]
            ms[name] = 1000 * (time.process_time() - start) / len(images[name])
        print(f"| {label} | {row_cells(sets, boxes)} | {ms['camera']:.1f} / {ms['phone']:.0f} / {ms['group']:.0f} |", flush=True)


def found_boxes(detector: FaceDetector, image) -> list[Box]:
    """BlazeFace's own boxes (before the map to HOG's geometry), other detectors' boxes."""
    options = DetectOptions(UPSAMPLE, max(image.size))
    if isinstance(detector, BlazeFace):
        return [points_box(face.points) for face in detector.faces(image, options)]
    return [found.box for found in detector.detect(image, options)]


def relook_table(images: dict[str, list], sets: dict) -> None:
    rows = [(BLAZEFACE.tiled_min_score, None)] + list(itertools.product(RELOOK_MIN_SCORES, RELOOK_SIDES))
    served_table(
        f"The re-look, served path (whole {BLAZEFACE.whole_min_score}, tiles {BLAZEFACE.tiled_min_score}, close-up "
        f"{BLAZEFACE.close_up_min_score} below {BLAZEFACE.close_up_below})", "re-looked from score | re-look side",
        [(f"{'none' if side is None else relook_min} | {side or '-'}",
          replace(BLAZEFACE, relook_min_score=relook_min, relook_side=side or BLAZEFACE.relook_side)) for relook_min, side in rows],
        images, sets)


def levels_table(images: dict[str, list], sets: dict) -> None:
    served_table(
        "The levels' tile per tile min face, served path at the served thresholds; HOG for reference", "detector | tile min face (px of 192)",
        [("HOG (reference) | -", REGISTRY["hog"])] + [(f"BlazeFace | {min_face}", replace(BLAZEFACE, tile_min_face=min_face)) for min_face in LEVEL_MIN_FACES],
        images, sets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--tile-min-face", type=int, nargs="+", default=[16, 20])
    parser.add_argument("--close-up-span", type=float, nargs="+", default=[3.0], help="the close-up's side, in box sides")
    parser.add_argument("--groups", type=int, default=16, help="group scenes of 1600x900")
    parser.add_argument("--group-seed", type=int, default=4, help="another seed: group scenes no earlier run has seen")
    parser.add_argument("--only-relook", action="store_true", help="only the re-look table")
    parser.add_argument("--only-levels", action="store_true", help="only the table of tile min faces")
    args = parser.parse_args(argv)
    sets = {
        "camera": frames(args.frames, (640, 480), 5, (36, 52), seed=1),
        "phone": frames(max(1, args.frames // 4), (1600, 1200), 6, (40, 200), seed=2),
        "group": frames(args.groups, (1600, 900), 12, (40, 220), seed=args.group_seed),
    }
    singles = [bordered(open_rgb(path))[0] if tight else open_rgb(path) for path, tight, _ in training_photos(args.data, args.photos, seed=3)]
    free = [photo.image for seed in FACE_FREE_SEEDS for photo in face_free(None, seed=seed) if seed == FACE_FREE_SEEDS[0] or "fixture" not in photo.name]
    print(f"{len(sets['camera'])} camera frames, {len(sets['phone'])} 1600 px photos, {len(sets['group'])} group scenes, "
          f"{len(singles)} single-face photos, {len(free)} face-free images; upsample {UPSAMPLE}")
    images = {**{name: [scene.image for scene in sets[name]] for name in SETS}, "single": singles, "free": free}
    if args.only_relook:
        relook_table(images, sets)
        return
    if args.only_levels:
        levels_table(images, sets)
        return
    for min_face in args.tile_min_face:
        print(f"\n| tile min face (px of 192) | whole score | tiled score | {CELLS} | ms camera / 1600 px / single |")
        print("|" + " --- |" * 10)
        detector = replace(BLAZEFACE, tile_min_face=min_face)
        hits, ms = {}, {}
        for name in images:
            tagged_hits(detector, images[name][0])  # loads the models outside the timing
            start = time.perf_counter()
            hits[name] = [tagged_hits(detector, image) for image in images[name]]
            ms[name] = 1000 * (time.perf_counter() - start) / len(images[name])
        for whole_min, tiled_min in itertools.product(WHOLE_THRESHOLDS, TILED_THRESHOLDS):
            boxes = {name: [kept_boxes(h, whole_min, tiled_min) for h in hits[name]] for name in hits}
            print(f"| {min_face} | {whole_min} | {tiled_min} | {row_cells(sets, boxes)} | "
                  f"{ms['camera']:.1f} / {ms['phone']:.0f} / {ms['single']:.1f} |", flush=True)
        if min_face == BLAZEFACE.tile_min_face:
            for span in args.close_up_span:
                close_up_table(detector, images, hits, sets, span)
    relook_table(images, sets)


if __name__ == "__main__":
    main()
