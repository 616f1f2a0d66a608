"""Face box geometry: a box in pixels, its overlap with another, duplicates merged, and a
fitted map that moves one detector's boxes to where another draws them."""

from __future__ import annotations

from dataclasses import dataclass


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
