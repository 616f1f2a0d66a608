"""Detection spread over threads in overlapping strips finds exactly the faces an untiled
face_recognition scan finds, including faces lying on the seams between strips."""

import random
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import numpy as np
import pytest

from bench.scenes import crowd, face_photos, matched
from conftest import FACE_PHOTOS
from function.boxes import Box, iou, merge_duplicates
from function.detectors import detect_faces
from function.faces import face_recognition, seam_overlap, strip_spans

SIZE = (1600, 900)


@pytest.fixture(scope="module")
def photos():
    return face_photos(FACE_PHOTOS)


def untiled(image, upsample):
    locations = face_recognition().face_locations(np.asarray(image), number_of_times_to_upsample=upsample)
    return [Box(left, top, right, bottom) for top, right, bottom, left in locations]


def seam_scene(photos, threads: int, widths: list[int], seed: int, size=SIZE, upsample: int = 1):
    """Faces centred on the strips' cut lines first (a bit to either side too), the rest anywhere."""
    vertical = size[1] > size[0]
    length, across_length = (size[1], size[0]) if vertical else size
    spans = strip_spans(length, threads, seam_overlap(upsample), length / 16)
    cuts = sorted({end for _, end in spans[:-1]} | {start for start, _ in spans[1:]})
    rows = [round(across_length * f) for f in (0.12, 0.37, 0.62, 0.87)]
    centres = [
        (row, cut + shift) if vertical else (cut + shift, row)
        for i, row in enumerate(rows)
        for cut, shift in zip(cuts, cycle((-20, 0, 20)) if i % 2 else cycle((0, 20, -20)))
    ]
    scene = crowd("seams", size, photos, widths, random.Random(seed), centres)
    across = sum(
        (box.top if vertical else box.left) < cut < (box.bottom if vertical else box.right)
        for box in scene.faces
        for cut in cuts
    )
    return scene, across


def assert_same_faces(found: list[Box], reference: list[Box], size: tuple[int, int]):
    assert len(found) == len(reference), (found, reference)
    for box in reference:
        assert max(iou(box, other) for other in found) >= 0.5, (box, found)
    for box in found:
        assert 0 <= box.left < box.right <= size[0] and 0 <= box.top < box.bottom <= size[1]
        assert sum(iou(box, other) >= 0.5 for other in found) == 1, ("duplicate", box, found)


@pytest.mark.parametrize(
    "threads, widths, seed, size",
    [
        (2, [40, 60, 100, 130, 150, 170, 200, 220, 80, 120, 50, 190], 1, SIZE),
        (2, [120, 140, 160, 110, 130, 150, 220, 45, 180, 70, 90], 2, SIZE),
        (3, [120, 150, 170, 100, 130, 160, 140, 60, 200, 40], 3, SIZE),
        (2, [130, 150, 110, 170, 90, 60, 210], 4, SIZE[::-1]),
    ],
)
def test_tiled_detection_finds_what_an_untiled_scan_finds(photos, threads, widths, seed, size):
    scene, across = seam_scene(photos, threads, widths, seed, size)
    assert across >= 3  # faces do lie across the cuts
    reference = untiled(scene.image, 1)
    assert matched(scene.faces, reference) == len(scene.faces)  # fair: a full scan finds every face
    assert_same_faces(detect_faces(scene.image, "hog", 1, 1600, threads), reference, scene.image.size)


def test_tiled_detection_at_upsample_2(photos):
    scene, across = seam_scene(photos, 2, [30, 45, 60, 80, 100, 25, 70], seed=5, size=(1000, 560), upsample=2)
    assert across >= 3
    reference = untiled(scene.image, 2)
    assert_same_faces(detect_faces(scene.image, "hog", 2, 1600, 2), reference, scene.image.size)


def test_one_thread_and_small_images_take_the_plain_path(photos):
    scene, _ = seam_scene(photos, 2, [120, 150, 90], seed=6)
    assert detect_faces(scene.image, "hog", 1, 1600, 1) == untiled(scene.image, 1)
    small = scene.image.resize((640, 360))
    assert detect_faces(small, "hog", 1, 1600, 2) == untiled(small, 1)


def test_concurrent_detections_do_not_mix_up_images(photos):
    # dlib's detector objects are not thread-safe (shared, this returns thousands of boxes);
    # each thread gets its own.
    scenes = [seam_scene(photos, 2, [100, 140, 60, 180], seed)[0] for seed in range(4)]
    images = [scene.image.crop((0, 0, 700 + 100 * i, 900)) for i, scene in enumerate(scenes)]
    alone = [untiled(image, 1) for image in images]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda image: untiled(image, 1), images))
    assert together == alone


def test_strips_cover_the_image_with_the_overlap():
    for length, count, overlap, lighter in [(1600, 2, 180, 100), (900, 3, 180, 56), (5000, 4, 90, 312)]:
        spans = strip_spans(length, count, overlap, lighter)
        assert spans[0][0] == 0 and spans[-1][1] == length and len(spans) == count
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end - start == overlap
        widths = [end - start for start, end in spans]
        assert abs(widths[0] - widths[-1] - lighter) <= count


def test_duplicates_and_partial_boxes_merge_into_the_first():
    whole = Box(100, 100, 200, 200)
    same_face_other_strip = Box(102, 98, 203, 199)
    cut_at_seam = Box(150, 105, 200, 195)
    neighbour = Box(205, 100, 300, 200)
    assert merge_duplicates([whole, same_face_other_strip, cut_at_seam, neighbour]) == [whole, neighbour]
