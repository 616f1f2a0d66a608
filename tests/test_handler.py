"""The Lambda entry point with API Gateway REST (payload v1) and HTTP API (v2) events."""

import base64
import json

import pytest

from conftest import FACE_PHOTOS, gender_of
from events.generate import BOUNDARY, http_api_v2, multipart, rest_api_v1

PHOTO = FACE_PHOTOS[0]


def bodies():
    data = PHOTO.read_bytes()
    return {
        "multipart": (multipart(data), f"multipart/form-data; boundary={BOUNDARY}"),
        "raw": (data, "image/jpeg"),
        "json": (json.dumps({"image": base64.b64encode(data).decode()}).encode(), "application/json"),
    }


@pytest.fixture(scope="module")
def handler():
    from function.handler import handler

    return handler


def invoke(handler, event):
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("make_event", [rest_api_v1, http_api_v2], ids=["rest-v1", "http-v2"])
@pytest.mark.parametrize("form", ["multipart", "raw", "json"])
def test_faces_through_lambda(handler, make_event, form):
    body, content_type = bodies()[form]
    status, payload = invoke(handler, make_event("POST", "/v1/faces", body, content_type, {"upsample": "1"}))
    assert status == 200
    [face] = payload["faces"]
    assert face["gender"] == gender_of(PHOTO)


def test_json_body_not_base64_encoded(handler):
    body, content_type = bodies()["json"]
    status, payload = invoke(handler, http_api_v2("POST", "/v1/faces", body, content_type, binary=False))
    assert status == 200 and len(payload["faces"]) == 1


@pytest.mark.parametrize("make_event", [rest_api_v1, http_api_v2], ids=["rest-v1", "http-v2"])
def test_errors_and_health_through_lambda(handler, make_event):
    assert invoke(handler, make_event("GET", "/healthz", None, None)) == (200, {"status": "ok"})
    status, payload = invoke(handler, make_event("POST", "/v1/faces", b"text", "text/plain"))
    assert status == 415 and payload["error"]["code"] == "unsupported_media_type"
    status, payload = invoke(handler, make_event("POST", "/v1/faces", b"\xff\xd8broken", "image/jpeg"))
    assert status == 400 and payload["error"]["code"] == "invalid_image"
    status, payload = invoke(handler, make_event("POST", "/v1/faces", b"x", "image/png", {"upsample": "7"}))
    assert status == 422


def test_seed_endpoint_through_lambda(handler):
    body, content_type = bodies()["multipart"]
    status, payload = invoke(handler, http_api_v2("POST", "/predictModel", body, content_type))
    assert status == 200 and payload["faces"]["face1"]["gender"] == gender_of(PHOTO).capitalize()  # the seed's "Female"/"Male"
