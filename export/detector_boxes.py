"""Fit the map from a detector's boxes (dlib's CNN, BlazeFace) to the reference detector's
(HOG), on training photos only (FairFace's training photos on a grey border, as export.data
gives UTKFace's, and LFW): the gender model learned on HOG's boxes, so a face another detector
finds must be cropped as HOG would have boxed it.

    python -m export.detector_boxes [--detector cnn|blazeface] [--photos 400] [--frames 0] [--training-side] [--data ../shared/data]

On each photo where HOG and the detector (the CNN on the copy function.faces.cnn_detections
makes; BlazeFace as served, at upsample 1) each find one face, the two at IoU >= 0.3 (the same
face), maps are fitted on the photos of four in five people (a person's photos all on one side:
LFW's names, FairFace's people as export.identities found them), by least squares: the box map,
HOG centre = its centre + k * its size, HOG size = s * its size (x and y apart;
function.faces.CNN_TO_HOG); and for BlazeFace the landmark map, the same four numbers each from
the box and its six landmarks (function.boxes.LandmarkMap; function.detectors.BLAZEFACE_TO_HOG).
It prints the maps, the box overlap with HOG's on the fitted and the held-out people's faces
(raw, served, served made square, fitted now), and the detector's score on these faces.
--training-side draws the FairFace photos from the gender model's training side of fairface and
fairface-train (export.data.split: no photo of a validation person), so that maps fitted on them
can be compared on the validation photos.
"""

from __future__ import annotations

import argparse
import csv
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from bench.scenes import crowd, face_photos
from export.data import bordered, identities, load_samples, open_rgb, photo_file, split
from export.shared_data import SHARED_DATA
from function.blazeface import points_box
from function.boxes import IDENTITY, Box, BoxMap, LandmarkMap, iou, landmark_features, map_box
from function.detection import DetectOptions
from function.detectors import BLAZEFACE, BLAZEFACE_TO_HOG, reference_boxes
from function.faces import CNN_TO_HOG, cnn_detections

HELD_OUT_SHARE = 5  # one person in this many is held out of the fit
RIDGE = 1e-3  # keeps the landmark weights small where the faces do not tell them apart


@dataclass(frozen=True)
class Face:
    """A face HOG and the detector both found: HOG's box, the detector's own box, its points
    (BlazeFace: box centre, size, six landmarks; None for the CNN) and score."""

    hog: Box
    box: Box
    points: np.ndarray | None
    score: float


Found = tuple[Box, "np.ndarray | None", float]


def unmapped(detector: str) -> Callable[[Image.Image], list[Found]]:
    """The detector as served, its boxes where it draws them, with its points where it gives them."""
    if detector == "cnn":
        return lambda image: [(d.box, None, d.score) for d in cnn_detections(image, mapping=IDENTITY)]
    options = DetectOptions(upsample=1, max_side=1600)
    return lambda image: [(points_box(face.points), face.points, face.score) for face in BLAZEFACE.faces(image, options)]


def held_out(person: str) -> bool:
    return zlib.crc32(person.encode()) % HELD_OUT_SHARE == 0


def training_photos(data: Path, count: int, seed: int = 0, training_side: bool = False) -> list[tuple[Path, bool, str]]:
    """(path, needs a border, person): FairFace photos (tight crops; ../fairface's, or the training
    side of fairface and fairface-train) and LFW deep-funneled, half each."""
    rng = random.Random(seed)
    if training_side:
        fairface = [s.path for s in split(load_samples(data, ("fairface", "fairface-train")))[0]]
    else:
        with open(data / "fairface" / "labels.csv") as f:
            fairface = [f"fairface/{row['path']}" for row in csv.DictReader(f)]
    people = identities("fairface") | identities("fairface-train")  # found together: one numbering
    lfw = sorted((data / "lfw" / "deepfunneled").glob("*/*.jpg"))
    half = count // 2
    return ([(photo_file(data, p), True, "fairface " + people.get(p, p)) for p in rng.sample(fairface, count - half)]
            + [(p, False, "lfw " + p.parent.name) for p in rng.sample(lfw, half)])


def photo_faces(photos: list[tuple[Path, bool, str]], detect: Callable[[Image.Image], list[Found]]) -> list[tuple[Face, str]]:
    """(the face, its person) for each photo where HOG and the detector each find exactly one face, overlapping."""
    faces = []
    for path, tight, person in photos:
        image = bordered(open_rgb(path))[0] if tight else open_rgb(path)
        hog = reference_boxes(image)
        other = detect(image)
        if len(hog) == 1 and len(other) == 1 and iou(hog[0], other[0][0]) >= 0.3:
            faces.append((Face(hog[0], *other[0]), person))
    return faces


def frame_faces(count: int, lfw: list[Path], detect: Callable[[Image.Image], list[Found]], seed: str) -> list[Face]:
    """The same from 640x480 frames of five LFW faces of 36-120 px each (HOG's box of the face,
    scaled with it): the small faces a camera sees."""
    photos = face_photos(lfw)
    rng = random.Random(seed)
    faces = []
    for index in range(count):
        scene = crowd(f"frame {index}", (640, 480), photos, [rng.randint(36, 120) for _ in range(5)], rng)
        found = detect(scene.image)
        for truth in scene.faces:
            best = max(found, key=lambda f: iou(truth, f[0]), default=None)
            if best is not None and iou(truth, best[0]) >= 0.3:
                faces.append(Face(truth, *best))
    return faces


def fit(hog: list[Box], cnn: list[Box]) -> BoxMap:
    """(kx, ky, sx, sy): HOG centre = other centre + k * other size, HOG size = s * other size, least squares."""
    h = np.array([[(b.left + b.right) / 2, (b.top + b.bottom) / 2, b.width, b.height] for b in hog], float)
    c = np.array([[(b.left + b.right) / 2, (b.top + b.bottom) / 2, b.width, b.height] for b in cnn], float)
    kx = np.sum((h[:, 0] - c[:, 0]) * c[:, 2]) / np.sum(c[:, 2] ** 2)
    ky = np.sum((h[:, 1] - c[:, 1]) * c[:, 3]) / np.sum(c[:, 3] ** 2)
    sx = np.sum(h[:, 2] * c[:, 2]) / np.sum(c[:, 2] ** 2)
    sy = np.sum(h[:, 3] * c[:, 3]) / np.sum(c[:, 3] ** 2)
    return float(kx), float(ky), float(sx), float(sy)


def fit_landmarks(hog: list[Box], points: list[np.ndarray]) -> LandmarkMap:
    """HOG's centre offset and size in units of the detector's box, each a ridge least-squares
    fit on (1, the landmarks' offsets from the box's centre in the same units)."""
    features = np.stack([landmark_features(p) for p in points])
    targets = np.array([[((b.left + b.right) / 2 - p[0][0]) / p[1][0], ((b.top + b.bottom) / 2 - p[0][1]) / p[1][1],
                         b.width / p[1][0], b.height / p[1][1]] for b, p in zip(hog, points)])
    penalty = RIDGE * len(points) * np.diag([0.0] + [1.0] * (features.shape[1] - 1))  # the intercepts unpenalised
    weights = np.linalg.solve(features.T @ features + penalty, features.T @ targets)
    return LandmarkMap(tuple(tuple(round(float(w), 4) for w in row) for row in weights.T))


def overlap(faces: list[Face], place: Callable[[Face], Box]) -> str:
    overlaps = np.array([iou(face.hog, place(face)) for face in faces])
    return f"mean {overlaps.mean():.3f}, p10 {np.percentile(overlaps, 10):.3f}, min {overlaps.min():.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", choices=("cnn", "blazeface"), default="cnn")
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--frames", type=int, default=0, help="also this many composed 640x480 frames of 5 small faces")
    parser.add_argument("--training-side", action="store_true", help="FairFace photos of the gender model's training people only")
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    args = parser.parse_args(argv)
    detect = unmapped(args.detector)
    found = photo_faces(training_photos(args.data, args.photos, training_side=args.training_side), detect)
    sides = {"fitted": [f for f, person in found if not held_out(person)], "held out": [f for f, person in found if held_out(person)]}
    print(f"{len(found)} faces found once by both, of {args.photos} training photos: "
          + ", ".join(f"{len(faces)} {side}" for side, faces in sides.items()))
    if args.frames:
        lfw = random.Random(11).sample(sorted((args.data / "lfw" / "deepfunneled").glob("*/*.jpg")), 240)
        for side, share, seed in (("fitted", 4, "frames"), ("held out", 1, "held-out frames")):
            people = [p for p in lfw if held_out("lfw " + p.parent.name) == (side == "held out")]
            more = frame_faces(max(1, args.frames * share // HELD_OUT_SHARE), people, detect, seed)
            print(f"{len(more)} faces in frames of {side} people")
            sides[side] += more
    fitted = sides["fitted"]
    box_map = fit([f.hog for f in fitted], [f.box for f in fitted])
    print(f"{args.detector} to HOG, box map: ({', '.join(f'{v:.3f}' for v in box_map)})")
    places: dict[str, Callable[[Face], Box]] = {"raw": lambda f: f.box, "box map (fitted now)": lambda f: map_box(f.box, box_map)}
    if args.detector == "cnn":
        places["served"] = lambda f: map_box(f.box, CNN_TO_HOG)
    else:
        landmark_map = fit_landmarks([f.hog for f in fitted], [f.points for f in fitted])
        print(f"{args.detector} to HOG, landmark map: LandmarkMap((\n" + "".join(f"    {row},\n" for row in landmark_map.rows) + "))")
        places["landmark map (fitted now)"] = lambda f: landmark_map.box(f.points)
        places["served"] = lambda f: BLAZEFACE_TO_HOG.box(f.points)
        places["served, square"] = lambda f: replace(BLAZEFACE_TO_HOG, square=True).box(f.points)
    for side, faces in sides.items():
        for name, place in places.items():
            print(f"IoU with HOG's box, {side} ({len(faces)}), {name}: {overlap(faces, place)}")
    scores = [f.score for faces in sides.values() for f in faces]
    print(f"{args.detector} score on these faces: " + ", ".join(f"p{q} {np.percentile(scores, q):.2f}" for q in (0, 1, 5, 50)))


if __name__ == "__main__":
    main()
