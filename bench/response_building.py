"""Time to build and serialise the /v1/faces answer for a 5-face photo: the typed path
(FacesResponse, validated and serialised by pydantic through FastAPI's response_model) against
the untyped one it replaced (a dict through FastAPI's jsonable_encoder), in the same run. Both
go through FastAPI's own serialize_response and JSONResponse, as a request does.

    nice -n 10 .venv/bin/python -m bench.response_building --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import time
from pathlib import Path

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, serialize_response
from PIL import Image

from function.app import app
from function.service import faces_response, model_summary, rounded_timings
from function.service import pipeline as service_pipeline
from function.pipeline import Analysis

FACES_ROUTE = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == "/v1/faces")
FACES = sorted((Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faces").glob("*.jpg"))[:5]


def five_face_photo() -> bytes:
    tiles = [Image.open(path).convert("RGB") for path in FACES]
    width, height = tiles[0].size
    canvas = Image.new("RGB", (len(tiles) * (width + 40) + 40, height + 80), (128, 128, 128))
    for i, tile in enumerate(tiles):
        canvas.paste(tile, (40 + i * (width + 40), 40))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def untyped_body(analysis: Analysis) -> dict:
    """The answer as app.py built it before response models (issue 33), kept as the baseline."""
    width, height = analysis.width, analysis.height
    return {
        "faces": [
            {
                "box": {"x": f.box.left, "y": f.box.top, "width": f.box.width, "height": f.box.height},
                "box_relative": {"left": f.box.left / width, "top": f.box.top / height,
                                 "width": f.box.width / width, "height": f.box.height / height},
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


async def untyped(analysis: Analysis) -> bytes:
    content = await serialize_response(response_content=untyped_body(analysis))
    return JSONResponse(content).body


async def typed(analysis: Analysis) -> bytes:
    body = faces_response(analysis, 0.5)
    content = await serialize_response(field=FACES_ROUTE.response_field, response_content=body)
    return JSONResponse(content).body


def same_answer(analysis: Analysis) -> bool:
    """The typed answer is the untyped one plus the fields added since (uncertain, min_confidence)."""
    old, new = (json.loads(asyncio.run(build)) for build in (untyped(analysis), typed(analysis)))
    for face in new["faces"]:
        del face["uncertain"]
    del new["min_confidence"]
    return old == new


async def microseconds_per_call(build, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await build()
    return (time.perf_counter() - start) / calls * 1e6


async def compare(analysis: Analysis, rounds: int, calls: int) -> dict[str, list[float]]:
    paths = {"untyped (before)": lambda: untyped(analysis), "typed (after)": lambda: typed(analysis)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for name, build in paths.items():
        await microseconds_per_call(build, calls // 10)  # warm-up
    for _ in range(rounds):  # interleaved, so drifts in machine load hit both alike
        for name, build in paths.items():
            times[name].append(await microseconds_per_call(build, calls))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000, help="responses built per round and path")
    args = parser.parse_args()
    photo = five_face_photo()
    pipeline = service_pipeline()
    pipeline.analyze(photo, "hog", 1, 1600)  # loads the model and the detector
    analysis = pipeline.analyze(photo, "hog", 1, 1600)
    assert len(analysis.faces) == 5, f"found {len(analysis.faces)} faces, not 5"
    assert same_answer(analysis), "the two paths answer differently"
    times = asyncio.run(compare(analysis, args.rounds, args.calls))
    for name, values in times.items():
        print(f"{name:17s} median {statistics.median(values):7.1f} µs  min {min(values):7.1f} µs  per response")
    before, after = (statistics.median(values) for values in times.values())
    print(f"typed / untyped: {after / before:.2f}x; analysing the photo took {analysis.timings_ms['total']:.0f} ms")


if __name__ == "__main__":
    main()
