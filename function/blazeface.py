"""MediaPipe's BlazeFace (converted to ONNX by export/blazeface_onnx.py) on onnxruntime, a few
ms per look on one core: the short-range model on the whole image, the full-range model on
overlapping tiles for small faces, a face only a tile found kept only if the short-range model
sees it too in a close-up; its boxes moved to HOG's geometry from its box and landmarks."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
from PIL import Image

from function.boxes import Box, LandmarkMap, containment, iou
from function.detection import DetectOptions, Detection, detection_pool

MODELS_DIR = Path(__file__).resolve().parent / "models"
# MediaPipe's SSD anchors: per model input side, the stride of each of its feature layers.
ANCHOR_STRIDES = {128: (8, 16, 16, 16), 192: (4,)}
RAW_SCORE_LIMIT = 80.0  # logits are clipped (MediaPipe: 100; 80 keeps exp() inside float32)
SAME_FACE_IOU = 0.3  # MediaPipe's suppression threshold: boxes over it are one face, blended


def anchor_centres(side: int) -> np.ndarray:
    """(x, y) of each anchor, in [0, 1] of the input, in the model's output order."""
    strides = ANCHOR_STRIDES[side]
    centres = []
    for stride in sorted(set(strides)):
        grid = side // stride
        per_cell = 1 if len(strides) == 1 else 2 * strides.count(stride)
        centres += [((x + 0.5) / grid, (y + 0.5) / grid) for y in range(grid) for x in range(grid) for _ in range(per_cell)]
    return np.array(centres, np.float32)


class Hit(NamedTuple):
    """A face one look found: points in the image's pixels (box centre, box size, then six
    landmarks), its score, and whether the look was the short-range model's at the whole image."""

    points: np.ndarray
    score: float
    whole: bool


@dataclass(frozen=True)
class Window:
    """A square of the image, in its pixels, looked at as the model's whole input (beyond the
    image: black, as MediaPipe letterboxes). `inner` edges cut through the image."""

    left: float
    top: float
    side: float
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)  # left, top, right, bottom


def tiles(width: int, height: int, side: float, overlap: float) -> list[Window]:
    """Squares of `side` covering the image, neighbours overlapping by at least `overlap` of
    their side; a square at least as long as the image is the whole image, letterboxed."""
    if side >= max(width, height):
        longer = max(width, height)
        return [Window((width - longer) / 2, (height - longer) / 2, longer)]
    return [
        Window(left, top, side, (left > 0, top > 0, left + side < width, top + side < height))
        for top in _starts(height, side, overlap)
        for left in _starts(width, side, overlap)
    ]


def _starts(length: int, side: float, overlap: float) -> list[float]:
    """Starts of squares of `side` covering [0, length), evenly spread, overlapping by at least `overlap` of a side."""
    if side >= length:
        return [(length - side) / 2]
    count = math.ceil((length - overlap * side) / (side * (1 - overlap)))
    step = (length - side) / max(1, count - 1)
    return [i * step for i in range(count)]


class Model:
    """One BlazeFace ONNX file, loaded on first use; onnxruntime runs one session on many threads at once."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self._loaded: tuple[ort.InferenceSession, int, np.ndarray] | None = None
        self._lock = threading.Lock()

    def load(self) -> tuple[ort.InferenceSession, int, np.ndarray]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = 1
                    options.inter_op_num_threads = 1
                    session = ort.InferenceSession(str(MODELS_DIR / self.file_name), options, providers=["CPUExecutionProvider"])
                    side = session.get_inputs()[0].shape[2]
                    self._loaded = session, side, anchor_centres(side)
        return self._loaded

    def look(self, image: Image.Image, window: Window, min_score: float) -> list[tuple[np.ndarray, float]]:
        """Faces in the window scoring at least min_score, each as points in the image's pixels
        (box centre, box size, then six landmarks), without those an inner edge of the window cuts."""
        side = self.load()[1]
        region = (round(window.left), round(window.top), round(window.left + window.side), round(window.top + window.side))
        return self.find(image.crop(region).resize((side, side), Image.BILINEAR, reducing_gap=2.0), window, min_score)

    def find(self, square: Image.Image, window: Window, min_score: float) -> list[tuple[np.ndarray, float]]:
        """look() on `square`, the window already cut and resized to the model's input."""
        session, side, anchors = self.load()
        pixels = np.asarray(square, np.float32).transpose(2, 0, 1)[None] / 127.5 - 1
        regressors, logits = session.run(None, {session.get_inputs()[0].name: pixels})
        scores = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        keep = np.flatnonzero(scores >= min_score)
        points = regressors[0, keep].reshape(len(keep), regressors.shape[2] // 2, 2) / side
        points[:, 0] += anchors[keep]
        points[:, 2:] += anchors[keep, None]
        points *= window.side
        points[:, 0] += (window.left, window.top)
        points[:, 2:] += (window.left, window.top)
        return [(p, float(s)) for p, s in zip(points, scores[keep]) if not _cut_by_edge(p, window)]


# Measured on LFW faces pasted at known sizes (export/blazeface_choice.py): the full-range
# model finds faces of 16 px and more in its 192 px input, the short-range one of 18 px and
# more in its 128 px input (14% of it).
FULL_RANGE_MIN_FACE = 16
FULL_RANGE_SIDE = 192
SHORT_RANGE_MIN_SHARE = 0.14
# The smallest face asked for at upsample 1 (halved per further upsample): HOG's, whose 80 px
# window looks at the image doubled. Upsample 0 looks at the whole image only.
MIN_FACE_AT_UPSAMPLE_1 = 40


@dataclass(frozen=True)
class BlazeFace:
    """MediaPipe's short-range model on the whole image finds faces of SHORT_RANGE_MIN_SHARE of
    its longer side and more (all upsample 0 looks for); from upsample 1 smaller ones, down to
    the upsample's smallest face, are found by the full-range model on tiles, a level of tiles
    per doubling of their side, each level seeing whole the faces of up to `tile_overlap` of its
    side. Boxes from every look are blended as MediaPipe does. A face no whole-image look found
    and the tiles scored below `close_up_below` is kept only if the short-range model, looking at
    a square of `close_up_span` times its box around it, scores it at least `close_up_min_score`:
    the full-range model on tiles boxes some textures no face is in, scoring them low. Boxes are
    moved to HOG's geometry by `mapping`."""

    description: str
    whole: Model
    tiled: Model
    whole_min_score: float
    tiled_min_score: float
    close_up_min_score: float
    close_up_below: float
    mapping: LandmarkMap
    close_up_span: float = 3.0
    tile_overlap: float = 0.25
    tile_min_face: int = FULL_RANGE_MIN_FACE  # px in the full-range input: sets the tile side

    def looks(self, width: int, height: int, upsample: int) -> list[tuple[Model, Window, float]]:
        longer = max(width, height)
        side = MIN_FACE_AT_UPSAMPLE_1 / 2 ** (upsample - 1) * FULL_RANGE_SIDE / self.tile_min_face
        found = [(self.whole, window, self.whole_min_score) for window in tiles(width, height, longer, 0)]
        if upsample == 0:
            return found
        while True:
            found += [(self.tiled, window, self.tiled_min_score) for window in tiles(width, height, side, self.tile_overlap)]
            if side * self.tile_overlap >= SHORT_RANGE_MIN_SHARE * longer:
                return found
            side *= 2

    def detect(self, image: Image.Image, options: DetectOptions) -> list[Detection]:
        width, height = image.size
        return [self._detection(face.points, face.score, width, height) for face in self.faces(image, options)]

    def faces(self, image: Image.Image, options: DetectOptions) -> list[Hit]:
        """The blended faces, in the image's pixels, those only tiles found, scoring low, checked in a close-up."""
        found = blend(self.hits(image, options))
        passed = detection_pool(options.threads).map(
            lambda face: face.whole or face.score >= self.close_up_below
            or self.close_up_score(image, face.points, self.close_up_min_score) > 0, found)
        return [face for face, kept in zip(found, passed) if kept]

    def close_up_score(self, image: Image.Image, points: np.ndarray, min_score: float) -> float:
        """The short-range model's best score for the face at points, looking at a square of
        close_up_span times its box around it; 0 when it sees no face there scoring min_score
        or more (a higher min_score leaves fewer of its 896 anchors to compare)."""
        box = points_box(points)
        side = self.close_up_span * max(points[1])
        window = Window(points[0][0] - side / 2, points[0][1] - side / 2, side)
        seen = self.whole.look(image, window, min_score)
        return max((score for found, score in seen if iou(box, points_box(found)) > SAME_FACE_IOU), default=0.0)

    def hits(self, image: Image.Image, options: DetectOptions, min_score: float | None = None) -> list[Hit]:
        """Every look's faces, in the image's pixels, before blending, scoring at least min_score
        (by default each model's threshold). The looks are planned on the image downscaled to
        max_side; each level of them (the whole image, each size of tile) is cut from one copy
        of the image itself, resized once so that the level's windows are the model's input:
        one resize per level, not one per look (most of a look's time besides the model's)."""
        width, height = image.size
        scale = min(1.0, options.max_side / max(width, height))
        planned = self.looks(max(1, round(width * scale)), max(1, round(height * scale)), options.upsample)
        pool = detection_pool(options.threads)
        levels = list(dict.fromkeys((model, window.side) for model, window, _ in planned))
        copies = dict(zip(levels, pool.map(lambda level: _level_copy(image, scale, *level), levels)))

        def look(model: Model, window: Window, threshold: float) -> list[tuple[np.ndarray, float]]:
            copy, factor = copies[model, window.side]
            side = model.load()[1]
            left, top = round(window.left * side / window.side), round(window.top * side / window.side)
            square = copy.crop((left, top, left + side, top + side))
            return model.find(square, Window(left / factor, top / factor, side / factor, window.inner),
                              threshold if min_score is None else min_score)

        found = pool.map(lambda planned_look: look(*planned_look), planned)
        return [Hit(points, score, model is self.whole) for (model, _, _), hits in zip(planned, found) for points, score in hits]

    def _detection(self, points: np.ndarray, score: float, width: int, height: int) -> Detection:
        box = self.mapping.box(points)
        landmarks = tuple((round(x), round(y)) for x, y in points[2:])
        return Detection(box.clipped(width, height), score, landmarks)


def _level_copy(image: Image.Image, scale: float, model: Model, planned_side: float) -> tuple[Image.Image, float]:
    """The image resized so that a window of planned_side (in the pixels of the image downscaled
    by `scale`) is the model's input, and the copy's pixels per image pixel."""
    factor = model.load()[1] / planned_side * scale
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.BILINEAR, reducing_gap=2.0), factor


def _cut_by_edge(points: np.ndarray, window: Window) -> bool:
    """A face reaching an edge of a tile inside the image may be only part of a face: the
    neighbouring tile (they overlap) or the next level sees it whole."""
    (cx, cy), (w, h) = points[0], points[1]
    edges = (window.left, window.top, window.left + window.side, window.top + window.side)
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    reach = [box[0] <= edges[0], box[1] <= edges[1], box[2] >= edges[2], box[3] >= edges[3]]
    return any(inner and out for inner, out in zip(window.inner, reach))


def blend(found: list[Hit]) -> list[Hit]:
    """MediaPipe's weighted suppression: each face's boxes (IoU over SAME_FACE_IOU with the best,
    or one inside the other) averaged by score, with the best score; whole if any look at the
    whole image found it."""
    remaining = sorted(found, key=lambda hit: -hit.score)
    faces = []
    while remaining:
        best_box = points_box(remaining[0].points)
        same = [hit for hit in remaining if iou(best_box, points_box(hit.points)) > SAME_FACE_IOU or containment(best_box, points_box(hit.points)) > 0.8]
        weights = np.array([hit.score for hit in same])
        points = np.tensordot(weights / weights.sum(), np.stack([hit.points for hit in same]), axes=1)
        faces.append(Hit(points, remaining[0].score, any(hit.whole for hit in same)))
        remaining = [hit for hit in remaining if not any(hit is s for s in same)]
    return faces


def points_box(points: np.ndarray) -> Box:
    """The box of a face's points (centre, size, landmarks)."""
    (cx, cy), (w, h) = points[0], points[1]
    return Box(round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2))
