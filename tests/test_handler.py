"""The Lambda entry point with API Gateway REST (payload v1) and HTTP API (v2) events."""

import base64
import json

import pytest

from conftest import FACE_PHOTOS, gender_of

PHOTO = FACE_PHOTOS[0]


def multipart(data: bytes, field="file") -> tuple[bytes, str]:
    boundary = "----lambda-test-boundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"p.jpg\"\r\n"
        f"Content-Type: image/jpeg\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def bodies():
    data = PHOTO.read_bytes()
    body, content_type = multipart(data)
    return {
        "multipart": (body, content_type),
        "raw": (data, "image/jpeg"),
        "json": (json.dumps({"image": base64.b64encode(data).decode()}).encode(), "application/json"),
    }


def v1_event(method, path, body: bytes | None, content_type: str | None, query=None, encode=True):
    headers = {"host": "abc.execute-api.eu-west-1.amazonaws.com", **({"content-type": content_type} if content_type else {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/Prod{path}",
                           "stage": "Prod", "identity": {"sourceIp": "203.0.113.1"}},
        "body": (base64.b64encode(body).decode() if encode else body.decode()) if body is not None else None,
        "isBase64Encoded": bool(body is not None and encode),
    }


def v2_event(method, path, body: bytes | None, content_type: str | None, query=None, encode=True):
    headers = {"host": "abc.execute-api.eu-west-1.amazonaws.com", **({"content-type": content_type} if content_type else {})}
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.1", "userAgent": "test"},
                           "stage": "$default", "routeKey": "$default"},
        "isBase64Encoded": bool(body is not None and encode),
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if encode else body.decode()
    return event


@pytest.fixture(scope="module")
def handler():
    from function.handler import handler

    return handler


def invoke(handler, event):
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("make_event", [v1_event, v2_event], ids=["rest-v1", "http-v2"])
@pytest.mark.parametrize("form", ["multipart", "raw", "json"])
def test_faces_through_lambda(handler, make_event, form):
    body, content_type = bodies()[form]
    status, payload = invoke(handler, make_event("POST", "/v1/faces", body, content_type, {"upsample": "1"}))
    assert status == 200
    [face] = payload["faces"]
    assert face["gender"] == gender_of(PHOTO)


@pytest.mark.parametrize("make_event", [v1_event, v2_event], ids=["rest-v1", "http-v2"])
def test_json_body_not_base64_encoded(handler, make_event):
    body, content_type = bodies()["json"]
    status, payload = invoke(handler, make_event("POST", "/v1/faces", body, content_type, encode=False))
    assert status == 200 and len(payload["faces"]) == 1


@pytest.mark.parametrize("make_event", [v1_event, v2_event], ids=["rest-v1", "http-v2"])
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
    status, payload = invoke(handler, v2_event("POST", "/predictModel", body, content_type))
    assert status == 200 and payload["faces"]["face1"]["gender"] == gender_of(PHOTO)
