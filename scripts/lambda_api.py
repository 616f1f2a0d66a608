"""A local HTTP API in front of the package under the RIE, like `sam local start-api`.

    python3 scripts/lambda_api.py [--port 3000] [--package dist/lambda]

Every request becomes an API Gateway HTTP API event (payload 2.0, what template.yaml deploys),
is invoked through scripts/lambda_rie.py's emulator (Lambda's conditions, one invocation at a
time like one Lambda instance) and the function's response becomes the HTTP response. GET
requests for files of frontend/ get the page instead, as CloudFront serves it when deployed
(the package holds no page), so the page and curl both talk to the package. Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lambda_rie import ROOT, Emulator, add_package_option, with_emulator

FRONTEND = ROOT / "frontend"
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded")


def as_text(body: bytes, content_type: str) -> str | None:
    """The body as text if API Gateway would pass it so (a text media type, UTF-8), else None."""
    if not content_type.lower().startswith(TEXT_TYPES):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def http_api_event(method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                   source_ip: str) -> dict:
    """The HTTP API v2 event API Gateway would send for this request."""
    path, _, query = target.partition("?")
    joined: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    cookie_header = joined.pop("cookie", "")
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": joined.get("host", "localhost"),
            "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": "$default",
            "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": joined.get("user-agent", "")},
        },
        "isBase64Encoded": False,
    }
    if cookie_header:
        event["cookies"] = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
    if query:
        parameters: dict[str, str] = {}
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
        event["queryStringParameters"] = parameters
    if body:
        text = as_text(body, joined.get("content-type", ""))
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = text is None
    return event


def http_response(result) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body API Gateway makes of the function's result (payload 2.0)."""
    as_json = [("content-type", "application/json")]
    if isinstance(result, dict) and {"errorType", "errorMessage"} <= result.keys():
        return 500, as_json, b'{"message":"Internal Server Error"}'  # the function raised
    if not isinstance(result, dict) or "statusCode" not in result:  # any other JSON value: the body
        return 200, as_json, json.dumps(result).encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(name, str(value)) for value in values]
    headers += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
    body = result.get("body") or ""
    body = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return int(result["statusCode"]), headers, body


def page_file(target: str) -> Path | None:
    """The frontend/ file a GET for target names, if any ("/" is index.html)."""
    relative = target.partition("?")[0].lstrip("/") or "index.html"
    path = (FRONTEND / relative).resolve()
    return path if path.is_relative_to(FRONTEND) and path.is_file() else None


def make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    one_at_a_time = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            page = page_file(self.path)
            if page is None:
                return self.forward()
            content_type = mimetypes.guess_type(page.name)[0] or "application/octet-stream"
            self.reply(200, [("content-type", content_type)], page.read_bytes())

        def forward(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            event = http_api_event(self.command, self.path, self.headers.items(), body, self.client_address[0])
            with one_at_a_time:
                result = emulator.invoke(event)
            self.reply(*http_response(result))

        def reply(self, status: int, headers: list[tuple[str, str]], body: bytes):
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET
        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = forward

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (default 3000, as sam's)")
    add_package_option(parser)
    args = parser.parse_args(argv)

    def serve(emulator: Emulator) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(emulator))
        print(f"http://127.0.0.1:{server.server_port}/ -> {args.package}", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass

    return with_emulator(args.package, serve)

if __name__ == "__main__":
    sys.exit(main())
