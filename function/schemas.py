"""The API's response bodies, as /docs and /openapi.json show them. Every endpoint answers one of
these models or ErrorResponse; tests validate real answers against the published schema."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from function.errors import ERROR_CODES
from function.detectors import DEFAULT_CAMERA_DETECTOR, DEFAULT_UPLOAD_DETECTOR, DETECTORS, Detector
from function.inference import LABELS
from function.settings import ALWAYS_ANSWER, DEFAULT_MAX_SIDE, DEFAULT_UPSAMPLE, MIN_CONFIDENCE_RANGE, RANGES

Gender = Literal[LABELS]
# The seed's CAT2CLASS: its clients compare against these exact strings.
SEED_GENDER_NAMES = {label: label.title() for label in LABELS}
SeedGender = Literal[tuple(SEED_GENDER_NAMES.values())]
ErrorCode = Literal[tuple(code for codes in ERROR_CODES.values() for code in codes)]


class Closed(BaseModel):
    """A body whose every field is documented: an undocumented field fails the schema."""

    model_config = ConfigDict(extra="forbid")


class PixelBox(Closed):
    x: int = Field(ge=0, description="left edge, in pixels of the upright image")
    y: int = Field(ge=0, description="top edge")
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class RelativeBox(Closed):
    left: float = Field(ge=0, le=1, description="x / image width")
    top: float = Field(ge=0, le=1, description="y / image height")
    width: float = Field(ge=0, le=1)
    height: float = Field(ge=0, le=1)


Scores = create_model("Scores", __base__=Closed, **{label: (float, Field(ge=0, le=1)) for label in LABELS})


class Face(Closed):
    box: PixelBox
    box_relative: RelativeBox
    gender: Gender = Field(description="the more probable label, given even when the face is uncertain")
    confidence: float = Field(ge=ALWAYS_ANSWER, le=1, description="the probability of `gender` (calibrated)")
    uncertain: bool = Field(
        description="true when `confidence` is below `min_confidence`, or the face is `likely_child` (unless "
        f"`min_confidence` is {ALWAYS_ANSWER:g}, which answers every face): `gender` is a guess. Show the face as "
        f"uncertain rather than as {' or '.join(LABELS)}."
    )
    likely_child: bool = Field(
        description="the model's age signal says this face is likely under 10, where its gender labels are often "
        "wrong however confident; such a face is `uncertain`",
    )
    scores: Scores = Field(description="the probability of each label; they sum to 1")


class ImageSize(Closed):
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class ModelRef(Closed):
    name: str
    version: str


class Timings(Closed):
    decode: float = Field(ge=0)
    detect: float = Field(ge=0)
    classify: float = Field(ge=0)
    total: float = Field(ge=0)


EXAMPLE_FACE = {
    "box": {"x": 67, "y": 80, "width": 108, "height": 107},
    "box_relative": {"left": 0.268, "top": 0.32, "width": 0.432, "height": 0.428},
    "gender": LABELS[0],
    "confidence": 0.9999,
    "uncertain": False,
    "likely_child": False,
    "scores": dict(zip(LABELS, (0.9999, 0.0001))),
}
FACES_EXAMPLE = {
    "faces": [EXAMPLE_FACE],
    "min_confidence": 0.94,
    "image": {"width": 250, "height": 250},
    "model": {"name": "gender-mobilenet-v2-int8", "version": "3.3.0"},
    "timings_ms": {"decode": 1.2, "detect": 41.3, "classify": 2.1, "total": 44.9},
}


class FacesResponse(Closed):
    model_config = ConfigDict(json_schema_extra={"examples": [FACES_EXAMPLE]})

    faces: list[Face] = Field(description="every face found, largest first")
    min_confidence: float = Field(
        ge=MIN_CONFIDENCE_RANGE[0], le=MIN_CONFIDENCE_RANGE[1], description="the threshold applied: a face below it is uncertain"
    )
    image: ImageSize = Field(description="the image as a person sees it (after EXIF rotation); boxes are in its pixels")
    model: ModelRef
    timings_ms: Timings = Field(description="wall time per stage, in milliseconds")


class SeedFace(Closed):
    x: int
    y: int
    width: int
    height: int
    gender: SeedGender


class SeedMeta(Closed):
    num_faces: int = Field(ge=0)
    image: ImageSize
    model: ModelRef
    timings_ms: Timings


class SeedResponse(Closed):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "faces": {"face1": {**EXAMPLE_FACE["box"], "gender": SEED_GENDER_NAMES[EXAMPLE_FACE["gender"]]}},
                    "meta_info": {
                        "num_faces": 1,
                        "image": FACES_EXAMPLE["image"],
                        "model": FACES_EXAMPLE["model"],
                        "timings_ms": FACES_EXAMPLE["timings_ms"],
                    },
                }
            ]
        }
    )

    faces: dict[Annotated[str, StringConstraints(pattern=r"^face[1-9][0-9]*$")], SeedFace] = Field(
        description='"face1", "face2", ... largest first', json_schema_extra={"additionalProperties": False}
    )
    meta_info: SeedMeta


class ModelInput(BaseModel):
    input_size: int = Field(description="the classifier's square input, in pixels")
    margin: float = Field(description="share of the box's width and height added on each side before the crop")
    scale: float
    mean: list[float]
    std: list[float]
    labels: list[Gender]
    channel_order: str
    layout: str
    temperature: float = Field(description="logits are divided by it before the softmax (calibration)")


class Detectors(Closed):
    choices: dict[Detector, str] = Field(description="the `detector` values /v1/faces accepts, each with what it does")
    default: Detector = Field(description="the detector used for an upload that names none")
    camera: Detector = Field(description="the detector for live camera frames: finds a group of small faces fastest")


OFFERED_DETECTORS = {"choices": DETECTORS, "default": DEFAULT_UPLOAD_DETECTOR, "camera": DEFAULT_CAMERA_DETECTOR}


class IntegerRange(Closed):
    minimum: int
    maximum: int
    default: int = Field(description="what a request that does not give it gets")


class NumberRange(Closed):
    minimum: float
    maximum: float
    default: float = Field(description="what a request that does not give it gets")


class Parameters(Closed):
    upsample: IntegerRange = Field(description="`upsample`'s range, inclusive; its default is FACES_UPSAMPLE")
    max_side: IntegerRange = Field(description="`max_side`'s range, inclusive; its default is FACES_MAX_SIDE")
    min_confidence: NumberRange = Field(
        description="`min_confidence`'s range, inclusive; its default is the `min_confidence` above"
    )


def parameters(defaults: dict[str, float]) -> dict:
    """Parameters: each numeric option of /v1/faces with its range and the given default."""
    return {name: {"minimum": low, "maximum": high, "default": defaults[name]} for name, (low, high) in RANGES.items()}


class ModelInfo(BaseModel):
    """The model's own metadata (from its ONNX file) plus what the service applies."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    **FACES_EXAMPLE["model"],
                    "onnx_sha256": "66fe…",
                    "source_checkpoint_sha256": "1717…",
                    "min_confidence": FACES_EXAMPLE["min_confidence"],
                    "detectors": OFFERED_DETECTORS,
                    "parameters": parameters({"upsample": DEFAULT_UPSAMPLE, "max_side": DEFAULT_MAX_SIDE,
                                              "min_confidence": FACES_EXAMPLE["min_confidence"]}),
                    "input": {"input_size": 128, "margin": 0.2, "scale": 0.00392156862745098, "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225], "labels": list(LABELS), "channel_order": "RGB",
                              "layout": "NCHW", "temperature": 1.1248},
                    "metrics": {"validation": {"all": {"accuracy": 96.8, "n": 5554}}},
                }
            ]
        },
    )

    name: str
    version: str
    onnx_sha256: str = Field(description="SHA-256 of the ONNX file served")
    source_checkpoint_sha256: str
    min_confidence: float = Field(
        ge=MIN_CONFIDENCE_RANGE[0], le=MIN_CONFIDENCE_RANGE[1], description="the default threshold below which a face is uncertain"
    )
    detectors: Detectors
    parameters: Parameters = Field(description="the numeric options /v1/faces takes: each one's range and default "
                                   "(the `detector`'s: `detectors`)")
    input: ModelInput


class Health(Closed):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


class ErrorDetail(Closed):
    code: ErrorCode = Field(description="stable and machine-readable: branch on it")
    message: str = Field(description="for people; its wording may change")


class ErrorResponse(Closed):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int, dict]:
    """The `responses=` of an endpoint that can answer these error statuses: ErrorResponse with
    the codes each status carries, one example per code."""
    return {
        status: {
            "model": ErrorResponse,
            "description": "\n".join(f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES[status].items()),
            "content": {
                "application/json": {
                    "examples": {
                        code: {"summary": meaning, "value": {"error": {"code": code, "message": meaning}}}
                        for code, meaning in ERROR_CODES[status].items()
                    }
                }
            },
        }
        for status in statuses
    }
