"""The Lambda package run as Lambda runs it, with AWS's own runtime pieces: the Runtime Interface
Emulator and awslambdaric on Python 3.12 (scripts/lambda_rie.py), under Lambda's conditions
(package read-only, only TMPDIR writable, no HOME, Lambda's environment, one CPU, loopback only).
The package both of scripts/build_lambda.py and of a real `sam build`; the local HTTP API in front
of it (scripts/lambda_api.py). The tool environment .tools/lambda comes from scripts/setup.sh dev."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from test_serverless import EVENTS, EXPECTED, check_body, lambda_python, package  # noqa: F401  (package: a fixture)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import lambda_api  # noqa: E402
import lambda_rie  # noqa: E402

INIT_BUDGET_MS = 5_000  # far under Lambda's 10 s init limit: not a benchmark, a margin on a loaded machine
LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
PYC_HEADER = 16  # magic, flags, source hash (PEP 552)


@pytest.fixture(scope="module")
def tools():
    """Python 3.12 and the tool environment (which scripts/setup.sh dev makes wherever Python 3.12 runs)."""
    if lambda_python() is None:
        pytest.skip("no Python 3.12 (set LAMBDA_PYTHON): Lambda's python3.12 runtime runs the package")
    try:
        lambda_rie.rie_binary()
    except lambda_rie.Missing as missing:
        pytest.fail(str(missing))


def event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def listening_addresses(pid: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp has them) process pid listens on."""
    sockets = {os.readlink(fd)[len("socket:["):-1] for fd in Path(f"/proc/{pid}/fd").iterdir()
               if os.readlink(fd).startswith("socket:[")}
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in sockets:  # 0A: LISTEN
                addresses.add(fields[1].split(":")[0])
    return addresses


PROBE = '''
import os, tempfile

def writable(directory):
    try:
        with tempfile.NamedTemporaryFile(dir=directory):
            return True
    except OSError:
        return False

def handler(event, context):
    return {"task_root_writable": writable(os.environ["LAMBDA_TASK_ROOT"]),
            "tmp": tempfile.gettempdir(), "tmp_writable": writable(tempfile.gettempdir()),
            "cwd": os.getcwd(), "cpus": len(os.sched_getaffinity(0)), "environ": dict(os.environ)}
'''


def test_the_emulator_imposes_lambdas_conditions(tools, tmp_path, monkeypatch):
    (tmp_path / "probe.py").write_text(PROBE)
    monkeypatch.setenv("FACES_UPSAMPLE", "0")
    monkeypatch.setenv("NOT_FOR_LAMBDA", "1")
    with lambda_rie.Emulator(tmp_path, handler="probe.handler") as emulator:
        seen = emulator.invoke({})
        assert listening_addresses(emulator.process.pid) == {LOOPBACK}
    environ, tmp = seen.pop("environ"), seen.pop("tmp")
    assert seen == {"task_root_writable": False, "tmp_writable": True, "cwd": str(tmp_path.resolve()), "cpus": 1}
    assert environ["TMPDIR"] == tmp and not Path(tmp).is_relative_to(tmp_path)
    assert "HOME" not in environ and "NOT_FOR_LAMBDA" not in environ and "VIRTUAL_ENV" not in environ
    assert environ["FACES_UPSAMPLE"] == "0"  # the caller's service settings pass, as template parameters would
    assert environ["LAMBDA_TASK_ROOT"] == str(tmp_path) and environ["_HANDLER"] == "probe.handler"
    assert environ["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12" and environ["TZ"] == ":UTC"
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
                 "LAMBDA_RUNTIME_DIR", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_RUNTIME_API"):
        assert environ[name]


# --- the package: scripts/build_lambda.py's, and `sam build`'s --------------------------------

def package_files(directory: Path) -> dict[str, str]:
    """Relative path -> digest; for .pyc files, of the header only: the rest embeds the absolute
    path they were compiled at (co_filename), which Python replaces with the real one on import."""
    digests = {}
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            digests[str(path.relative_to(directory))] = hashlib.sha256(
                data[:PYC_HEADER] if path.suffix == ".pyc" else data).hexdigest()
    return digests


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory):
    sam = lambda_rie.SAM_ENV / "bin" / "sam"
    if lambda_python() is None:
        pytest.skip("no Python 3.12 (set LAMBDA_PYTHON): the template's runtime, and sam build's Makefile target, need it")
    if not sam.is_file():
        pytest.skip(f"no {sam}: scripts/setup.sh dev installs aws-sam-cli there")
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    result = subprocess.run(
        [str(sam), "build", "--build-in-source", "--build-dir", str(build_dir), "--template-file",
         str(ROOT / "template.yaml")],
        cwd=ROOT, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, capture_output=True, text=True, timeout=3600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build_dir / "FacesFunction"


def test_sam_build_makes_the_same_package(package, sam_build):
    _, package_dir, _ = package
    ours, sams = package_files(package_dir), package_files(sam_build)
    assert set(ours) == set(sams)
    assert [path for path in ours if ours[path] != sams[path]] == []


@pytest.fixture(scope="module", params=["build_lambda.py", "sam build"])
def emulator(tools, request):
    if request.param == "sam build":
        package_dir = request.getfixturevalue("sam_build")
    else:
        package_dir = request.getfixturevalue("package")[1]
    with lambda_rie.Emulator(package_dir) as running:
        yield running


@pytest.mark.parametrize("name", sorted(path.stem for path in EVENTS.glob("*.json")))
def test_every_event_answers_through_the_runtime_interface_emulator(emulator, name):
    response = emulator.invoke(event(name))
    assert response["statusCode"] == EXPECTED[name][0], "".join(emulator.lines[-40:])
    assert response["headers"]["content-type"] == "application/json"
    check_body(name, json.loads(response["body"]))


def test_init_is_far_under_lambdas_limit(emulator):
    emulator.invoke(event("http-v2-healthz"))
    init_ms = emulator.init_duration_ms()
    print(f"INIT REPORT durationMs {init_ms:.0f}")
    assert 0 < init_ms < INIT_BUDGET_MS


# --- the local HTTP API -------------------------------------------------------------------

def test_a_request_becomes_the_event_api_gateway_sends():
    expected = event("http-v2-raw-jpeg")
    body = base64.b64decode(expected["body"])
    headers = [(name.title(), value) for name, value in expected["headers"].items()]
    target = f"{expected['rawPath']}?{expected['rawQueryString']}"
    made = lambda_api.http_api_event("POST", target, headers, body, "203.0.113.7")
    for field in ("version", "routeKey", "rawPath", "rawQueryString", "queryStringParameters", "headers",
                  "isBase64Encoded", "body"):
        assert made[field] == expected[field], field
    assert made["requestContext"]["http"] == expected["requestContext"]["http"]
    assert "cookies" not in made


def test_text_bodies_stay_text_and_the_rest_is_base64():
    as_json = lambda_api.http_api_event("POST", "/v1/faces", [("Content-Type", "application/json")],
                                        b'{"image": "x"}', "127.0.0.1")
    assert as_json["body"] == '{"image": "x"}' and not as_json["isBase64Encoded"]
    not_utf8 = lambda_api.http_api_event("POST", "/", [("Content-Type", "text/plain")], b"\xff\xfe", "127.0.0.1")
    assert not_utf8["isBase64Encoded"] and base64.b64decode(not_utf8["body"]) == b"\xff\xfe"
    empty = lambda_api.http_api_event("GET", "/healthz", [], b"", "127.0.0.1")
    assert "body" not in empty and not empty["isBase64Encoded"]


def test_cookies_query_and_repeated_headers_as_payload_2():
    made = lambda_api.http_api_event(
        "GET", "/v1/model?a=1&b=2&a=3", [("Cookie", "x=1; y=2"), ("X-Many", "one"), ("x-many", "two")],
        b"", "127.0.0.1")
    assert made["rawPath"] == "/v1/model" and made["rawQueryString"] == "a=1&b=2&a=3"
    assert made["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert made["cookies"] == ["x=1", "y=2"] and "cookie" not in made["headers"]
    assert made["headers"] == {"x-many": "one,two"}


def test_the_functions_result_becomes_the_http_response():
    status, headers, body = lambda_api.http_response({
        "statusCode": 201, "headers": {"content-type": "image/png"}, "multiValueHeaders": {"x-two": ["a", "b"]},
        "cookies": ["s=1; HttpOnly", "t=2"], "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True,
    })
    assert status == 201 and body == b"\x89PNG"
    assert headers == [("content-type", "image/png"), ("x-two", "a"), ("x-two", "b"),
                       ("set-cookie", "s=1; HttpOnly"), ("set-cookie", "t=2")]
    assert lambda_api.http_response({"statusCode": 204}) == (204, [], b"")
    as_json = [("content-type", "application/json")]
    assert lambda_api.http_response({"any": "json"}) == (200, as_json, b'{"any": "json"}')
    assert lambda_api.http_response(["a"]) == (200, as_json, b'["a"]')
    raised = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}  # the RIE's answer when it raises
    assert lambda_api.http_response(raised) == (500, as_json, b'{"message":"Internal Server Error"}')


def test_the_page_and_the_api_through_the_local_http_api(emulator):
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda_api.make_handler(emulator))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{base}/") as page:
            assert page.read() == (ROOT / "frontend" / "index.html").read_bytes()
            assert page.headers["content-type"] == "text/html"
        photo = base64.b64decode(event("http-v2-raw-jpeg")["body"])
        upload = urllib.request.Request(f"{base}/v1/faces?upsample=1", data=photo, method="POST",
                                        headers={"content-type": "image/jpeg"})
        with urllib.request.urlopen(upload) as answer:
            assert answer.status == 200 and answer.headers["content-type"] == "application/json"
            check_body("http-v2-raw-jpeg", json.load(answer))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{base}/v1/faces", data=b"text", method="POST",
                                                          headers={"content-type": "text/plain"}))
        assert refused.value.code == 415
    finally:
        server.shutdown()
        server.server_close()
