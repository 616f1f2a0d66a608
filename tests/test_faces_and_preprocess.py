import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import FACE_PHOTOS, NO_FACE_PHOTO, composite
from function.boxes import Box
from function.detectors import detect_faces, reference_boxes
from function.preprocess import ModelSpec, crop_face, preprocess, to_input

REPO = Path(__file__).resolve().parent.parent


def test_one_face_per_fixture_photo():
    for path in FACE_PHOTOS:
        boxes = reference_boxes(Image.open(path).convert("RGB"))
        assert len(boxes) == 1, path.name
        box = boxes[0]
        assert 50 <= box.left < 100 and 50 <= box.top < 110 and 80 <= box.width <= 130, (path.name, box)


def test_no_face_photo():
    assert reference_boxes(Image.open(NO_FACE_PHOTO).convert("RGB")) == []


def test_boxes_map_back_to_original_pixels_when_downscaled():
    small, offsets = composite(FACE_PHOTOS[:4], columns=2)
    reference = sorted(detect_faces(small, "hog", 0, 1600), key=lambda b: (b.top, b.left))
    big = small.resize((small.width * 3, small.height * 3), Image.BILINEAR)
    mapped = sorted(detect_faces(big, "hog", 0, max(small.size)), key=lambda b: (b.top, b.left))
    assert len(reference) == len(mapped) == 4
    for ref, box in zip(reference, mapped):
        for ours, theirs in zip((box.left, box.top, box.right, box.bottom), (ref.left, ref.top, ref.right, ref.bottom)):
            assert abs(ours - 3 * theirs) <= 6


def test_boxes_are_clipped_to_the_image():
    photo = Image.open(FACE_PHOTOS[0]).convert("RGB")
    box = reference_boxes(photo)[0]
    cut = photo.crop((box.left + box.width // 3, 0, photo.width, photo.height))  # face cut at the left edge
    for found in reference_boxes(cut):
        assert 0 <= found.left <= found.right <= cut.width and 0 <= found.top <= found.bottom <= cut.height
    assert Box(-5, -3, 70, 90).clipped(50, 60) == Box(0, 0, 50, 60)


def test_detection_never_loads_the_landmark_encoding_or_cnn_models():
    # in a fresh process: other tests in this one may have used the CNN detector
    script = f"""
from PIL import Image
from function.detectors import reference_boxes
from function.faces import face_recognition
assert len(reference_boxes(Image.open({str(FACE_PHOTOS[0])!r}).convert("RGB"))) == 1
api = face_recognition().api
print(api.pose_predictor_68_point._model, api.face_encoder._model, api.cnn_face_detector._model)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "None"]


def test_cnn_detector_loads_on_demand():
    boxes = detect_faces(Image.open(FACE_PHOTOS[0]).convert("RGB"), "cnn", 0, 1600)
    assert len(boxes) == 1


SPEC = ModelSpec(input_size=32, margin=0.25, scale=1 / 255, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), labels=("a", "b"))


def test_crop_adds_the_margin_and_pads_with_black_outside():
    image = Image.new("RGB", (100, 100), (200, 100, 50))
    crop = crop_face(image, Box(0, 0, 40, 40), SPEC)  # margin 10 px each side, 10 px beyond top/left
    assert crop.size == (32, 32)
    pixels = np.asarray(crop).astype(int)
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[-1, -1].tolist() == [200, 100, 50]


def test_crops_of_training_size_take_the_exact_resize_and_big_ones_stay_close():
    spec = replace(SPEC, input_size=128)  # the shipped size; a ~150 px crop region like training's
    photo = Image.open(FACE_PHOTOS[0]).convert("RGB")
    box = reference_boxes(photo)[0]

    def exact(image, box):
        dx, dy = box.width * spec.margin, box.height * spec.margin
        region = (round(box.left - dx), round(box.top - dy), round(box.right + dx), round(box.bottom + dy))
        return np.asarray(image.crop(region).resize((128, 128), Image.BILINEAR)).astype(int)

    assert np.array_equal(np.asarray(crop_face(photo, box, spec)), exact(photo, box))
    big = photo.resize((photo.width * 8, photo.height * 8), Image.BICUBIC)
    big_box = Box(box.left * 8, box.top * 8, box.right * 8, box.bottom * 8)
    shrunk_first = np.asarray(crop_face(big, big_box, spec)).astype(int)
    assert not np.array_equal(shrunk_first, exact(big, big_box))
    assert np.abs(shrunk_first - exact(big, big_box)).mean() < 2


def test_normalisation_and_layout():
    crop = Image.new("RGB", (32, 32), (255, 102, 0))
    batch = to_input([crop, crop], SPEC)
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == np.float32
    expected = (np.array([1.0, 0.4, 0.0]) - np.array(SPEC.mean)) / np.array(SPEC.std)
    assert np.allclose(batch[1, :, 5, 7], expected, atol=1e-6)


def test_preprocess_is_crop_then_normalise():
    image = Image.open(FACE_PHOTOS[0]).convert("RGB")
    boxes = reference_boxes(image)
    assert np.array_equal(preprocess(image, boxes, SPEC), to_input([crop_face(image, boxes[0], SPEC)], SPEC))


def test_spec_round_trips_through_json():
    assert ModelSpec.from_json(SPEC.to_json()) == SPEC
