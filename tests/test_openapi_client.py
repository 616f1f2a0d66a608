"""A typed client built from nothing but the /openapi.json a running server publishes: pydantic
models are generated from its component schemas at test time, and each answer is parsed
(strictly) into the model its operation declares for the status received."""

from __future__ import annotations

import types
from typing import Any, Literal, Union

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, create_model

from conftest import FACE_PHOTOS, gender_of
from live_server import live_server

SCALARS = {"string": str, "integer": int, "number": float, "boolean": bool, "null": types.NoneType}


class TypedClient:
    def __init__(self, http: httpx.Client):
        self.http = http
        self.document = http.get("/openapi.json").json()
        self.models: dict[str, type[BaseModel]] = {}

    def model(self, name: str) -> type[BaseModel]:
        """The pydantic model generated from components/schemas/<name>."""
        if name not in self.models:
            schema = self.document["components"]["schemas"][name]
            required = set(schema.get("required", []))
            fields = {
                prop: (self.type_of(sub), ... if prop in required else sub.get("default"))
                for prop, sub in schema.get("properties", {}).items()
            }
            extra = "forbid" if schema.get("additionalProperties") is False else "allow"
            self.models[name] = create_model(name, __config__=ConfigDict(extra=extra, strict=True), **fields)
        return self.models[name]

    def type_of(self, schema: dict) -> Any:
        if "$ref" in schema:
            return self.model(schema["$ref"].rsplit("/", 1)[1])
        if "enum" in schema:
            return Literal[tuple(schema["enum"])]
        if "const" in schema:
            return Literal[schema["const"]]
        if "anyOf" in schema:
            return Union[tuple(self.type_of(option) for option in schema["anyOf"])]
        kind = schema.get("type")
        if kind == "array":
            return list[self.type_of(schema["items"])]
        if kind == "object":
            values = [*schema.get("patternProperties", {}).values(), schema.get("additionalProperties")]
            value = next((v for v in values if isinstance(v, dict)), None)
            return dict[str, self.type_of(value) if value else Any]
        return SCALARS[kind]

    def call(self, method: str, path: str, **kwargs) -> BaseModel:
        """The answer, parsed into the model declared for its status (an error is an answer too)."""
        response = self.http.request(method, path, **kwargs)
        declared = self.document["paths"][path][method.lower()]["responses"][str(response.status_code)]
        answer_type = self.type_of(declared["content"]["application/json"]["schema"])
        return answer_type.model_validate_json(response.content)


@pytest.fixture(scope="module")
def typed():
    with live_server() as server, httpx.Client(base_url=server.url, timeout=120) as http:
        yield TypedClient(http)


def test_faces_come_back_typed(typed):
    photo = FACE_PHOTOS[0]
    answer = typed.call("POST", "/v1/faces", files={"file": ("a.jpg", photo.read_bytes(), "image/jpeg")},
                        params={"min_confidence": 0.6})
    assert type(answer) is typed.model("FacesResponse")
    [face] = answer.faces
    assert type(face) is typed.model("Face") and type(face.box) is typed.model("PixelBox")
    assert face.gender == gender_of(photo) and isinstance(face.box.width, int) and face.box.width > 0
    assert face.uncertain is (face.confidence < 0.6) and answer.min_confidence == 0.6
    assert face.scores.female + face.scores.male == pytest.approx(1)


def test_other_endpoints_and_errors_come_back_typed(typed):
    data = FACE_PHOTOS[-1].read_bytes()
    seed = typed.call("POST", "/predictModel", files={"file": ("a.jpg", data, "image/jpeg")})
    assert type(seed) is typed.model("SeedResponse")
    assert seed.faces["face1"].gender == gender_of(FACE_PHOTOS[-1]).capitalize() and seed.meta_info.num_faces == 1
    model = typed.call("GET", "/v1/model")
    assert type(model) is typed.model("ModelInfo") and 0.5 <= model.min_confidence <= 1
    assert model.detectors.default in model.detectors.choices
    assert typed.call("GET", "/healthz").status == "ok"
    error = typed.call("POST", "/v1/faces", content=b"hello", headers={"content-type": "image/png"})
    assert type(error) is typed.model("ErrorResponse") and error.error.code == "invalid_image"
