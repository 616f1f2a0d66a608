"""Assertions on API responses shared by the robustness tests."""

from __future__ import annotations

import math
from contextlib import contextmanager
from functools import lru_cache

import httpx
import jsonschema_rs

from function.app import app
from function.inference import LABELS
from function.settings import ALWAYS_ANSWER


@lru_cache(maxsize=None)
def openapi() -> dict:
    """The document /openapi.json serves."""
    return app.openapi()


def schema_validator(schema: dict) -> jsonschema_rs.Validator:
    """Validates against `schema`, a schema of /openapi.json whose $refs point into its components."""
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "components": openapi()["components"]}
    return jsonschema_rs.validator_for(document)


@lru_cache(maxsize=None)
def response_validator(path: str, method: str, status: int) -> jsonschema_rs.Validator:
    content = openapi()["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    return schema_validator(content["schema"])


def assert_matches_openapi(response: httpx.Response) -> None:
    """The response is declared for its operation in /openapi.json, with its status and content
    type, and its body validates against the declared schema; an error's code is one of those
    listed for its status. Paths and methods /openapi.json does not describe are skipped."""
    operation = openapi()["paths"].get(response.request.url.path, {}).get(response.request.method.lower())
    if operation is None:
        return
    declared = operation["responses"].get(str(response.status_code))
    assert declared, f"{response.request.method} {response.request.url.path}: {response.status_code} is not in /openapi.json"
    assert response.headers["content-type"] == "application/json"
    content = declared["content"]["application/json"]
    validator = response_validator(response.request.url.path, response.request.method.lower(), response.status_code)
    errors = [error.message for error in validator.iter_errors(response.json())]
    assert not errors, f"{response.status_code} body does not match /openapi.json: {errors}: {response.text[:300]}"
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in content["examples"], f"code not listed for {response.status_code}"


def check_against_openapi(response: httpx.Response) -> None:
    """An httpx response hook: reads the body and checks it against /openapi.json."""
    response.read()
    assert_matches_openapi(response)


@contextmanager
def checking_against_openapi(client: httpx.Client):
    """Every response `client` receives meanwhile is checked against /openapi.json."""
    client.event_hooks["response"].append(check_against_openapi)
    try:
        yield client
    finally:
        client.event_hooks["response"].remove(check_against_openapi)


def assert_error(response, status: int, code: str) -> None:
    """A JSON error of the documented shape with this status and code."""
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, f"expected code {code}, got {error}"
    assert isinstance(error["message"], str) and error["message"]


def assert_valid_analysis(body: dict) -> None:
    """A /v1/faces 200 body whose every number is consistent with the image it describes."""
    width, height = body["image"]["width"], body["image"]["height"]
    assert width >= 1 and height >= 1
    areas = []
    for face in body["faces"]:
        box = face["box"]
        assert 0 <= box["x"] and 0 <= box["y"] and box["width"] > 0 and box["height"] > 0
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
        relative = face["box_relative"]
        assert math.isclose(relative["left"], box["x"] / width) and math.isclose(relative["height"], box["height"] / height)
        assert set(face["scores"]) == set(LABELS) and math.isclose(sum(face["scores"].values()), 1, abs_tol=1e-5)
        assert face["gender"] == max(face["scores"], key=face["scores"].get)
        assert ALWAYS_ANSWER <= face["confidence"] <= 1 and face["confidence"] == face["scores"][face["gender"]]
        areas.append(box["width"] * box["height"])
    assert areas == sorted(areas, reverse=True), "largest face first"
    assert body["model"]["name"] and body["model"]["version"]
    assert set(body["timings_ms"]) == {"decode", "detect", "classify", "total"}
