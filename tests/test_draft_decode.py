"""JPEGs decoded at a reduced scale (Pillow's draft) when detection needs fewer pixels: when it
happens, where the boxes land, and which pixels each face's classifier crop is cut from."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import FACE_PHOTOS, encode
from function.errors import InvalidImage, PayloadTooLarge
from function.boxes import Box, iou
from function.images import UploadedImage
from function.pipeline import FaceGenderPipeline, crop_reductions
from function.preprocess import ModelSpec, crop_face, to_input
from function.settings import MAX_PIXELS, Settings

MAX_SIDE = 800  # detection's size here: photos of 1600 px and more are decoded at 1/2 or less
CANVAS = (1800, 1300)
BIG_FACE_PHOTO, SMALL_FACE_PHOTO = FACE_PHOTOS[0], FACE_PHOTOS[3]  # a woman and a man
# The fixtures' faces are ~100 px: enlarged 3x, the face's crop region (1.4x the box) is well
# over the classifier's 128 px input in the 1/2 draft; at 1.2x it is under it there, but over
# it in the photo.
BIG_SCALE, SMALL_SCALE = 3.0, 1.2
SPEC = ModelSpec(input_size=128, margin=0.2, scale=1 / 255, mean=(0, 0, 0), std=(1, 1, 1), labels=("a", "b"))


def two_faces_photo() -> Image.Image:
    canvas = Image.new("RGB", CANVAS, (120, 130, 125))
    placed = ((BIG_FACE_PHOTO, BIG_SCALE, (100, 200)), (SMALL_FACE_PHOTO, SMALL_SCALE, (1200, 400)))
    for path, scale, position in placed:
        photo = Image.open(path).convert("RGB")
        canvas.paste(photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS), position)
    return canvas


def stored_with_orientation(upright: Image.Image, orientation: int) -> bytes:
    """JPEG bytes whose pixels, turned as EXIF `orientation` says, show `upright`."""
    stored = {1: upright, 3: upright.transpose(Image.Transpose.ROTATE_180),
              6: upright.transpose(Image.Transpose.ROTATE_90), 8: upright.transpose(Image.Transpose.ROTATE_270)}
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored[orientation], "JPEG", quality=92, exif=exif.tobytes())


@pytest.fixture(scope="module")
def pipeline():
    pipeline = FaceGenderPipeline(Settings.from_env())
    pipeline.warm_up()
    return pipeline


@pytest.fixture
def decodes(monkeypatch):
    """The reductions UploadedImage.decode is called with, in order."""
    calls = []
    decode = UploadedImage.decode

    def spy(self, reduction=1):
        calls.append(reduction)
        return decode(self, reduction)

    monkeypatch.setattr(UploadedImage, "decode", spy)
    return calls


@pytest.mark.parametrize(
    "size, longer_side, reduction",
    [
        ((3300, 2000), 1600, 2),
        ((3100, 2000), 1600, 1),
        ((2000, 6500), 1600, 4),
        ((1000, 800), 1600, 1),
        ((1300, 900), 160, 8),
        ((4000, 5), 400, 4),  # a reduction bigger than the shorter side would not be exact
    ],
)
def test_jpeg_reduction_is_the_largest_that_keeps_what_detection_needs(size, longer_side, reduction):
    upload = UploadedImage(encode(Image.new("RGB", size), "JPEG"), MAX_PIXELS)
    assert upload.reduction_for(longer_side) == reduction
    assert upload.decode(reduction).size == tuple(-(-side // reduction) for side in size)


def test_a_phones_multi_picture_jpeg_is_drafted_from_its_first_picture():
    buffer = io.BytesIO()
    first, second = Image.new("RGB", (3400, 2000), (200, 10, 10)), Image.new("RGB", (3400, 2000))
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    upload = UploadedImage(buffer.getvalue(), MAX_PIXELS)
    assert upload.reduction_for(1600) == 2
    half = upload.decode(2)
    assert half.size == (1700, 1000) and half.getpixel((5, 5))[0] > 180


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_other_formats_are_decoded_whole(fmt):
    upload = UploadedImage(encode(Image.new("RGB", (3400, 2000)), fmt), MAX_PIXELS)
    assert upload.reduction_for(1600) == 1
    with pytest.raises(ValueError):
        upload.decode(2)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_draft_is_turned_upright_like_the_full_image(orientation):
    upright = two_faces_photo()
    upload = UploadedImage(stored_with_orientation(upright, orientation), MAX_PIXELS)
    assert upload.size == upright.size
    full, half = upload.decode(1), upload.decode(2)
    assert full.size == upright.size and half.size == (upright.width // 2, upright.height // 2)
    shrunk = np.asarray(full.reduce(2), dtype=float)
    assert np.abs(np.asarray(half, dtype=float) - shrunk).mean() < 3  # same picture, same way up


def test_big_jpeg_takes_the_draft_path_and_small_ones_and_pngs_do_not(pipeline, decodes):
    photo = two_faces_photo()
    pipeline.analyze(encode(photo, "JPEG"), "hog", 1, MAX_SIDE)
    assert decodes[0] == 2
    decodes.clear()
    pipeline.analyze(encode(photo, "JPEG"), "hog", 1, CANVAS[0] // 2 + 1)
    assert decodes == [1]
    decodes.clear()
    pipeline.analyze(encode(photo, "PNG"), "hog", 1, MAX_SIDE)
    assert decodes == [1]


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_answers_and_boxes_match_the_full_decode(pipeline, orientation):
    data = stored_with_orientation(two_faces_photo(), orientation)
    old = pipeline.analyze(data, "hog", 1, MAX_SIDE, draft=False)
    new = pipeline.analyze(data, "hog", 1, MAX_SIDE)
    assert (new.width, new.height) == (old.width, old.height) == CANVAS
    assert len(old.faces) == len(new.faces) == 2
    for before, after in zip(old.faces, new.faces):  # both sorted by area
        assert iou(before.box, after.box) > 0.9
        assert after.gender == before.gender
        assert abs(after.confidence - before.confidence) < 0.05


def test_a_small_face_is_cut_from_the_full_image_and_a_big_one_from_the_draft(pipeline, decodes):
    data = encode(two_faces_photo(), "JPEG", quality=92)
    analysis = pipeline.analyze(data, "hog", 1, MAX_SIDE)
    assert decodes == [2, 1]
    big, small = analysis.faces
    spec = pipeline.classifier.spec
    upload = UploadedImage(data, MAX_PIXELS)
    crops = [crop_face(upload.decode(2), big.box.scaled(1 / 2), spec), crop_face(upload.decode(1), small.box, spec)]
    expected = pipeline.classifier.probabilities(to_input(crops, spec))
    for face, probabilities in zip((big, small), expected):
        assert [face.scores[label] for label in spec.labels] == pytest.approx(probabilities.tolist(), abs=1e-6)


def test_crop_reductions_keep_the_input_size_or_take_the_finest_needed():
    # The crop region is 1.4x the box: with a 128 px input, a box needs 91.4 px at the scale.
    enough_at_8 = Box(0, 0, 740, 740)
    enough_at_4 = Box(0, 0, 370, 370)
    enough_at_2 = Box(0, 0, 190, 190)
    enough_at_1 = Box(0, 0, 100, 100)
    too_small = Box(0, 0, 50, 50)
    assert crop_reductions([enough_at_4], 4, SPEC) == [4]
    assert crop_reductions([enough_at_4, enough_at_2], 4, SPEC) == [4, 2]
    assert crop_reductions([enough_at_4, enough_at_2, enough_at_1], 4, SPEC) == [4, 1, 1]
    assert crop_reductions([too_small, enough_at_8], 8, SPEC) == [1, 8]
    assert crop_reductions([enough_at_1], 1, SPEC) == [1]
    assert crop_reductions([], 2, SPEC) == []


def test_truncated_big_jpeg_is_still_rejected(pipeline):
    data = encode(two_faces_photo(), "JPEG")
    with pytest.raises(InvalidImage):
        pipeline.analyze(data[: len(data) // 2], "hog", 1, MAX_SIDE)


def test_pixel_limit_is_checked_before_any_decode(decodes):
    data = encode(Image.new("RGB", (4000, 3000)), "JPEG")
    strict = FaceGenderPipeline(replace(Settings.from_env(), max_pixels=4000 * 3000 - 1))
    with pytest.raises(PayloadTooLarge):
        strict.analyze(data, "hog", 1, 1600)
    assert decodes == []
