"""/openapi.json describes what the service sends: a schema for every answer, the service's own
error body for every error, one list of detectors, and examples (its own and the README's)
that match the schemas. The API and hostile-input tests check every real answer against it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import httpx
import pytest

from conftest import FACE_PHOTOS
from function.errors import ERROR_CODES
from function.detectors import DETECTORS, Detector
from response_checks import assert_matches_openapi, schema_validator

README = Path(__file__).resolve().parent.parent / "README.md"
IMAGE_ENDPOINTS = [("/v1/faces", "post"), ("/predictModel", "post")]
ERROR_STATUSES = {"400", "413", "415", "422", "500"}


@pytest.fixture(scope="module")
def document(client) -> dict:
    return client.get("/openapi.json").json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_no_fastapi_validation_error_schema(document):
    assert "ValidationError" not in json.dumps(document)


def test_every_answer_has_a_schema_and_every_error_the_service_error_body(document):
    for path, method, operation in operations(document):
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), (path, method)
        for status, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            assert schema, (path, method, status)
            if status.startswith(("4", "5")):
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, method, status)
                assert set(response["content"]["application/json"]["examples"]) == set(ERROR_CODES[int(status)])
        assert "500" in responses, (path, method)


def test_image_endpoints_declare_every_client_error(document):
    for path, method in IMAGE_ENDPOINTS:
        assert ERROR_STATUSES <= set(document["paths"][path][method]["responses"]), path


def test_error_codes_are_one_list(document):
    codes = document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
    assert sorted(codes) == sorted(code for by_status in ERROR_CODES.values() for code in by_status)


def examples(document: dict):
    """(where, schema, example) for every example the document gives."""
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield name, {"$ref": f"#/components/schemas/{name}"}, example
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            content = response["content"]["application/json"]
            for name, example in content.get("examples", {}).items():
                yield f"{method} {path} {status} {name}", content["schema"], example["value"]


def test_every_example_matches_its_schema(document):
    seen = 0
    for where, schema, example in examples(document):
        errors = [e.message for e in schema_validator(schema).iter_errors(example)]
        assert not errors, (where, errors)
        seen += 1
    assert seen >= 5 + sum(len(codes) for codes in ERROR_CODES.values())


def readme_response_example() -> dict:
    section = README.read_text().split("Response of `POST /v1/faces`", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def test_readme_response_example_matches_the_schema():
    example = readme_response_example()
    request = httpx.Request("POST", "http://testserver/v1/faces")
    assert_matches_openapi(httpx.Response(200, json=example, request=request))


def test_readme_lists_every_parameter_detector_and_error_code(document):
    readme = README.read_text()
    for parameter in document["paths"]["/v1/faces"]["post"]["parameters"]:
        assert f"| `{parameter['name']}` |" in readme, parameter["name"]
    [detector_row] = [line for line in readme.splitlines() if line.startswith("| `detector` |")]
    assert all(f"`{name}`" in detector_row for name in DETECTORS), detector_row
    for codes in ERROR_CODES.values():
        for code in codes:
            assert f"`{code}`" in readme, code


def test_the_query_parameters_are_the_ones_the_model_endpoint_publishes(client, document):
    published = {p["name"]: p["schema"] for p in document["paths"]["/v1/faces"]["post"]["parameters"]}
    offered = client.get("/v1/model").json()["parameters"]
    for name, parameter in offered.items():
        bounds = published[name].get("anyOf", [published[name]])[0]
        assert (bounds["minimum"], bounds["maximum"]) == (parameter["minimum"], parameter["maximum"]), name
    assert {name: published[name].get("default") for name in offered} == {
        "upsample": offered["upsample"]["default"],
        "max_side": offered["max_side"]["default"],
        "min_confidence": None,  # the model's: GET /v1/model's min_confidence
    }


def test_the_readme_gives_each_parameters_range_and_default(client):
    rows = re.findall(r"^\| `(\w+)` \| ([\d.]+)–([\d.]+) \| (\S+)", README.read_text(), re.M)
    documented = {name: (float(low), float(high), default) for name, low, high, default in rows}
    offered = client.get("/v1/model").json()["parameters"]
    assert documented == {
        name: (p["minimum"], p["maximum"], "the" if name == "min_confidence" else str(p["default"])) for name, p in offered.items()
    }


def drifted(body: dict, change) -> dict:
    body = json.loads(json.dumps(body))
    change(body)
    return body


DRIFTS = {
    "an undocumented field": lambda b: b["faces"][0].update(age=31),
    "a field gone": lambda b: b["faces"][0].pop("uncertain"),
    "a label outside the enum": lambda b: b["faces"][0].update(gender="Female"),
    "a string for a number": lambda b: b["image"].update(width="250"),
    "a confidence below 0.5": lambda b: b["faces"][0].update(confidence=0.4),
    "the threshold gone": lambda b: b.pop("min_confidence"),
}


@pytest.mark.parametrize("change", DRIFTS.values(), ids=DRIFTS.keys())
def test_a_response_that_drifts_from_its_schema_fails_the_check(client, change):
    response = client.post("/v1/faces", files={"file": ("a.jpg", FACE_PHOTOS[0].read_bytes(), "image/jpeg")})
    assert_matches_openapi(response)
    body = drifted(response.json(), change)
    with pytest.raises(AssertionError):
        assert_matches_openapi(httpx.Response(200, json=body, request=response.request))


@pytest.mark.parametrize(
    "status,body",
    [
        (418, {"error": {"code": "invalid_image", "message": "an undeclared status"}}),
        (400, {"error": {"code": "missing_file", "message": "a 422 code under 400"}}),
        (400, {"error": {"code": "no_such_code", "message": "an unlisted code"}}),
        (400, {"detail": [{"loc": ["query"], "msg": "FastAPI's own shape"}]}),
    ],
)
def test_an_error_that_drifts_fails_the_check(status, body):
    request = httpx.Request("POST", "http://testserver/v1/faces")
    with pytest.raises(AssertionError):
        assert_matches_openapi(httpx.Response(status, json=body, request=request))


def test_detector_choices_come_from_the_detection_module(client, document):
    names = list(get_args(Detector))
    [parameter] = [p for p in document["paths"]["/v1/faces"]["post"]["parameters"] if p["name"] == "detector"]
    assert parameter["schema"]["enum"] == names
    assert document["components"]["schemas"]["Detectors"]["properties"]["default"]["enum"] == names
    detectors = client.get("/v1/model").json()["detectors"]
    assert detectors["choices"] == DETECTORS and list(DETECTORS) == names
    assert detectors["default"] == parameter["schema"]["default"] and detectors["default"] in names
