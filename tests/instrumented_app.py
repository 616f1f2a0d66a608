"""The service's app with test-only instruments, served by a real uvicorn in test_privacy.py
(`uvicorn instrumented_app:create_app --factory`; importing this module changes nothing).

- An audit hook prints `WRITE-OPEN <path>` for every file Python opens for writing (this
  sees Python-level opens, such as the unnamed temp files of tempfile, which no directory
  listing shows).
- POST /_control/starlette-form parses the body with Starlette's own form parser, which
  spools uploads over 1 MB to a temp file: a positive control that the instruments see it.
- Request bytes containing FAULT_IN_PIPELINE / FAULT_IN_BODY make the pipeline / the body
  parser raise an exception whose message quotes the request, to exercise the 500 paths.
- The root logger logs at DEBUG, the most talkative setting a deployment could choose.
"""

from __future__ import annotations

import logging
import os
import sys

from fastapi import Request
from fastapi.routing import APIRoute

FAULT_IN_PIPELINE = b"FAULT-IN-PIPELINE"
FAULT_IN_BODY = b"FAULT-IN-BODY"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def report_writes(event: str, args: tuple) -> None:
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (flags or 0) & WRITE_FLAGS:
            print(f"WRITE-OPEN {path!r}", file=sys.__stderr__, flush=True)
    elif event in ("os.rename", "os.link", "os.symlink", "os.truncate", "os.mkdir", "shutil.copyfile"):
        print(f"WRITE-OPEN {event} {args[0]!r}", file=sys.__stderr__, flush=True)


def faulty(function, trigger: bytes):
    """`function`, raising when its first argument (the request's bytes) holds `trigger`."""
    def wrapper(data: bytes, *args):
        if trigger in data:
            raise RuntimeError(f"failed on {data[:4096]!r}")
        return function(data, *args)
    return wrapper


async def starlette_form(request: Request) -> dict:
    form = await request.form()
    return {"fields": len(form)}


def create_app():
    from function import app as api
    from function import service

    logging.basicConfig(level=logging.DEBUG)
    sys.addaudithook(report_writes)
    service.pipeline().analyze = faulty(service.pipeline().analyze, FAULT_IN_PIPELINE)
    api.image_bytes = faulty(api.image_bytes, FAULT_IN_BODY)
    # Before the static-file mount at "/", which would otherwise answer the path.
    api.app.router.routes.insert(0, APIRoute("/_control/starlette-form", starlette_form, methods=["POST"]))
    return api.app
