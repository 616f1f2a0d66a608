"""Build the AWS Lambda package: dist/lambda/ (what Lambda unzips into /var/task) and dist/lambda.zip.

    python3.12 scripts/build_lambda.py [--package-dir DIR] [--budget-mib N]

Runs under python3.12, the Lambda runtime, so the .pyc files it writes are the ones Lambda
loads (/var/task is read-only: without them every cold start recompiles). Wheels are the
manylinux x86_64 cp312 ones whatever machine builds. The ONNX model shipped is the one
FACES_MODEL_PATH names (default: function/settings.py's), relative to the repository.
Exits non-zero when the unzipped package is over the budget (Lambda's limit: 250 MiB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from function.settings import Settings  # noqa: E402  (stdlib-only module)

LAMBDA_PYTHON = (3, 12)
LAMBDA_WHEELS = [
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
    "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
]
# Published as an sdist only (pure Python): installed without the platform flags.
SDIST_ONLY = "face_recognition_models"
# Relative to the package root. Everything here is either tooling or data the service never
# reads; tests/test_serverless.py runs the built package without them.
UNUSED = (
    "bin",  # console scripts
    "share",  # man pages
    # onnxruntime's model tools (symbolic shape inference, quantization, transformer
    # optimisers) and sympy/mpmath that only they import; inference needs none of them.
    "sympy", "mpmath", "isympy.py",
    "onnxruntime/tools", "onnxruntime/transformers", "onnxruntime/quantization",
    # face_recognition's import builds all four dlib models; function/faces.py defers them so
    # each is read on first use, and detection (face_locations, HOG or CNN) only ever uses
    # the HOG detector compiled into dlib and the CNN detector (mmod_human_face_detector.dat).
    # The landmark models and the face encoder are never used (96 + 9 + 21 MiB).
    "face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
    "face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
    "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
)
MIB = 1024 * 1024


def pip_install(package_dir: Path, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-compile", "--root-user-action=ignore", "--target", str(package_dir), *args]
    subprocess.run(command, check=True)


def install_dependencies(package_dir: Path) -> None:
    requirements = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in requirements if line and not line.startswith("#")]
    wheels = [line for line in requirements if not line.lower().startswith(SDIST_ONLY)]
    sdists = [line for line in requirements if line.lower().startswith(SDIST_ONLY)]
    pip_install(package_dir, *LAMBDA_WHEELS, *wheels)
    pip_install(package_dir, "--no-deps", *sdists, "-r", str(ROOT / "requirements-no-deps.txt"))


# The detectors' own models and their licence, beside the gender model.
DETECTOR_MODELS = "blazeface-*"


def copy_function(package_dir: Path, model: Path) -> None:
    """The function package, every module of it at any depth, the one gender model the settings select
    and the detectors' models."""
    model = (ROOT / model).resolve()
    models_dir = ROOT / "function" / "models"
    if model.parent != models_dir or not model.is_file():
        raise SystemExit(f"FACES_MODEL_PATH must name a file in {models_dir}; got {model}")
    source_dir, target = ROOT / "function", package_dir / "function"
    (target / "models").mkdir(parents=True)
    for source in source_dir.rglob("*.py"):
        destination = target / source.relative_to(source_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    shutil.copy2(model, target / "models" / model.name)
    for detector_file in models_dir.glob(DETECTOR_MODELS):
        shutil.copy2(detector_file, target / "models" / detector_file.name)


def remove_unused(package_dir: Path) -> None:
    for relative in UNUSED:
        path = package_dir / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for pattern in ("__pycache__", "tests"):
        for path in sorted(package_dir.rglob(pattern), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)


def compile_bytecode(package_dir: Path) -> None:
    # unchecked-hash: a zip keeps mtimes to 2 s only, so timestamp-checked .pyc files could
    # look stale after unzipping and be recompiled (in memory) on every cold start.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         str(package_dir)],
        check=True,
    )


def tree_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def write_zip(package_dir: Path, zip_path: Path) -> None:
    zip_path.unlink(missing_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package_dir.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(package_dir))


def largest_entries(package_dir: Path, count: int = 8) -> list[tuple[str, int]]:
    sizes = [(p.name, tree_size(p) if p.is_dir() else p.stat().st_size) for p in package_dir.iterdir()]
    return sorted(sizes, key=lambda item: item[1], reverse=True)[:count]


def within_budget(package_dir: Path, budget_mib: float) -> bool:
    """Prints the unzipped size and its largest parts; False (and why, on stderr) when over budget."""
    size = tree_size(package_dir)
    for name, entry_size in largest_entries(package_dir):
        print(f"  {entry_size / MIB:7.1f} MiB  {name}")
    print(f"{package_dir}: {size / MIB:.1f} MiB unzipped (budget {budget_mib:g} MiB)")
    if size > budget_mib * MIB:
        print(f"error: the package is {(size - budget_mib * MIB) / MIB:.1f} MiB over the budget", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package-dir", type=Path, default=ROOT / "dist" / "lambda",
                        help="where to build the unzipped package; the zip goes beside it (default dist/lambda)")
    parser.add_argument("--budget-mib", type=float, default=float(os.environ.get("LAMBDA_BUDGET_MIB", 250)),
                        help="fail when the unzipped package is larger (default 250, env LAMBDA_BUDGET_MIB)")
    parser.add_argument("--no-zip", action="store_true", help="skip the zip (sam build zips the package itself)")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != LAMBDA_PYTHON:
        raise SystemExit("Run this with python3.12 (the Lambda runtime) so the compiled .pyc files match it.")

    package_dir = args.package_dir.resolve()
    if package_dir.exists():
        shutil.rmtree(package_dir)
    package_dir.mkdir(parents=True)
    install_dependencies(package_dir)
    copy_function(package_dir, Settings.from_env().model_path)
    remove_unused(package_dir)
    compile_bytecode(package_dir)

    if not within_budget(package_dir, args.budget_mib):
        return 1
    if not args.no_zip:
        zip_path = package_dir.with_suffix(".zip")
        write_zip(package_dir, zip_path)
        print(f"{zip_path}: {zip_path.stat().st_size / MIB:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
