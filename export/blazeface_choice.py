"""Choose BlazeFace's score thresholds and tile size on training photos and frames made from
them (never on ../shared/data/external, which is for measuring only).

    python -m export.blazeface_choice [--frames 40] [--photos 300] [--data ../shared/data]

Faces are looked for once per image at the lowest threshold; each row then keeps the
short-range model's faces (whole image) and the full-range model's (tiles) at its own
threshold. Per row: faces found in camera frames composed from LFW training photos (640x480,
five faces of 36-52 px, a webcam's view of a group two to three metres away, upsample 1),
boxes there on no face, faces found in 1600x1200 photos of six faces of 40-200 px (upsample 1),
single faces found in FairFace training photos (on a grey border) and LFW (upsample 1),
generated face-free images with a box, and ms per image on one thread.
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
from function.blazeface import BlazeFace, blend, points_box
from function.boxes import Box, iou
from function.detectors import BLAZEFACE

WHOLE_THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.75)
TILED_THRESHOLDS = (0.4, 0.5, 0.6, 0.7)
UPSAMPLE = 1


def frames(count: int, size: tuple[int, int], faces: int, widths: tuple[int, int], seed: int) -> list:
    photos = lfw_face_photos(60, random.Random(seed))
    rng = random.Random(f"{seed}-{size}-{faces}")
    return [crowd(f"frame {i}", size, photos, [rng.randint(*widths) for _ in range(faces)], rng) for i in range(count)]


def tagged_hits(detector: BlazeFace, image) -> list[tuple[bool, object, float]]:
    """(from the whole-image model, points, score) of every look at the lowest thresholds."""
    lowest = min(TILED_THRESHOLDS)
    return [(model is detector.whole, points, score)
            for model, window, _ in detector.looks(*image.size, UPSAMPLE)
            for points, score in model.look(image, window, lowest)]


def kept_boxes(hits, whole_min: float, tiled_min: float) -> list[Box]:
    kept = [(points, score) for whole, points, score in hits if score >= (whole_min if whole else tiled_min)]
    return [points_box(points) for points, _ in blend(kept)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--tile-min-face", type=int, nargs="+", default=[16, 20])
    args = parser.parse_args(argv)
    sets = {
        "camera": frames(args.frames, (640, 480), 5, (36, 52), seed=1),
        "phone": frames(max(1, args.frames // 4), (1600, 1200), 6, (40, 200), seed=2),
    }
    singles = [bordered(open_rgb(path))[0] if tight else open_rgb(path) for path, tight in training_photos(args.data, args.photos, seed=3)]
    free = [photo.image for photo in face_free(None)]
    print(f"{len(sets['camera'])} camera frames, {len(sets['phone'])} 1600 px photos, {len(singles)} single-face photos, "
          f"{len(free)} face-free images; upsample {UPSAMPLE}")
    print("| tile min face (px of 192) | whole score | tiled score | camera faces found | boxes on no face (camera / 1600 px) "
          "| 1600 px faces found | single faces found | face-free images with a box | ms camera / 1600 px / single |")
    print("|" + " --- |" * 9)
    for min_face in args.tile_min_face:
        detector = replace(BLAZEFACE, tile_min_face=min_face)
        hits, ms = {}, {}
        for name, images in (("camera", [s.image for s in sets["camera"]]), ("phone", [s.image for s in sets["phone"]]),
                             ("single", singles), ("free", free)):
            tagged_hits(detector, images[0])  # loads the models outside the timing
            start = time.perf_counter()
            hits[name] = [tagged_hits(detector, image) for image in images]
            ms[name] = 1000 * (time.perf_counter() - start) / len(images)
        for whole_min, tiled_min in itertools.product(WHOLE_THRESHOLDS, TILED_THRESHOLDS):
            cells = []
            spurious = []
            for name in ("camera", "phone"):
                found = [kept_boxes(h, whole_min, tiled_min) for h in hits[name]]
                faces = [scene.faces for scene in sets[name]]
                cells.append(f"{sum(matched(f, b, 0.4) for f, b in zip(faces, found))}/{sum(map(len, faces))}")
                spurious.append(str(sum(all(iou(box, face) < 0.2 for face in f) for f, b in zip(faces, found) for box in b)))
            single = sum(bool(kept_boxes(h, whole_min, tiled_min)) for h in hits["single"])
            boxed = sum(bool(kept_boxes(h, whole_min, tiled_min)) for h in hits["free"])
            print(f"| {min_face} | {whole_min} | {tiled_min} | {cells[0]} | {' / '.join(spurious)} | {cells[1]} | "
                  f"{single}/{len(singles)} | {boxed}/{len(free)} | {ms['camera']:.1f} / {ms['phone']:.0f} / {ms['single']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
