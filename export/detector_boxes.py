"""Fit the map from dlib CNN boxes to HOG boxes, on training photos only (FairFace's training
photos on a grey border, as export.data gives UTKFace's, and LFW): the gender model learned on
HOG's boxes, so a face the CNN finds must be cropped as HOG would have boxed it.

    python -m export.detector_boxes [--photos 400] [--data ../shared/data]

On each photo where HOG and the CNN (on the copy function.faces.cnn_detections makes) each find
one face, the two at IoU >= 0.3 (the same face), the map is fitted per coordinate by least squares:
HOG centre = CNN centre + k * CNN size, HOG size = s * CNN size (x and y apart). It prints the
four numbers for function.faces.CNN_TO_HOG, the box overlap before and after, and the CNN's
confidence on these faces.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import numpy as np

from export.data import bordered, open_rgb
from export.shared_data import SHARED_DATA
from function.faces import CNN_TO_HOG, Box, cnn_detections, detect_faces, map_cnn_box


def training_photos(data: Path, count: int, seed: int = 0) -> list[tuple[Path, bool]]:
    """(path, needs a border): FairFace training photos (tight crops) and LFW deep-funneled, half each."""
    rng = random.Random(seed)
    with open(data / "fairface" / "labels.csv") as f:
        fairface = [data / "fairface" / row["path"] for row in csv.DictReader(f)]
    lfw = sorted((data / "lfw" / "deepfunneled").glob("*/*.jpg"))
    half = count // 2
    return [(p, True) for p in rng.sample(fairface, count - half)] + [(p, False) for p in rng.sample(lfw, half)]


def pairs(photos: list[tuple[Path, bool]]) -> tuple[list[Box], list[Box], list[float]]:
    """HOG box, raw CNN box and the CNN's confidence for each photo where each finds exactly one face, overlapping."""
    hog_boxes, cnn_boxes, confidences = [], [], []
    for path, tight in photos:
        image = bordered(open_rgb(path))[0] if tight else open_rgb(path)
        hog = detect_faces(image, "hog")
        cnn = cnn_detections(image, mapping=(0.0, 0.0, 1.0, 1.0))
        if len(hog) == 1 and len(cnn) == 1 and iou(hog[0], cnn[0][0]) >= 0.3:
            hog_boxes.append(hog[0])
            cnn_boxes.append(cnn[0][0])
            confidences.append(cnn[0][1])
    return hog_boxes, cnn_boxes, confidences


def fit(hog: list[Box], cnn: list[Box]) -> tuple[float, float, float, float]:
    """(kx, ky, sx, sy): HOG centre = CNN centre + k * CNN size, HOG size = s * CNN size, least squares."""
    h = np.array([[(b.left + b.right) / 2, (b.top + b.bottom) / 2, b.width, b.height] for b in hog], float)
    c = np.array([[(b.left + b.right) / 2, (b.top + b.bottom) / 2, b.width, b.height] for b in cnn], float)
    kx = np.sum((h[:, 0] - c[:, 0]) * c[:, 2]) / np.sum(c[:, 2] ** 2)
    ky = np.sum((h[:, 1] - c[:, 1]) * c[:, 3]) / np.sum(c[:, 3] ** 2)
    sx = np.sum(h[:, 2] * c[:, 2]) / np.sum(c[:, 2] ** 2)
    sy = np.sum(h[:, 3] * c[:, 3]) / np.sum(c[:, 3] ** 2)
    return float(kx), float(ky), float(sx), float(sy)


def iou(a: Box, b: Box) -> float:
    inter = a.intersection_area(b)
    return inter / max(1, a.area + b.area - inter)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    args = parser.parse_args(argv)
    hog, cnn, confidences = pairs(training_photos(args.data, args.photos))
    mapping = fit(hog, cnn)
    print(f"{len(hog)} faces found once by both, of {args.photos} training photos")
    print(f"CNN_TO_HOG = ({', '.join(f'{v:.3f}' for v in mapping)})  # in function/faces.py: {CNN_TO_HOG}")
    for name, boxes in (("raw CNN", cnn), ("mapped (fitted now)", [map_cnn_box(b, mapping) for b in cnn]),
                        ("mapped (CNN_TO_HOG)", [map_cnn_box(b) for b in cnn])):
        overlaps = np.array([iou(h, b) for h, b in zip(hog, boxes)])
        print(f"IoU with HOG's box, {name}: mean {overlaps.mean():.3f}, p10 {np.percentile(overlaps, 10):.3f}, min {overlaps.min():.3f}")
    print("CNN confidence on these faces: " + ", ".join(f"p{q} {np.percentile(confidences, q):.2f}" for q in (0, 1, 5, 50)))


if __name__ == "__main__":
    main()
