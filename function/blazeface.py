"""MediaPipe's BlazeFace (converted to ONNX by export/blazeface_onnx.py) on onnxruntime, a few
ms per look on one core: the short-range model on the whole image, the full-range model on the
image enlarged level by level for small faces, a face it scores just under its threshold looked at
again centred, a face only the full-range model found kept only if the short-range model sees it
too in a close-up; its boxes moved to HOG's geometry from its box and landmarks."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
from PIL import Image

from function.boxes import Box, LandmarkMap, containment, iou
from function.detection import DetectOptions, Detection, detection_pool

MODELS_DIR = Path(__file__).resolve().parent / "models"
# MediaPipe's SSD anchors: per model (by the side of the square it was made for), the stride of
# each of its feature layers.
ANCHOR_STRIDES = {128: (8, 16, 16, 16), 192: (4,)}
INPUT_MULTIPLE = 32  # the models' deepest stride: an input's sides are multiples of it (black beyond the image)
# A run's memory grows with its input (~100 bytes a pixel): a larger resized image is looked at
# in blocks of at most MAX_INPUT_SIDE, overlapping by more than the largest face a level must
# see whole (BlazeFace.tile_overlap of the 192 px square: 48 px).
MAX_INPUT_SIDE = 1024
BLOCK_OVERLAP = 128
RAW_SCORE_LIMIT = 80.0  # logits are clipped (MediaPipe: 100; 80 keeps exp() inside float32)
SAME_FACE_IOU = 0.3  # MediaPipe's suppression threshold: boxes over it are one face, blended


@lru_cache(maxsize=64)
def anchor_centres(height: int, width: int, strides: tuple[int, ...]) -> np.ndarray:
    """(x, y) of each anchor of an input of this size, in its pixels, in the model's output order."""
    centres = []
    for stride in sorted(set(strides)):
        per_cell = 1 if len(strides) == 1 else 2 * strides.count(stride)
        centres += [((x + 0.5) * stride, (y + 0.5) * stride)
                    for y in range(height // stride) for x in range(width // stride) for _ in range(per_cell)]
    return np.array(centres, np.float32)


class Hit(NamedTuple):
    """A face one look found: points in the image's pixels (box centre, box size, then six
    landmarks), its score, and whether the look was the short-range model's at the whole image."""

    points: np.ndarray
    score: float
    whole: bool


@dataclass(frozen=True)
class Window:
    """A square of the image, in its pixels (beyond the image: black)."""

    left: float
    top: float
    side: float


class Model:
    """One BlazeFace ONNX file, made for a square input of `side` and taking any input whose
    sides are multiples of INPUT_MULTIPLE, loaded on first use; onnxruntime runs one session on
    many threads at once."""

    def __init__(self, file_name: str, side: int):
        self.file_name = file_name
        self.side = side
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def load(self) -> ort.InferenceSession:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = 1
                    options.inter_op_num_threads = 1
                    self._session = ort.InferenceSession(str(MODELS_DIR / self.file_name), options, providers=["CPUExecutionProvider"])
        return self._session

    def scan(self, image: Image.Image, min_score: float) -> list[tuple[np.ndarray, float]]:
        """Faces in the whole image as the model's input, scoring at least min_score, each as
        points in its pixels (box centre, box size, then six landmarks)."""
        width, height = image.size
        found = []
        for top in _block_starts(height):
            for left in _block_starts(width):
                right, bottom = min(width, left + MAX_INPUT_SIDE), min(height, top + MAX_INPUT_SIDE)
                inner = (left > 0, top > 0, right < width, bottom < height)
                for points, score in self.find(image.crop((left, top, right, bottom)), min_score):
                    if not _cut_by_edge(points, right - left, bottom - top, inner):
                        points[[0, *range(2, len(points))]] += (left, top)
                        found.append((points, score))
        return found

    def look(self, image: Image.Image, window: Window, side: int, min_score: float) -> list[tuple[np.ndarray, float]]:
        """Faces in a square of the image resized to `side`, in the image's pixels."""
        region = (round(window.left), round(window.top), round(window.left + window.side), round(window.top + window.side))
        found = self.find(image.crop(region).resize((side, side), Image.BILINEAR, reducing_gap=2.0), min_score)
        for points, _ in found:
            points *= window.side / side
            points[[0, *range(2, len(points))]] += (window.left, window.top)
        return found

    def find(self, pixels: Image.Image, min_score: float) -> list[tuple[np.ndarray, float]]:
        """Faces in `pixels`, the model's input, as points in its pixels."""
        width, height = (-(-length // INPUT_MULTIPLE) * INPUT_MULTIPLE for length in pixels.size)
        inputs = np.asarray(pixels.crop((0, 0, width, height)), np.float32).transpose(2, 0, 1)[None] / 127.5 - 1
        session = self.load()
        regressors, logits = session.run(None, {session.get_inputs()[0].name: inputs})
        scores = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        keep = np.flatnonzero(scores >= min_score)
        anchors = anchor_centres(height, width, ANCHOR_STRIDES[self.side])[keep]
        points = regressors[0, keep].reshape(len(keep), regressors.shape[2] // 2, 2)
        points[:, 0] += anchors
        points[:, 2:] += anchors[:, None]
        return [(p, float(s)) for p, s in zip(points, scores[keep])]


def _pyramid(image: Image.Image, factors: list[float]) -> list[Image.Image]:
    """The image resized by each factor, largest first, each smaller copy resized from the one
    before it: the same antialiased downscale in steps, a fraction of the work of resizing
    the image itself each time (a 12 MP photo's three looks)."""
    copies: dict[float, Image.Image] = {}
    source = image
    for factor in sorted(set(factors), reverse=True):
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        copies[factor] = source.resize(size, Image.BILINEAR, reducing_gap=2.0)
        if factor < 1:
            source = copies[factor]
    return [copies[factor] for factor in factors]


def _block_starts(length: int) -> list[int]:
    """Starts of blocks of at most MAX_INPUT_SIDE covering [0, length), overlapping by BLOCK_OVERLAP or more."""
    if length <= MAX_INPUT_SIDE:
        return [0]
    count = math.ceil((length - BLOCK_OVERLAP) / (MAX_INPUT_SIDE - BLOCK_OVERLAP))
    return [round(i * (length - MAX_INPUT_SIDE) / (count - 1)) for i in range(count)]


def _cut_by_edge(points: np.ndarray, width: int, height: int, inner: tuple[bool, bool, bool, bool]) -> bool:
    """Whether a face (points in a block's pixels) reaches one of its `inner` edges (left, top,
    right, bottom: inside the image): it may be only part of a face, which the neighbouring
    block (they overlap) or the next level sees whole."""
    (cx, cy), (w, h) = points[0], points[1]
    reach = (cx - w / 2 <= 0, cy - h / 2 <= 0, cx + w / 2 >= width, cy + h / 2 >= height)
    return any(edge and out for edge, out in zip(inner, reach))


# Measured on LFW faces pasted at known sizes (export/blazeface_choice.py): the full-range
# model finds faces of 16 px and more in its 192 px input, the short-range one of 18 px and
# more in its 128 px input (14% of it).
FULL_RANGE_MIN_FACE = 16
FULL_RANGE_SIDE = 192
SHORT_RANGE_SIDE = 128
SHORT_RANGE_MIN_SHARE = 0.14
RELOOK_FACE = 24  # px: a re-look puts the face at this size in its input, mid-range of a level's 16-32 px
# The smallest face asked for at upsample 1 (halved per further upsample): HOG's, whose 80 px
# window looks at the image doubled. Upsample 0 looks at the whole image only.
MIN_FACE_AT_UPSAMPLE_1 = 40


@dataclass(frozen=True)
class BlazeFace:
    """MediaPipe's short-range model on the whole image finds faces of SHORT_RANGE_MIN_SHARE of
    its longer side and more (all upsample 0 looks for); from upsample 1 smaller ones, down to
    the upsample's smallest face, are found by the full-range model on the whole image enlarged
    level by level: at a level a "tile" (a square of the image) fills the model's 192 px square,
    the first level's tile putting the smallest face at `tile_min_face` px, each next level's
    tile twice as long, until a level sees faces of up to `tile_overlap` of its tile (tiles once
    overlapped by that much) as large as the whole-image look's smallest. Boxes from every look
    are blended as MediaPipe does. A face only the levels found, scoring from `relook_min_score`
    up to `tiled_min_score` (a score that depends on where the face falls on the model's anchor
    grid), is looked at again by the full-range model on a square centred on it, the face at
    RELOOK_FACE px of a `relook_side` input, and kept if it scores `tiled_min_score` there. A face
    no whole-image look found and the full-range model scored below `close_up_below` is kept
    only if the short-range model, looking at a square of `close_up_span` times its box around
    it (resized to `close_up_side`), scores it at least `close_up_min_score`: the full-range
    model boxes some textures no face is in, scoring them low. Boxes are moved to HOG's
    geometry by `mapping`."""

    description: str
    whole: Model
    tiled: Model
    whole_min_score: float
    tiled_min_score: float
    relook_min_score: float
    close_up_min_score: float
    close_up_below: float
    mapping: LandmarkMap
    close_up_span: float = 3.0
    close_up_side: int = 64  # px: the close-up's input (a quarter of the model's 128 px square's cost)
    tile_overlap: float = 0.25
    tile_min_face: int = FULL_RANGE_MIN_FACE  # px in the full-range input: sets the tile side
    relook_side: int = 96

    def looks(self, width: int, height: int, upsample: int) -> list[tuple[Model, float, float]]:
        """(model, its input's pixels per image pixel, min score) of each look at an image of this size."""
        longer = max(width, height)
        side = MIN_FACE_AT_UPSAMPLE_1 / 2 ** (upsample - 1) * FULL_RANGE_SIDE / self.tile_min_face
        found = [(self.whole, self.whole.side / longer, self.whole_min_score)]
        if upsample == 0:
            return found
        while True:
            found.append((self.tiled, self.tiled.side / min(side, longer), self.relook_min_score))
            if side * self.tile_overlap >= SHORT_RANGE_MIN_SHARE * longer:
                return found
            side *= 2

    def detect(self, image: Image.Image, options: DetectOptions) -> list[Detection]:
        width, height = image.size
        return [self._detection(face.points, face.score, width, height) for face in self.faces(image, options)]

    def faces(self, image: Image.Image, options: DetectOptions) -> list[Hit]:
        """The blended faces, in the image's pixels: those the levels scored just under their
        threshold kept if a re-look scores them over it, those only the full-range model found,
        scoring low, checked in a close-up."""
        found, unsure = self.sure_and_unsure(self.hits(image, options))
        pool = detection_pool(options.threads)
        found += [face for face in pool.map(lambda face: self.relook(image, face.points), unsure) if face.score >= self.tiled_min_score]
        passed = pool.map(
            lambda face: face.whole or face.score >= self.close_up_below
            or self.close_up_score(image, face.points, self.close_up_min_score) > 0, found)
        return [face for face, kept in zip(found, passed) if kept]

    def sure_and_unsure(self, hits: list[Hit]) -> tuple[list[Hit], list[Hit]]:
        """The blended faces scoring their look's threshold, and the blended faces of the levels
        under it that are none of those (the re-look's candidates)."""
        scored = [hit.whole or hit.score >= self.tiled_min_score for hit in hits]
        sure = blend([hit for hit, over in zip(hits, scored) if over])
        unsure = [face for face in blend([hit for hit, over in zip(hits, scored) if not over])
                  if not any(same_face(points_box(face.points), points_box(other.points)) for other in sure)]
        return sure, unsure

    def relook(self, image: Image.Image, points: np.ndarray) -> Hit:
        """The full-range model's best face at points, on a square centred on it (the face at
        RELOOK_FACE px of relook_side); score 0 when it sees none there."""
        box = points_box(points)
        side = max(points[1]) * self.relook_side / RELOOK_FACE
        window = Window(points[0][0] - side / 2, points[0][1] - side / 2, side)
        seen = [Hit(found, score, False) for found, score in self.tiled.look(image, window, self.relook_side, self.relook_min_score)
                if iou(box, points_box(found)) > SAME_FACE_IOU]
        return max(seen, key=lambda hit: hit.score, default=Hit(points, 0.0, False))

    def close_up_score(self, image: Image.Image, points: np.ndarray, min_score: float) -> float:
        """The short-range model's best score for the face at points, looking at a square of
        close_up_span times its box around it; 0 when it sees no face there scoring min_score
        or more (a higher min_score leaves fewer of its 896 anchors to compare)."""
        box = points_box(points)
        side = self.close_up_span * max(points[1])
        window = Window(points[0][0] - side / 2, points[0][1] - side / 2, side)
        seen = self.whole.look(image, window, self.close_up_side, min_score)
        return max((score for found, score in seen if iou(box, points_box(found)) > SAME_FACE_IOU), default=0.0)

    def hits(self, image: Image.Image, options: DetectOptions, min_score: float | None = None) -> list[Hit]:
        """Every look's faces, in the image's pixels, before blending, scoring at least min_score
        (by default the whole-image look's threshold, and the levels' relook_min_score). The
        looks are planned on the image downscaled to max_side; each looks at the image resized
        to its input."""
        width, height = image.size
        scale = min(1.0, options.max_side / max(width, height))
        looks = self.looks(max(1, round(width * scale)), max(1, round(height * scale)), options.upsample)
        inputs = _pyramid(image, [factor * scale for _, factor, _ in looks])
        found = detection_pool(options.threads).map(
            lambda look, pixels: look[0].scan(pixels, look[2] if min_score is None else min_score), looks, inputs)
        return [Hit(points / (pixels.width / width, pixels.height / height), score, model is self.whole)
                for (model, _, _), pixels, hits in zip(looks, inputs, found) for points, score in hits]

    def _detection(self, points: np.ndarray, score: float, width: int, height: int) -> Detection:
        box = self.mapping.box(points)
        landmarks = tuple((round(x), round(y)) for x, y in points[2:])
        return Detection(box.clipped(width, height), score, landmarks)


def blend(found: list[Hit]) -> list[Hit]:
    """MediaPipe's weighted suppression: each face's boxes (IoU over SAME_FACE_IOU with the best,
    or one inside the other) averaged by score, with the best score; whole if any look at the
    whole image found it."""
    remaining = sorted(found, key=lambda hit: -hit.score)
    faces = []
    while remaining:
        best_box = points_box(remaining[0].points)
        same = [hit for hit in remaining if same_face(best_box, points_box(hit.points))]
        weights = np.array([hit.score for hit in same])
        points = np.tensordot(weights / weights.sum(), np.stack([hit.points for hit in same]), axes=1)
        faces.append(Hit(points, remaining[0].score, any(hit.whole for hit in same)))
        remaining = [hit for hit in remaining if not any(hit is s for s in same)]
    return faces


def same_face(box: Box, other: Box) -> bool:
    """blend's test: boxes overlapping over SAME_FACE_IOU, or one mostly inside the other."""
    return iou(box, other) > SAME_FACE_IOU or containment(box, other) > 0.8


def points_box(points: np.ndarray) -> Box:
    """The box of a face's points (centre, size, landmarks)."""
    (cx, cy), (w, h) = points[0], points[1]
    return Box(round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2))
