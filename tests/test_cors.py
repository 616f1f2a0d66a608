"""CORS: the allowed origins come from FACES_CORS_ORIGINS (read at start-up, so a real server
is started with it set); the page's origin gets through preflight and can read answers and
errors; any other origin gets no Access-Control-Allow-Origin."""

from __future__ import annotations

import httpx
import pytest

from conftest import FACE_PHOTOS
from live_server import live_server

PAGE = "https://faces.example.org"
OTHER_PAGE = "http://localhost:8000"
STRANGER = "https://evil.example.com"
PREFLIGHT = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}


@pytest.fixture(scope="module")
def http():
    # Spaces around the comma, as people write lists.
    with live_server(env={"FACES_CORS_ORIGINS": f"{PAGE} , {OTHER_PAGE}"}) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.mark.parametrize("origin", [PAGE, OTHER_PAGE])
def test_preflight_from_the_pages_origin(http, origin):
    response = http.options("/v1/faces", headers={"origin": origin, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


def test_answers_and_errors_are_readable_by_the_page(http):
    photo = FACE_PHOTOS[0].read_bytes()
    answer = http.post("/v1/faces", content=photo, headers={"origin": PAGE, "content-type": "image/jpeg"})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == PAGE
    error = http.post("/v1/faces", content=b"hello", headers={"origin": PAGE, "content-type": "text/plain"})
    assert error.status_code == 415 and error.headers["access-control-allow-origin"] == PAGE


@pytest.mark.parametrize("origin", [STRANGER, "null", PAGE + ".evil.com", PAGE.replace("https", "http")])
def test_other_origins_get_no_allow_origin(http, origin):
    preflight = http.options("/v1/faces", headers={"origin": origin, **PREFLIGHT})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    answer = http.post("/v1/faces", content=b"x", headers={"origin": origin, "content-type": "image/jpeg"})
    assert "access-control-allow-origin" not in answer.headers


def test_default_allows_any_origin(client):
    """Unset FACES_CORS_ORIGINS means "*" (the in-process app runs with the default)."""
    response = client.options("/v1/faces", headers={"origin": STRANGER, **PREFLIGHT})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"
