"""Deployment: the SAM template lints, the sample events answer through the Lambda handler (in
process and via `python -m function.invoke`), and the Lambda package builds, fits its budget
and serves from its own files on Python 3.12 without the dlib models it leaves out."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import gender_of

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SAMPLE_PHOTO_GENDER = "female"  # events/generate.py's photo

FACES = ("faces", None)
SEED_SHAPE = ("seed", None)
HEALTH = ("health", None)
EXPECTED = {
    "http-v2-multipart": (200, FACES),
    "http-v2-raw-jpeg": (200, FACES),
    "http-v2-json": (200, FACES),
    "http-v2-predict-model": (200, SEED_SHAPE),
    "http-v2-healthz": (200, HEALTH),
    "http-v2-not-an-image": (400, ("error", "invalid_image")),
    "http-v2-text-plain": (415, ("error", "unsupported_media_type")),
    "rest-v1-multipart": (200, FACES),
    "rest-v1-raw-jpeg": (200, FACES),
    "rest-v1-json": (200, FACES),
}


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_body(name: str, body: dict) -> None:
    kind, code = EXPECTED[name][1]
    if kind == "faces":
        [face] = body["faces"]
        assert face["gender"] == SAMPLE_PHOTO_GENDER
        assert set(face["box"]) == {"x", "y", "width", "height"} and face["box"]["width"] > 50
        assert body["image"] == {"width": 250, "height": 250}
    elif kind == "seed":
        assert body["meta_info"]["num_faces"] == 1
        assert body["faces"]["face1"]["gender"] == SAMPLE_PHOTO_GENDER.capitalize()  # the seed's "Female"
    elif kind == "health":
        assert body == {"status": "ok"}
    else:
        assert body["error"]["code"] == code and body["error"]["message"]


def test_every_event_has_an_expectation_and_matches_its_generator():
    generator = load_module(EVENTS / "generate.py")
    assert gender_of(generator.PHOTO) == SAMPLE_PHOTO_GENDER
    generated = generator.sample_events()
    on_disk = {path.stem: json.loads(path.read_text()) for path in EVENTS.glob("*.json")}
    assert set(on_disk) == set(EXPECTED) == set(generated)
    assert on_disk == generated, "events/ is stale: run python events/generate.py"


@pytest.fixture(scope="module")
def handler():
    from function.handler import handler

    return handler


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_event_through_the_handler(handler, name):
    response = handler(json.loads((EVENTS / f"{name}.json").read_text()), None)
    assert response["statusCode"] == EXPECTED[name][0]
    assert response["headers"]["content-type"] == "application/json"
    check_body(name, json.loads(response["body"]))


def invoke(python: str, name: str, cwd: Path) -> tuple[subprocess.CompletedProcess, int, dict]:
    """`python -m function.invoke events/<name>.json` run in cwd; its status line and body."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONWARNINGS": "ignore"}
    command = [python, "-m", "function.invoke", str(EVENTS / f"{name}.json")]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    status_line, _, rest = result.stdout.partition("\n")
    match = re.fullmatch(r"HTTP (\d{3})", status_line)
    assert match, f"unexpected output:\n{result.stdout}\n{result.stderr}"
    body = json.loads(rest.partition("\n\n")[2])
    return result, int(match.group(1)), body


@pytest.mark.parametrize("name", ["http-v2-raw-jpeg", "http-v2-text-plain"])
def test_invoke_command(name):
    result, status, body = invoke(sys.executable, name, ROOT)
    assert status == EXPECTED[name][0]
    assert result.returncode == (0 if status == 200 else 1)
    assert "content-type: application/json" in result.stdout
    check_body(name, body)


def test_template_lints():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"  # the console script of tests/requirements.txt's pin
    result = subprocess.run([str(cfn_lint), str(ROOT / "template.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_sets_only_settings_the_service_reads():
    from cfnlint.decode import decode

    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    function = template["Resources"]["FacesFunction"]["Properties"]
    assert function["Handler"] == "function.handler.handler" and function["Runtime"] == "python3.12"
    read = set(re.findall(r"FACES_[A-Z_]+", (ROOT / "function" / "settings.py").read_text()))
    assert set(function["Environment"]["Variables"]) <= read | {"FACES_API_BASE_PATH"}


# --- the Lambda package ------------------------------------------------------------------

BUILDER = ROOT / "scripts" / "build_lambda.py"


def test_size_check_fails_over_budget(tmp_path, capsys):
    builder = load_module(BUILDER)
    (tmp_path / "blob").write_bytes(b"\0" * (2 * builder.MIB))
    assert builder.within_budget(tmp_path, 3)
    assert not builder.within_budget(tmp_path, 1.5)
    assert "over the budget" in capsys.readouterr().err


LAMBDA_PYTHON_FINDER = Path(__file__).resolve().parent.parent / "scripts" / "lambda_python.sh"


def lambda_python(env: dict | None = None) -> str | None:
    """A Python 3.12 (the Lambda runtime) as the README's build command finds it."""
    found = subprocess.run([str(LAMBDA_PYTHON_FINDER)], capture_output=True, text=True, env=env)
    return found.stdout.strip() if found.returncode == 0 else None


def test_the_build_finds_a_python_312_past_a_shim_that_refuses(tmp_path):
    if lambda_python() is None:
        pytest.skip("no Python 3.12 on this machine (set LAMBDA_PYTHON)")
    shim = tmp_path / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_PYTHON"}
    env["PATH"] = f"{tmp_path}:{env['PATH']}"
    python = lambda_python(env)
    assert python and python != str(shim)
    assert subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                          text=True).stdout.strip() == "(3, 12)"


def test_the_build_says_what_to_set_when_no_python_312_runs(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LAMBDA_PYTHON": sys.executable}
    found = subprocess.run([str(LAMBDA_PYTHON_FINDER)], capture_output=True, text=True, env=env)
    assert found.returncode == 1 and not found.stdout and "LAMBDA_PYTHON=" in found.stderr


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The package as scripts/build_lambda.py builds it (pip from the index; a few minutes)."""
    python = lambda_python()
    if python is None:
        pytest.skip("no Python 3.12 (set LAMBDA_PYTHON): the package is built and run for the python3.12 runtime")
    package_dir = tmp_path_factory.mktemp("build") / "lambda"
    result = subprocess.run([python, str(BUILDER), "--package-dir", str(package_dir)],
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout + result.stderr
    return python, package_dir, result.stdout


def test_package_fits_lambda_and_holds_only_what_the_service_uses(package):
    builder = load_module(BUILDER)
    _, package_dir, output = package
    size_mib = float(re.search(r"([\d.]+) MiB unzipped", output).group(1))
    assert size_mib < 250
    assert builder.tree_size(package_dir) / builder.MIB == pytest.approx(size_mib, abs=0.1)
    with zipfile.ZipFile(package_dir.with_suffix(".zip")) as archive:
        assert sum(info.file_size for info in archive.infolist()) == builder.tree_size(package_dir)

    top_level = {path.name for path in package_dir.iterdir()}
    assert {"function", "face_recognition", "face_recognition_models", "dlib", "onnxruntime", "mangum"} <= top_level
    assert not top_level & {"torch", "torchvision", "sympy", "bin", "pip", "tests", "export", "bench", "frontend"}
    assert not top_level & {"boto3", "botocore", "s3transfer"}  # function/s3_events.py uses the runtime's own
    assert not list(package_dir.rglob("tests"))
    dlib_models = {path.name for path in (package_dir / "face_recognition_models" / "models").iterdir()}
    assert dlib_models == {"mmod_human_face_detector.dat"}
    from function.settings import DEFAULT_MODEL_PATH

    # the one gender model the settings select, and the detectors' models with their licence
    shipped = {p.name for p in (package_dir / "function" / "models").iterdir()}
    assert shipped == {DEFAULT_MODEL_PATH.name} | {p.name for p in DEFAULT_MODEL_PATH.parent.glob(builder.DETECTOR_MODELS)}
    assert {"blazeface-short-range.onnx", "blazeface-full-range.onnx", "blazeface-LICENSE"} <= shipped


def test_package_bytecode_is_for_python312_and_never_stale(package):
    _, package_dir, _ = package
    caches = list(package_dir.rglob("__pycache__/*.pyc"))
    assert caches and all(".cpython-312." in path.name for path in caches)
    sources = [p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts]
    compiled = {(p.parent.parent, p.name.split(".")[0]) for p in caches}
    assert all((p.parent, p.stem) in compiled for p in sources)
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source. Unchecked: used as is
    # whatever mtimes the unzipped files have.
    flags = {int.from_bytes(path.read_bytes()[4:8], "little") for path in caches}
    assert flags == {0b01}


@pytest.mark.parametrize("name", ["http-v2-multipart", "rest-v1-raw-jpeg", "http-v2-not-an-image"])
def test_package_serves_events_on_python312(package, name):
    python, package_dir, _ = package
    result, status, body = invoke(python, name, package_dir)
    assert status == EXPECTED[name][0], result.stderr
    check_body(name, body)
