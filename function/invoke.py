"""Invoke the Lambda handler with an API Gateway event, without Docker (like `sam local invoke -e`).

    python -m function.invoke events/http-v2-raw-jpeg.json

Prints the status line, the response headers and the body (JSON pretty-printed), then the
init and invocation times on stderr. Exits 0 for a 2xx response, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="an API Gateway proxy event (REST v1 or HTTP API v2) as JSON")
    event = json.loads(parser.parse_args(argv).event.read_text())

    started = time.perf_counter()
    from function.handler import handler  # init: imports, model load, warm-up

    initialised = time.perf_counter()
    response = handler(event, None)
    finished = time.perf_counter()

    status = response["statusCode"]
    print(f"HTTP {status}")
    headers = response.get("headers") or {}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, ", ".join(values))
    for name, value in headers.items():
        print(f"{name}: {value}")
    print()
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    try:
        print(json.dumps(json.loads(body), indent=2))
    except json.JSONDecodeError:
        print(body)
    print(f"init {1000 * (initialised - started):.0f} ms, invoke {1000 * (finished - initialised):.0f} ms",
          file=sys.stderr)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
