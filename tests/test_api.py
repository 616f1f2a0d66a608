import base64

import pytest
from PIL import Image

from conftest import FACE_PHOTOS, NO_FACE_PHOTO, composite, encode, gender_of, pixel_box
from function.boxes import iou
from function.inference import LABELS
from function.settings import DEFAULT_MAX_SIDE, DEFAULT_UPSAMPLE, MAX_BODY_BYTES, RANGES
from response_checks import checking_against_openapi


@pytest.fixture(scope="module")
def client(client):
    """The app's test client, with every response in this module checked against /openapi.json."""
    with checking_against_openapi(client):
        yield client


def post_file(client, data: bytes, path="/v1/faces", name="photo.jpg", **params):
    return client.post(path, files={"file": (name, data, "image/jpeg")}, params=params)


@pytest.mark.parametrize("photo", FACE_PHOTOS, ids=lambda p: p.stem)
def test_single_face_photo(client, photo):
    response = post_file(client, photo.read_bytes())
    assert response.status_code == 200
    body = response.json()
    assert body["image"] == {"width": 250, "height": 250}
    [face] = body["faces"]
    assert face["gender"] == gender_of(photo)
    assert 0.5 < face["confidence"] <= 1 and face["confidence"] == face["scores"][face["gender"]]
    assert abs(sum(face["scores"].values()) - 1) < 1e-6 and set(face["scores"]) == set(LABELS)
    box, relative = face["box"], face["box_relative"]
    assert 60 <= box["x"] + box["width"] / 2 <= 190 and 60 <= box["y"] + box["height"] / 2 <= 190
    assert relative["left"] == pytest.approx(box["x"] / 250) and relative["height"] == pytest.approx(box["height"] / 250)
    assert set(body["timings_ms"]) == {"decode", "detect", "classify", "total"}
    assert body["model"]["name"] and body["model"]["version"]


def test_group_composite_finds_every_face_where_it_is(client):
    canvas, offsets = composite(FACE_PHOTOS, columns=3)
    # each photo alone gives the expected box, shifted by where it was pasted
    expected = []
    for photo, (dx, dy) in zip(FACE_PHOTOS, offsets):
        [face] = post_file(client, photo.read_bytes()).json()["faces"]
        expected.append(({**face["box"], "x": face["box"]["x"] + dx, "y": face["box"]["y"] + dy}, gender_of(photo)))
    faces = post_file(client, encode(canvas, quality=95)).json()["faces"]
    assert len(faces) == len(FACE_PHOTOS)
    areas = [f["box"]["width"] * f["box"]["height"] for f in faces]
    assert areas == sorted(areas, reverse=True), "largest face first"
    for box, gender in expected:
        match = max(faces, key=lambda f: iou(pixel_box(f["box"]), pixel_box(box)))
        assert iou(pixel_box(match["box"]), pixel_box(box)) >= 0.6
        assert match["gender"] == gender


def test_no_face(client):
    body = post_file(client, NO_FACE_PHOTO.read_bytes()).json()
    assert body["faces"] == [] and body["image"] == {"width": 320, "height": 240}


def test_raw_body_and_json_forms_agree_with_multipart(client):
    data = FACE_PHOTOS[0].read_bytes()
    multipart = post_file(client, data).json()["faces"]
    raw = client.post("/v1/faces", content=data, headers={"content-type": "image/jpeg"}).json()["faces"]
    b64 = base64.b64encode(data).decode()
    plain = client.post("/v1/faces", json={"image": b64}).json()["faces"]
    data_url = client.post("/v1/faces", json={"image": f"data:image/jpeg;base64,{b64}"}).json()["faces"]
    assert multipart == raw == plain == data_url and len(raw) == 1


def test_rotated_phone_photo_boxes_are_in_the_upright_image(client):
    upright = Image.open(FACE_PHOTOS[0]).convert("RGB")
    [face] = post_file(client, encode(upright, quality=95)).json()["faces"]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90° counter-clockwise; viewers turn it clockwise
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    body = post_file(client, encode(stored, quality=95, exif=exif.tobytes())).json()
    [rotated] = body["faces"]
    assert rotated["gender"] == face["gender"]
    assert abs(rotated["box"]["x"] - face["box"]["x"]) <= 6 and abs(rotated["box"]["y"] - face["box"]["y"]) <= 6


def test_detection_parameters(client):
    canvas = composite(FACE_PHOTOS[:2], columns=2)[0]
    data = encode(canvas.resize((canvas.width * 2, canvas.height * 2)), quality=95)
    downscaled = post_file(client, data, max_side=canvas.width, upsample=1).json()["faces"]
    full = post_file(client, data, max_side=4096, upsample=0).json()["faces"]
    cnn = post_file(client, data, detector="cnn", upsample=0, max_side=canvas.width).json()["faces"]
    assert len(downscaled) == len(full) == len(cnn) == 2
    for a, b in zip(sorted(downscaled, key=lambda f: f["box"]["x"]), sorted(full, key=lambda f: f["box"]["x"])):
        assert abs(a["box"]["x"] - b["box"]["x"]) <= 20


def test_seed_compatible_endpoint(client):
    canvas, _ = composite([FACE_PHOTOS[0], FACE_PHOTOS[-1]], columns=2)  # a woman and a man
    body = post_file(client, encode(canvas, quality=95), path="/predictModel").json()
    assert set(body["faces"]) == {"face1", "face2"}
    v1 = post_file(client, encode(canvas, quality=95)).json()["faces"]
    for key, face in zip(("face1", "face2"), v1):
        assert body["faces"][key] == {**face["box"], "gender": face["gender"].capitalize()}
    assert {face["gender"] for face in body["faces"].values()} == {"Female", "Male"}  # the seed's CAT2CLASS
    assert body["meta_info"]["num_faces"] == 2


def test_seed_endpoint_reports_width_and_height_the_right_way_round(client, monkeypatch):
    from function import pipeline
    from function.boxes import Box

    monkeypatch.setattr(pipeline, "detect_faces", lambda *_: [Box(left=10, top=20, right=110, bottom=60)])
    face = post_file(client, FACE_PHOTOS[0].read_bytes(), path="/predictModel").json()["faces"]["face1"]
    assert (face["x"], face["y"], face["width"], face["height"]) == (10, 20, 100, 40)


def test_health_model_and_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    model = client.get("/v1/model").json()
    assert {"name", "version", "onnx_sha256", "source_checkpoint_sha256", "input"} <= set(model)
    assert model["input"]["labels"] == list(LABELS)
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "multipart/form-data" in schema["paths"]["/v1/faces"]["post"]["requestBody"]["content"]


def bomb() -> bytes:
    return encode(Image.new("1", (20000, 20000)), "PNG")


ERRORS = [
    ("empty raw body", dict(content=b"", headers={"content-type": "image/jpeg"}), 400, "empty_image"),
    ("0-byte file", dict(files={"file": ("a.jpg", b"", "image/jpeg")}), 400, "empty_image"),
    ("text", dict(content=b"hello", headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
    ("no content type", dict(content=b"hello"), 415, "unsupported_media_type"),
    ("not an image", dict(content=b"hello", headers={"content-type": "image/png"}), 400, "invalid_image"),
    ("bad json", dict(content=b"{nope", headers={"content-type": "application/json"}), 422, "invalid_json"),
    ("json without image", dict(json={"img": "abc"}), 422, "missing_image"),
    ("bad base64", dict(json={"image": "@@@not base64@@@"}), 400, "invalid_base64"),
    ("wrong field", dict(files={"photo": ("a.jpg", b"abc", "image/jpeg")}), 422, "missing_file"),
    ("bad multipart", dict(content=b"garbage", headers={"content-type": "multipart/form-data"}), 422, "invalid_multipart"),
    ("bad parameter", dict(content=b"x", headers={"content-type": "image/png"}, params={"upsample": 9}), 422, "invalid_parameter"),
    ("bad detector", dict(content=b"x", headers={"content-type": "image/png"}, params={"detector": "x"}), 422, "invalid_parameter"),
    ("tiny max_side", dict(content=b"x", headers={"content-type": "image/png"}, params={"max_side": 1}), 422, "invalid_parameter"),
]


@pytest.mark.parametrize("name,request_args,status,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_client_errors_are_json_4xx(client, name, request_args, status, code):
    response = client.post("/v1/faces", **request_args)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_truncated_and_corrupt_images(client):
    data = FACE_PHOTOS[0].read_bytes()
    assert post_file(client, data[: len(data) // 2]).status_code == 400
    png = bytearray(encode(Image.open(FACE_PHOTOS[0]), "PNG"))
    png[200:260] = b"\x00" * 60
    assert post_file(client, bytes(png), name="x.png").status_code == 400


def test_size_limits(client):
    big = b"\xff\xd8" + b"\x00" * (MAX_BODY_BYTES + 10)
    response = client.post("/v1/faces", content=big, headers={"content-type": "image/jpeg"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    response = post_file(client, bomb(), name="bomb.png")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_pixels"


def test_the_model_publishes_each_options_range_and_the_default_in_force(client):
    model = client.get("/v1/model").json()
    defaults = {"upsample": DEFAULT_UPSAMPLE, "max_side": DEFAULT_MAX_SIDE, "min_confidence": model["min_confidence"]}
    assert model["parameters"] == {
        name: {"minimum": low, "maximum": high, "default": defaults[name]} for name, (low, high) in RANGES.items()
    }


def test_unknown_route_and_method(client):
    assert client.get("/v2/nothing").json()["error"]["code"] == "not_found"
    wrong_method = client.get("/v1/faces")  # the web page's static files own GET /
    assert wrong_method.status_code in (404, 405) and wrong_method.json()["error"]["code"]


def test_unexpected_failure_is_a_json_500_without_internals(client, monkeypatch):
    from function import service

    def explode(*_):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.pipeline(), "analyze", explode)
    response = post_file(client, FACE_PHOTOS[0].read_bytes())
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "The server failed to process the image."}}


def test_cors_preflight(client):
    response = client.options(
        "/v1/faces",
        headers={"origin": "https://example.org", "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://example.org")
