"""Face box geometry: a box in pixels, its overlap with another, duplicates merged, and a
fitted map that moves one detector's boxes to where another draws them, from the box alone or
from the box and the face's landmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """A face box in pixels: left/top inclusive, right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return self.width * self.height

    def scaled(self, factor: float) -> "Box":
        return Box(*(round(v * factor) for v in (self.left, self.top, self.right, self.bottom)))

    def intersection_area(self, other: "Box") -> int:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        return max(0, width) * max(0, height)

    def shifted(self, dx: int, dy: int) -> "Box":
        return Box(self.left + dx, self.top + dy, self.right + dx, self.bottom + dy)

    def clipped(self, width: int, height: int) -> "Box":
        return Box(
            min(max(self.left, 0), width),
            min(max(self.top, 0), height),
            min(max(self.right, 0), width),
            min(max(self.bottom, 0), height),
        )


def iou(a: Box, b: Box) -> float:
    """Intersection over union."""
    inter = a.intersection_area(b)
    return inter / max(1, a.area + b.area - inter)


def containment(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area: 1 when one box contains the other."""
    return a.intersection_area(b) / max(1, min(a.area, b.area))


def merge_duplicates(boxes: list[Box]) -> list[Box]:
    """Boxes in order of preference, without later ones that are mostly inside a kept one."""
    kept: list[Box] = []
    for box in boxes:
        if all(containment(box, other) < 0.5 for other in kept):
            kept.append(box)
    return kept


# (kx, ky, sx, sy): target centre = source centre + k * source size, target size = s * source size.
BoxMap = tuple[float, float, float, float]
IDENTITY: BoxMap = (0.0, 0.0, 1.0, 1.0)


def map_box(box: Box, mapping: BoxMap) -> Box:
    """A box where the detector `mapping` was fitted to would have drawn it."""
    kx, ky, sx, sy = mapping
    cx = (box.left + box.right) / 2 + kx * box.width
    cy = (box.top + box.bottom) / 2 + ky * box.height
    half_w, half_h = sx * box.width / 2, sy * box.height / 2
    return Box(round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))


@dataclass(frozen=True)
class LandmarkMap:
    """A box where the detector it was fitted to would have drawn it, from a face's box and
    landmarks. In the box's own units (its centre the origin, its width and height the units of
    x and y), the target's centre x, centre y, width and height are each a row of weights on
    (1, then each landmark's x and y). With zero landmark weights it is a BoxMap. `square`
    makes the box square (side the mean of width and height, centre kept), as HOG draws them."""

    rows: tuple[tuple[float, ...], ...]  # four rows: centre x, centre y, width, height
    square: bool = False

    @classmethod
    def from_box_map(cls, mapping: BoxMap, landmarks: int) -> "LandmarkMap":
        kx, ky, sx, sy = mapping
        return cls(tuple((value,) + (0.0,) * 2 * landmarks for value in (kx, ky, sx, sy)))

    def box(self, points: np.ndarray) -> Box:
        """points: the face's box centre (x, y), its size (width, height), then its landmarks (x, y)."""
        (cx, cy), (w, h) = points[0], points[1]
        kx, ky, sx, sy = np.asarray(self.rows) @ landmark_features(points)
        cx, cy, half_w, half_h = cx + kx * w, cy + ky * h, sx * w / 2, sy * h / 2
        if self.square:
            half_w = half_h = (half_w + half_h) / 2
        return Box(round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))


def landmark_features(points: np.ndarray) -> np.ndarray:
    """1, then each landmark's offset from the box's centre in units of its width and height."""
    return np.concatenate([[1.0], ((points[2:] - points[0]) / points[1]).ravel()])
