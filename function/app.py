"""The HTTP API (FastAPI). Run locally with `uvicorn function.app:app`; on Lambda via handler.py."""

from __future__ import annotations

import logging
import traceback
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from function.errors import ApiError, InternalError, PayloadTooLarge
from function.pipeline import Analysis, FaceGenderPipeline
from function.settings import Settings
from function.uploads import image_bytes

log = logging.getLogger("faces")
settings = Settings.from_env()
pipeline = FaceGenderPipeline(settings)
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
    await run_in_threadpool(pipeline.warm_up)
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


@app.exception_handler(ApiError)
async def api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message)


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


async def analyze_request(request: Request, detector: str, upsample: int | None, max_side: int | None) -> Analysis:
    upsample = settings.default_upsample if upsample is None else upsample
    max_side = settings.default_max_side if max_side is None else max_side
    try:
        data = image_bytes(await read_body(request), request.headers.get("content-type", ""))
        return await run_in_threadpool(pipeline.analyze, data, detector, upsample, max_side)
    except ApiError:
        raise
    except Exception as exc:  # answered as JSON 500 here: Mangum would turn a raise into plain text
        # Where it failed, not the exception's message: a message may quote the request's bytes.
        where = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unexpected %s while analysing an image\n%s", type(exc).__name__, where)
        raise InternalError("The server failed to process the image.") from None


DetectorQuery = Query("hog", description="hog: fast CPU detector; cnn: more accurate, much slower")
UpsampleQuery = Query(None, ge=0, le=2, description="times to upsample before detecting (finds smaller faces)")
MaxSideQuery = Query(None, ge=64, le=8192, description="longer side to downscale to for detection")


@app.post("/v1/faces", openapi_extra=IMAGE_BODY_DOC, summary="Find faces and classify their gender")
async def faces(
    request: Request,
    detector: Literal["hog", "cnn"] = DetectorQuery,
    upsample: int | None = UpsampleQuery,
    max_side: int | None = MaxSideQuery,
):
    analysis = await analyze_request(request, detector, upsample, max_side)
    width, height = analysis.width, analysis.height
    return {
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
                "scores": f.scores,
            }
            for f in analysis.faces
        ],
        "image": {"width": width, "height": height},
        "model": model_summary(),
        "timings_ms": rounded_timings(analysis),
    }


# The seed's CAT2CLASS: its clients compare against these exact strings.
SEED_GENDER_NAMES = {"female": "Female", "male": "Male"}


@app.post(
    "/predictModel",
    openapi_extra={"requestBody": {"content": {"multipart/form-data": IMAGE_BODY_DOC["requestBody"]["content"]["multipart/form-data"]}}},
    summary="The seed demo's endpoint and response shape (width and height no longer swapped)",
)
async def predict_model(request: Request):
    analysis = await analyze_request(request, "hog", None, None)
    return {
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
    }


def rounded_timings(analysis: Analysis) -> dict[str, float]:
    return {stage: round(ms, 2) for stage, ms in analysis.timings_ms.items()}


def model_summary() -> dict:
    info = pipeline.classifier.info
    return {"name": info["name"], "version": info["version"]}


@app.get("/healthz", summary="Liveness: cheap, loads nothing")
async def healthz():
    return {"status": "ok"}


@app.get("/v1/model", summary="The gender model: version, input, labels, checksums, metrics")
async def model():
    classifier = await run_in_threadpool(lambda: pipeline.classifier)
    return {**classifier.info, "input": asdict(classifier.spec) | {"temperature": classifier.temperature}}


if FRONTEND_DIR.is_dir():
    app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
