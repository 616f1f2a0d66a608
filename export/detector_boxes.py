"""Fit the map from a detector's boxes (dlib's CNN, BlazeFace) to the reference detector's
(HOG), on training photos only (FairFace's training photos on a grey border, as export.data
gives UTKFace's, and LFW): the gender model learned on HOG's boxes, so a face another detector
finds must be cropped as HOG would have boxed it.

    python -m export.detector_boxes [--detector cnn|blazeface] [--photos 400] [--data ../shared/data]

On each photo where HOG and the detector (the CNN on the copy function.faces.cnn_detections
makes; BlazeFace as served, at upsample 1) each find one face, the two at IoU >= 0.3 (the same
face), the map is fitted per coordinate by least squares: HOG centre = its centre + k * its
size, HOG size = s * its size (x and y apart). It prints the four numbers (function.faces.CNN_TO_HOG,
function.detectors.BLAZEFACE_TO_HOG), the box overlap before and after, and the detector's score
on these faces.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from bench.scenes import crowd, lfw_face_photos
from export.data import bordered, open_rgb
from export.shared_data import SHARED_DATA
from function.boxes import IDENTITY, Box, BoxMap, iou, map_box
from function.detection import DetectOptions, Detection
from function.detectors import BLAZEFACE, BLAZEFACE_TO_HOG, reference_boxes
from function.faces import CNN_TO_HOG, cnn_detections

SERVED_MAPS: dict[str, BoxMap] = {"cnn": CNN_TO_HOG, "blazeface": BLAZEFACE_TO_HOG}


def unmapped(detector: str) -> Callable[[Image.Image], list[Detection]]:
    """The detector as served, its boxes where it draws them."""
    if detector == "cnn":
        return lambda image: cnn_detections(image, mapping=IDENTITY)
    blazeface = replace(BLAZEFACE, mapping=IDENTITY)
    return lambda image: blazeface.detect(image, DetectOptions(upsample=1, max_side=1600))


def training_photos(data: Path, count: int, seed: int = 0) -> list[tuple[Path, bool]]:
    """(path, needs a border): FairFace training photos (tight crops) and LFW deep-funneled, half each."""
    rng = random.Random(seed)
    with open(data / "fairface" / "labels.csv") as f:
        fairface = [data / "fairface" / row["path"] for row in csv.DictReader(f)]
    lfw = sorted((data / "lfw" / "deepfunneled").glob("*/*.jpg"))
    half = count // 2
    return [(p, True) for p in rng.sample(fairface, count - half)] + [(p, False) for p in rng.sample(lfw, half)]


def pairs(photos: list[tuple[Path, bool]], detect: Callable[[Image.Image], list[Detection]]) -> tuple[list[Box], list[Box], list[float]]:
    """HOG's box, the detector's raw box and its score for each photo where each finds exactly one face, overlapping."""
    hog_boxes, other_boxes, scores = [], [], []
    for path, tight in photos:
        image = bordered(open_rgb(path))[0] if tight else open_rgb(path)
        hog = reference_boxes(image)
        other = detect(image)
        if len(hog) == 1 and len(other) == 1 and iou(hog[0], other[0].box) >= 0.3:
            hog_boxes.append(hog[0])
            other_boxes.append(other[0].box)
            scores.append(other[0].score)
    return hog_boxes, other_boxes, scores


def frame_pairs(count: int, detect: Callable[[Image.Image], list[Detection]]) -> tuple[list[Box], list[Box], list[float]]:
    """The same from 640x480 frames of five LFW training faces of 36-120 px each (HOG's box of
    the face, scaled with it): the small faces a camera sees."""
    photos = lfw_face_photos(60, random.Random(11))
    rng = random.Random("frames")
    hog_boxes, other_boxes, scores = [], [], []
    for index in range(count):
        scene = crowd(f"frame {index}", (640, 480), photos, [rng.randint(36, 120) for _ in range(5)], rng)
        found = detect(scene.image)
        for face in scene.faces:
            best = max(found, key=lambda d: iou(face, d.box), default=None)
            if best is not None and iou(face, best.box) >= 0.3:
                hog_boxes.append(face)
                other_boxes.append(best.box)
                scores.append(best.score)
    return hog_boxes, other_boxes, scores


def fit(hog: list[Box], cnn: list[Box]) -> BoxMap:
    """(kx, ky, sx, sy): HOG centre = other centre + k * other size, HOG size = s * other size, least squares."""
    h = np.array([[(b.left + b.right) / 2, (b.top + b.bottom) / 2, b.width, b.height] for b in hog], float)
    c = np.array([[(b.left + b.right) / 2, (b.top + b.bottom) / 2, b.width, b.height] for b in cnn], float)
    kx = np.sum((h[:, 0] - c[:, 0]) * c[:, 2]) / np.sum(c[:, 2] ** 2)
    ky = np.sum((h[:, 1] - c[:, 1]) * c[:, 3]) / np.sum(c[:, 3] ** 2)
    sx = np.sum(h[:, 2] * c[:, 2]) / np.sum(c[:, 2] ** 2)
    sy = np.sum(h[:, 3] * c[:, 3]) / np.sum(c[:, 3] ** 2)
    return float(kx), float(ky), float(sx), float(sy)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", choices=SERVED_MAPS, default="cnn")
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--frames", type=int, default=0, help="also this many composed 640x480 frames of 5 small faces")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    args = parser.parse_args(argv)
    detect = unmapped(args.detector)
    hog, other, scores = pairs(training_photos(args.data, args.photos), detect)
    print(f"{len(hog)} faces found once by both, of {args.photos} training photos")
    if args.frames:
        more = frame_pairs(args.frames, detect)
        print(f"{len(more[0])} faces found by the detector, of {5 * args.frames} in {args.frames} frames")
        hog, other, scores = hog + more[0], other + more[1], scores + more[2]
    mapping, served = fit(hog, other), SERVED_MAPS[args.detector]
    print(f"{args.detector} to HOG: ({', '.join(f'{v:.3f}' for v in mapping)})  # served: {served}")
    for name, boxes in (("raw", other), ("mapped (fitted now)", [map_box(b, mapping) for b in other]),
                        ("mapped (served)", [map_box(b, served) for b in other])):
        overlaps = np.array([iou(h, b) for h, b in zip(hog, boxes)])
        print(f"IoU with HOG's box, {name}: mean {overlaps.mean():.3f}, p10 {np.percentile(overlaps, 10):.3f}, min {overlaps.min():.3f}")
    print(f"{args.detector} score on these faces: " + ", ".join(f"p{q} {np.percentile(scores, q):.2f}" for q in (0, 1, 5, 50)))


if __name__ == "__main__":
    main()
