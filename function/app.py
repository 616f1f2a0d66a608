"""The HTTP API (FastAPI). Run locally with `uvicorn function.app:app`; on Lambda via handler.py."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from function import service
from function.detectors import DEFAULT_UPLOAD_DETECTOR, DETECTORS, Detector
from function.errors import HTTP_STATUS, PayloadTooLarge, ServiceError
from function.pipeline import Analysis
from function.schemas import (OFFERED_DETECTORS, SEED_GENDER_NAMES, FacesResponse, Health, ModelInfo, SeedResponse,
                              error_responses, parameters)
from function.service import Options, model_summary, rounded_timings
from function.settings import ALWAYS_ANSWER, MAX_SIDE_RANGE, MIN_CONFIDENCE_RANGE, UPSAMPLE_RANGE, Settings
from function.uploads import image_bytes

log = logging.getLogger("faces")
settings = Settings.from_env()
FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"

IMAGE_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "description": "base64 or a data: URL"}},
                }
            },
        },
    }
}


@asynccontextmanager
async def lifespan(_: FastAPI):
    await run_in_threadpool(service.pipeline().warm_up)
    yield


app = FastAPI(
    title="Face detection + gender classification",
    version="1.0.0",
    description="Finds every face in a photo (face_recognition / dlib) and classifies each face's "
    "gender with a MobileNetV2 on onnxruntime. Binary labels; not for decisions about people.",
    lifespan=lifespan,
)
app.add_middleware(
    CORSMiddleware,
    allow_origins=list(settings.cors_origins),
    allow_methods=["GET", "POST", "OPTIONS"],
    allow_headers=["*"],
    max_age=600,
)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@app.exception_handler(ServiceError)
async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
    return error_response(HTTP_STATUS[exc.code], exc.code, exc.message)


@app.exception_handler(RequestValidationError)
async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][1:]) or err['loc'][0]}: {err['msg']}" for err in exc.errors()
    )
    return error_response(422, "invalid_parameter", problems)


@app.exception_handler(StarletteHTTPException)
async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


@app.exception_handler(Exception)
async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected %s while serving a request", type(exc).__name__)
    return error_response(500, "internal_error", "The server failed to process the request.")


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {limit}.", code="body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.", code="body_too_large")
    return bytes(body)


async def request_image(request: Request) -> bytes:
    try:
        return image_bytes(await read_body(request), request.headers.get("content-type", ""))
    except ServiceError:
        raise
    except Exception as exc:  # answered as JSON 500 here: Mangum would turn a raise into plain text
        raise service.internal_error(exc, "reading a request") from None


DetectorQuery = Query(
    DEFAULT_UPLOAD_DETECTOR, description="; ".join(f"`{name}`: {text}" for name, text in DETECTORS.items())
)
UpsampleQuery = Query(
    settings.default_upsample, ge=UPSAMPLE_RANGE[0], le=UPSAMPLE_RANGE[1], description="times to upsample before detecting: each finds faces half as "
    "small, at ~4x the cost (default: FACES_UPSAMPLE)"
)
MaxSideQuery = Query(
    settings.default_max_side, ge=MAX_SIDE_RANGE[0], le=MAX_SIDE_RANGE[1], description="a longer image is downscaled to this for detection; boxes "
    "are in the original's pixels (default: FACES_MAX_SIDE)"
)
MinConfidenceQuery = Query(
    None,
    ge=MIN_CONFIDENCE_RANGE[0],
    le=MIN_CONFIDENCE_RANGE[1],
    description=f"a face whose confidence is below this is marked `uncertain`; {ALWAYS_ANSWER:g} answers every face. "
    "Default: FACES_MIN_CONFIDENCE, else the model's own (GET /v1/model shows it).",
)
IMAGE_ERRORS = error_responses(400, 413, 415, 422, 500)


@app.post(
    "/v1/faces",
    response_model=FacesResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=IMAGE_BODY_DOC,
    summary="Find faces and classify their gender",
    response_description="The faces found, largest first",
    description="Every face in the photo, largest first, with its box, gender label, confidence and scores. "
    "A face whose confidence is below `min_confidence` is marked `uncertain`: its label is a guess.",
)
async def faces(
    request: Request,
    detector: Detector = DetectorQuery,
    upsample: int = UpsampleQuery,
    max_side: int = MaxSideQuery,
    min_confidence: float | None = MinConfidenceQuery,
) -> FacesResponse:
    options = Options(detector, upsample, max_side, min_confidence)
    return await run_in_threadpool(service.faces, await request_image(request), options)


@app.post(
    "/predictModel",
    response_model=SeedResponse,
    responses=IMAGE_ERRORS,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": IMAGE_BODY_DOC["requestBody"]["content"]["multipart/form-data"]}}},
    summary="The seed demo's endpoint and response shape (width and height no longer swapped)",
    response_description="The faces found, as the seed demo answered",
    description="For the seed demo's clients, which know only \"Female\" and \"Male\": every face gets the more "
    "probable of the two, however uncertain (no `min_confidence` here). Use /v1/faces to be told when the model "
    "cannot tell.",
)
async def predict_model(request: Request) -> SeedResponse:
    options = Options(DEFAULT_UPLOAD_DETECTOR, settings.default_upsample, settings.default_max_side)
    analysis: Analysis = await run_in_threadpool(service.analyze, await request_image(request), options)
    return SeedResponse.model_validate({
        "faces": {
            f"face{i}": {"x": f.box.left, "y": f.box.top, "width": f.box.width, "height": f.box.height,
                         "gender": SEED_GENDER_NAMES[f.gender]}
            for i, f in enumerate(analysis.faces, start=1)
        },
        "meta_info": {
            "num_faces": len(analysis.faces),
            "image": {"width": analysis.width, "height": analysis.height},
            "model": model_summary(),
            "timings_ms": rounded_timings(analysis),
        },
    })


@app.get("/healthz", response_model=Health, responses=error_responses(500), summary="Liveness: cheap, loads nothing")
async def healthz() -> Health:
    return Health(status="ok")


@app.get(
    "/v1/model",
    response_model=ModelInfo,
    responses=error_responses(500),
    summary="The gender model: version, input, labels, checksums, metrics; the default threshold and the detectors",
)
async def model() -> ModelInfo:
    pipeline = service.pipeline()
    classifier = await run_in_threadpool(lambda: pipeline.classifier)
    defaults = {"upsample": settings.default_upsample, "max_side": settings.default_max_side,
                "min_confidence": pipeline.min_confidence}
    return ModelInfo.model_validate({
        **classifier.info,
        "min_confidence": pipeline.min_confidence,
        "detectors": OFFERED_DETECTORS,
        "parameters": parameters(defaults),
        "input": asdict(classifier.spec) | {"temperature": classifier.temperature},
    })


if FRONTEND_DIR.is_dir():
    app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
