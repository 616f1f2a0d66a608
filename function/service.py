"""The service, whoever calls it: a photo's bytes and options in, the /v1/faces answer
(FacesResponse) out, or a ServiceError with a stable code. The HTTP API (app.py), the batch
command (batch.py) and the S3 handler (s3_events.py) all call it. The pipeline is built on
first use, once per process, with the settings in the environment then."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from function.errors import InternalError, InvalidRequest, PayloadTooLarge, ServiceError
from function.detectors import DEFAULT_UPLOAD_DETECTOR, DETECTORS, Detector
from function.pipeline import Analysis, FaceGenderPipeline
from function.schemas import FacesResponse
from function.settings import RANGES, Settings

log = logging.getLogger("faces")
# A file read from disk or S3 (not an upload, which FACES_MAX_BODY_BYTES bounds) larger than
# this is refused unread: MAX_PIXELS (FACES_MAX_PIXELS' default) fit in it in any accepted format.
MAX_PHOTO_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Options:
    """The choices /v1/faces's query parameters make (their ranges: settings.py); None takes
    the service's default (FACES_UPSAMPLE, FACES_MAX_SIDE, the model's or FACES_MIN_CONFIDENCE)."""

    detector: Detector = DEFAULT_UPLOAD_DETECTOR
    upsample: int | None = None
    max_side: int | None = None
    min_confidence: float | None = None

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise InvalidRequest(f"detector: {self.detector!r} is not one of {', '.join(DETECTORS)}.")
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                raise InvalidRequest(f"{name}: {value} is not between {low} and {high}.")

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> "Options":
        """Options from text (e.g. a Batch Operations job's user arguments), checked as the API's are."""
        types = {"detector": str, "upsample": int, "max_side": int, "min_confidence": float}
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise InvalidRequest(f"unknown options {unknown}; the options are {sorted(types)}.")
        try:
            return cls(**{name: types[name](value) for name, value in values.items()})
        except ValueError:
            raise InvalidRequest(f"an option is not a number: {dict(values)}.") from None


def check_size(size: int) -> None:
    """Refuses a photo file of `size` bytes larger than MAX_PHOTO_BYTES, before it is read."""
    if size > MAX_PHOTO_BYTES:
        raise PayloadTooLarge(f"The file is {size} bytes; the limit is {MAX_PHOTO_BYTES}.", code="body_too_large")


@cache
def pipeline() -> FaceGenderPipeline:
    return FaceGenderPipeline(Settings.from_env())


def faces(data: bytes, options: Options = Options()) -> FacesResponse:
    """The /v1/faces answer for a photo. Raises ServiceError (InternalError for a fault)."""
    threshold = pipeline().min_confidence if options.min_confidence is None else options.min_confidence
    return faces_response(analyze(data, options), threshold)


def analyze(data: bytes, options: Options = Options()) -> Analysis:
    settings = pipeline().settings
    upsample = settings.default_upsample if options.upsample is None else options.upsample
    max_side = settings.default_max_side if options.max_side is None else options.max_side
    try:
        return pipeline().analyze(data, options.detector, upsample, max_side)
    except ServiceError:
        raise
    except Exception as exc:
        raise internal_error(exc, "analysing an image") from None


def internal_error(exc: Exception, doing: str) -> InternalError:
    """An unexpected exception as internal_error, logged with where it happened; not with its
    message, which may quote the photo's bytes."""
    where = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unexpected %s while %s\n%s", type(exc).__name__, doing, where)
    return InternalError("The server failed to process the image.")


def faces_response(analysis: Analysis, min_confidence: float) -> FacesResponse:
    width, height = analysis.width, analysis.height
    return FacesResponse.model_validate({
        "faces": [
            {
                "box": {"x": f.box.left, "y": f.box.top, "width": f.box.width, "height": f.box.height},
                "box_relative": {
                    "left": f.box.left / width,
                    "top": f.box.top / height,
                    "width": f.box.width / width,
                    "height": f.box.height / height,
                },
                "gender": f.gender,
                "confidence": f.confidence,
                "uncertain": f.uncertain(min_confidence),
                "likely_child": f.likely_child,
                "scores": f.scores,
            }
            for f in analysis.faces
        ],
        "min_confidence": min_confidence,
        "image": {"width": width, "height": height},
        "model": model_summary(),
        "timings_ms": rounded_timings(analysis),
    })


def rounded_timings(analysis: Analysis) -> dict[str, float]:
    return {stage: round(ms, 2) for stage, ms in analysis.timings_ms.items()}


def model_summary() -> dict:
    info = pipeline().classifier.info
    return {"name": info["name"], "version": info["version"]}
