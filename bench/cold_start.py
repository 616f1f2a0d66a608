"""Cold start: a fresh process's wall time to its first response, and its peak memory, for our
Lambda handler and for the seed-style stack, on the same photo in the same run.

    python -m bench.cold_start                    # 5 fresh processes each, alternating
    python -m bench.cold_start --runs 9 --package dist/lambda   # also the built package on python3.12

ours: `import function.handler` (imports, model load, warm-up: Lambda's init phase), then the
first request through the handler with events/http-v2-raw-jpeg.json.
seed: bench/seed_stack.py (torch, the seed checkpoint, `import face_recognition` whole), then
its first prediction on the same photo. Needs torch (dev setup) and ../shared; skipped otherwise.
Targets: ours/seed <= 0.5 for both; exits 1 when a target is missed. CPU time (user + system
of the child) is printed too: on a loaded machine it varies less than wall time.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from export.shared_data import SEED_CHECKPOINT

ROOT = Path(__file__).resolve().parent.parent
EVENT = ROOT / "events" / "http-v2-raw-jpeg.json"
TARGET_RATIO = 0.5


def child(stack: str, event_path: Path) -> None:
    """Runs in the fresh process: build the stack, answer one request, report."""
    event = json.loads(event_path.read_text())
    started = time.perf_counter()
    if stack == "ours":
        from function.handler import handler

        initialised = time.perf_counter()
        response = handler(event, None)
        faces = len(json.loads(response["body"]).get("faces", [])) if response["statusCode"] == 200 else -1
    else:
        from bench.seed_stack import SeedStack

        seed = SeedStack(SEED_CHECKPOINT)
        initialised = time.perf_counter()
        faces = len(seed.predict(base64.b64decode(event["body"]))[0])
    answered = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {"faces": faces, "peak_mib": usage.ru_maxrss / 1024,  # ru_maxrss: KiB on Linux
              "cpu_ms": 1000 * (usage.ru_utime + usage.ru_stime),
              "init_ms": 1000 * (initialised - started), "first_ms": 1000 * (answered - initialised)}
    print(json.dumps(report), flush=True)


def run_once(python: str, stack: str, code_dir: Path) -> dict:
    """Wall time from spawning the interpreter to the child's report (its exit is not counted).

    The child runs in code_dir (where `function` is imported from, as Lambda runs in
    /var/task); bench/ comes from this repository.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code_dir), str(ROOT)]), "PYTHONWARNINGS": "ignore"}
    command = [python, "-m", "bench.cold_start", "--child", stack]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=code_dir, text=True)
    line = process.stdout.readline()
    wall_ms = 1000 * (time.perf_counter() - started)
    process.wait()
    if process.returncode != 0 or not line:
        raise SystemExit(f"{stack} child failed with exit code {process.returncode}")
    report = json.loads(line)
    if report["faces"] < 1:
        raise SystemExit(f"{stack} found no face on {EVENT.name}: {report}")
    return {**report, "wall_ms": wall_ms}


def seed_unavailable() -> str:
    if not SEED_CHECKPOINT.is_file():
        return f"{SEED_CHECKPOINT} is absent"
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (the dev setup has it)"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per stack (default 5)")
    parser.add_argument("--package", type=Path, help="also run our handler from this built package (dist/lambda)")
    parser.add_argument("--package-python", default=os.environ.get("LAMBDA_PYTHON", "python3.12"),
                        help="Python 3.12 for --package (default: env LAMBDA_PYTHON, else python3.12)")
    parser.add_argument("--child", choices=["ours", "seed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, EVENT)
        return 0

    stacks = {"ours": (sys.executable, "ours", ROOT)}
    if args.package:
        # The interpreter itself, not a launcher such as a pyenv shim whose start-up would count.
        where = [args.package_python, "-c", "import sys; print(sys.executable, sys.version_info[:2] == (3, 12))"]
        found = subprocess.run(where, capture_output=True, text=True) if shutil.which(args.package_python) else None
        if found is None or not found.stdout.strip().endswith("True"):
            raise SystemExit(f"{args.package_python} is not a working Python 3.12 (--package-python, env LAMBDA_PYTHON)")
        python = found.stdout.split()[0]
        stacks["ours, package"] = (python, "ours", args.package.resolve())
    reason = seed_unavailable()
    if not reason:
        stacks["seed"] = (sys.executable, "seed", ROOT)

    results: dict[str, list[dict]] = {name: [] for name in stacks}
    for run in range(args.runs):
        order = list(stacks) if run % 2 == 0 else list(reversed(stacks))
        for name in order:
            results[name].append(run_once(*stacks[name]))
            print(f"run {run + 1}/{args.runs} {name}: {results[name][-1]['wall_ms']:.0f} ms", file=sys.stderr)

    medians = {name: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for name, rows in results.items()}
    print(f"\ncold start, median of {args.runs} fresh processes each ({EVENT.name})")
    print(f"{'stack':16} {'first response':>15} {'init':>9} {'1st request':>12} {'CPU time':>10} {'peak RSS':>10}")
    for name, m in medians.items():
        print(f"{name:16} {m['wall_ms']:12.0f} ms {m['init_ms']:6.0f} ms {m['first_ms']:9.0f} ms "
              f"{m['cpu_ms']:7.0f} ms {m['peak_mib']:6.0f} MiB")
    if reason:
        print(f"seed stack skipped: {reason}")
        return 0
    time_ratio = medians["ours"]["wall_ms"] / medians["seed"]["wall_ms"]
    memory_ratio = medians["ours"]["peak_mib"] / medians["seed"]["peak_mib"]
    cpu_ratio = medians["ours"]["cpu_ms"] / medians["seed"]["cpu_ms"]
    print(f"ours/seed: cold start {time_ratio:.2f}x, peak memory {memory_ratio:.2f}x (targets <= {TARGET_RATIO}x); "
          f"CPU time {cpu_ratio:.2f}x")
    return 0 if time_ratio <= TARGET_RATIO and memory_ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
