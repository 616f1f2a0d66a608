"""Writes the sample API Gateway events in events/ from a test fixture photo.

    python events/generate.py

Shapes follow `sam local generate-event apigateway http-api-proxy` (HTTP API, payload 2.0:
what template.yaml deploys) and `... aws-proxy` (REST API, payload 1.0), trimmed to the
fields a proxy integration fills for an anonymous request. Binary bodies are base64-encoded
(isBase64Encoded: true), as API Gateway delivers them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

EVENTS_DIR = Path(__file__).resolve().parent
PHOTO = EVENTS_DIR.parent / "tests" / "fixtures" / "faces" / "female_Heidi_Klum_0001.jpg"
HOST = "abc123defg.execute-api.eu-west-1.amazonaws.com"
BOUNDARY = "----faces-sample-boundary"


def multipart(data: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def http_api_v2(method: str, path: str, body: bytes | None, content_type: str | None,
                query: dict[str, str] | None = None, binary: bool = True) -> dict:
    headers = {"accept": "application/json", "host": HOST, "user-agent": "curl/8.5.0"}
    if content_type:
        headers |= {"content-length": str(len(body or b"")), "content-type": content_type}
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": HOST.split(".")[0],
            "domainName": HOST,
            "domainPrefix": HOST.split(".")[0],
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "requestId": "sample-request-id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:13:40:00 +0000",
            "timeEpoch": 1795873200000,
        },
        "isBase64Encoded": body is not None and binary,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if binary else body.decode()
    return event


def rest_api_v1(method: str, path: str, body: bytes | None, content_type: str | None,
                query: dict[str, str] | None = None) -> dict:
    """A REST API proxy event on stage Prod, with binaryMediaTypes */* (every body base64)."""
    headers = {"Accept": "application/json", "Host": HOST, "User-Agent": "curl/8.5.0"}
    if content_type:
        headers |= {"Content-Length": str(len(body or b"")), "Content-Type": content_type}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "Prod",
            "requestId": "sample-request-id",
            "requestTimeEpoch": 1795873200000,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/Prod{path}",
            "apiId": HOST.split(".")[0],
            "protocol": "HTTP/1.1",
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def sample_events() -> dict[str, dict]:
    photo = PHOTO.read_bytes()
    form = f"multipart/form-data; boundary={BOUNDARY}"
    as_json = json.dumps({"image": base64.b64encode(photo).decode()}).encode()
    return {
        "http-v2-multipart": http_api_v2("POST", "/v1/faces", multipart(photo), form),
        "http-v2-raw-jpeg": http_api_v2("POST", "/v1/faces", photo, "image/jpeg", {"upsample": "1", "detector": "hog"}),
        "http-v2-json": http_api_v2("POST", "/v1/faces", as_json, "application/json", binary=False),
        "http-v2-predict-model": http_api_v2("POST", "/predictModel", multipart(photo), form),
        "http-v2-healthz": http_api_v2("GET", "/healthz", None, None),
        "http-v2-not-an-image": http_api_v2("POST", "/v1/faces", b"this is not a photo", "image/jpeg"),
        "http-v2-text-plain": http_api_v2("POST", "/v1/faces", b"hello", "text/plain", binary=False),
        "rest-v1-multipart": rest_api_v1("POST", "/v1/faces", multipart(photo), form),
        "rest-v1-raw-jpeg": rest_api_v1("POST", "/v1/faces", photo, "image/jpeg", {"upsample": "1"}),
        "rest-v1-json": rest_api_v1("POST", "/v1/faces", as_json, "application/json"),
    }


def main() -> None:
    for name, event in sample_events().items():
        (EVENTS_DIR / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    main()
