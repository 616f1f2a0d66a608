"""Choose BlazeFace's score thresholds and tile size on training photos and frames made from
them (never on ../shared/data/external, which is for measuring only).

    python -m export.blazeface_choice [--frames 40] [--photos 300] [--data ../shared/data]

Faces are looked for once per image at the lowest threshold; each row then keeps the
short-range model's faces (whole image) and the full-range model's (its levels) at its own
threshold. Per row: faces found in camera frames composed from LFW training photos (640x480,
five faces of 36-52 px, a webcam's view of a group two to three metres away, upsample 1),
boxes there on no face, faces found in 1600x1200 photos of six faces of 40-200 px (upsample 1),
single faces found in FairFace training photos (on a grey border) and LFW (upsample 1),
generated face-free images with a box, and ms per image on one thread.

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
from function.detection import DetectOptions
from function.detectors import BLAZEFACE

WHOLE_THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.75)
TILED_THRESHOLDS = (0.4, 0.5, 0.6, 0.7)
CLOSE_UP_PAIRS = ((0.65, 0.6), (0.65, 0.5))  # (whole, tiled): the thresholds chosen without the check, and one lower
CLOSE_UP_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)  # 0: no check
RELOOK_MIN_SCORES = (0.5, 0.4)
RELOOK_SIDES = (96, 128, 192)
SURE_TILED_SCORES = (0.9, 0.85, 0.8, 0.75)  # a face tiles score this high skips the check (rows at the served close-up threshold)
UPSAMPLE = 1
FACE_FREE_SEED = 1  # not the measuring set's generated images (seed 0)


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
    """Camera faces found, boxes on no face, 1600 px faces found, single faces found, face-free images with a box."""
    cells, spurious = [], []
    for name in ("camera", "phone"):
        faces = [scene.faces for scene in sets[name]]
        cells.append(f"{sum(matched(f, b, 0.4) for f, b in zip(faces, boxes[name]))}/{sum(map(len, faces))}")
        spurious.append(str(sum(all(iou(box, face) < 0.2 for face in f) for f, b in zip(faces, boxes[name]) for box in b)))
    single = sum(map(bool, boxes["single"]))
    boxed = sum(map(bool, boxes["free"]))
    return f"{cells[0]} | {' / '.join(spurious)} | {cells[1]} | {single}/{len(boxes['single'])} | {boxed}/{len(boxes['free'])}"


def close_up_table(detector: BlazeFace, images: dict[str, list], hits: dict[str, list[list[Hit]]], sets: dict, span: float) -> None:
    detector = replace(detector, close_up_span=span)
    print(f"\nThe close-up check, {span}x the box, tile min face {detector.tile_min_face} px:\n")
    print("| whole score | tiled score | close-up score | checked below tiled score | camera faces found | boxes on no face (camera / 1600 px) "
          "| 1600 px faces found | single faces found | face-free images with a box | close-up looks per image (camera / 1600 px) |")
    print("|" + " --- |" * 10)
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


def relook_table(images: dict[str, list], sets: dict) -> None:
    print(f"\nThe re-look, served path (whole {BLAZEFACE.whole_min_score}, tiles {BLAZEFACE.tiled_min_score}, close-up "
          f"{BLAZEFACE.close_up_min_score} below {BLAZEFACE.close_up_below}):\n")
    print("| re-looked from score | re-look side | camera faces found | boxes on no face (camera / 1600 px) | 1600 px faces found "
          "| single faces found | face-free images with a box | ms camera / 1600 px |")
    print("|" + " --- |" * 8)
    rows = [(BLAZEFACE.tiled_min_score, None)] + list(itertools.product(RELOOK_MIN_SCORES, RELOOK_SIDES))
    for relook_min, side in rows:
        detector = replace(BLAZEFACE, relook_min_score=relook_min, relook_side=side or BLAZEFACE.relook_side)
        boxes, ms = {}, {}
        for name in images:
            start = time.perf_counter()
            boxes[name] = [[points_box(face.points) for face in detector.faces(image, DetectOptions(UPSAMPLE, max(image.size)))]
                           for image in images[name]]
            ms[name] = 1000 * (time.perf_counter() - start) / len(images[name])
        label = "none" if side is None else relook_min
        print(f"| {label} | {side or '-'} | {row_cells(sets, boxes)} | {ms['camera']:.1f} / {ms['phone']:.0f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--tile-min-face", type=int, nargs="+", default=[16, 20])
    parser.add_argument("--close-up-span", type=float, nargs="+", default=[3.0], help="the close-up's side, in box sides")
    parser.add_argument("--only-relook", action="store_true", help="only the re-look table")
    args = parser.parse_args(argv)
    sets = {
        "camera": frames(args.frames, (640, 480), 5, (36, 52), seed=1),
        "phone": frames(max(1, args.frames // 4), (1600, 1200), 6, (40, 200), seed=2),
    }
    singles = [bordered(open_rgb(path))[0] if tight else open_rgb(path) for path, tight, _ in training_photos(args.data, args.photos, seed=3)]
    free = [photo.image for photo in face_free(None, seed=FACE_FREE_SEED)]
    print(f"{len(sets['camera'])} camera frames, {len(sets['phone'])} 1600 px photos, {len(singles)} single-face photos, "
          f"{len(free)} face-free images; upsample {UPSAMPLE}")
    images = {"camera": [s.image for s in sets["camera"]], "phone": [s.image for s in sets["phone"]], "single": singles, "free": free}
    if args.only_relook:
        relook_table(images, sets)
        return
    for min_face in args.tile_min_face:
        print("\n| tile min face (px of 192) | whole score | tiled score | camera faces found | boxes on no face (camera / 1600 px) "
              "| 1600 px faces found | single faces found | face-free images with a box | ms camera / 1600 px / single |")
        print("|" + " --- |" * 9)
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
