"""Assertions on API responses shared by the robustness tests."""

from __future__ import annotations

import math


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
        assert set(face["scores"]) == {"female", "male"} and math.isclose(sum(face["scores"].values()), 1, abs_tol=1e-5)
        assert face["gender"] == max(face["scores"], key=face["scores"].get)
        assert 0.5 <= face["confidence"] <= 1 and face["confidence"] == face["scores"][face["gender"]]
        areas.append(box["width"] * box["height"])
    assert areas == sorted(areas, reverse=True), "largest face first"
    assert body["model"]["name"] and body["model"]["version"]
    assert set(body["timings_ms"]) == {"decode", "detect", "classify", "total"}
