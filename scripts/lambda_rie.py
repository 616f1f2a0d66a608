"""Run the built Lambda package the way Lambda runs it, without Docker (like `sam local invoke`).

    python3 scripts/lambda_rie.py events/http-v2-raw-jpeg.json [more events] [--package dist/lambda]

AWS's Runtime Interface Emulator (RIE, shipped in the aws-sam-cli wheel) starts Python 3.12 with
AWS's runtime interface client (awslambdaric) on the package, both from the tool environment
.tools/lambda/ (scripts/setup.sh dev creates it; pins in scripts/lambda-tools.txt), never from
the package. Lambda's conditions apply: the package directory read-only (a read-only bind mount
in a private mount namespace), only a fresh temporary directory writable (TMPDIR), no HOME,
Lambda's environment variables instead of the caller's, and one CPU (the template's 1769 MB
buys one vCPU). Both servers listen on 127.0.0.1 only, on free ports.

Prints each event's response (the JSON Lambda returns) on stdout; the RIE's and the function's
logs, `INIT REPORT(durationMs: ...)` among them, go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, TextIO

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools" / "lambda"
RUNTIME_CLIENT_DIR = TOOLS / "runtime"  # awslambdaric, pip-installed --target: Lambda's /var/runtime
SAM_ENV = TOOLS / "sam"  # aws-sam-cli in a venv: `sam` and the RIE binary inside its wheel
HANDLER = "function.handler.handler"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "FacesFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",  # template.yaml's MemorySize default
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/FacesFunction",
    "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    # template.yaml's DetectThreads default; without it the service starts a thread per CPU it sees.
    "FACES_DETECT_THREADS": "1",
}


class Missing(RuntimeError):
    """The tool environment, Python 3.12 or the built package is not there."""


def lambda_python() -> str:
    found = subprocess.run([str(ROOT / "scripts" / "lambda_python.sh")], capture_output=True, text=True)
    if found.returncode:
        raise Missing(found.stderr.strip())
    return found.stdout.strip()


def rie_binary() -> Path:
    found = sorted(SAM_ENV.glob("lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64"))
    if not found or not (RUNTIME_CLIENT_DIR / "awslambdaric").is_dir():
        raise Missing(f"the Lambda tool environment {TOOLS} is missing: run scripts/setup.sh dev")
    return found[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lambda_environment(package: Path, tmp: Path) -> dict[str, str]:
    """What the function sees: Lambda's variables, the caller's FACES_* settings, nothing else."""
    settings = {name: value for name, value in os.environ.items() if name.startswith("FACES_")}
    return FUNCTION_ENV | settings | {
        "LAMBDA_TASK_ROOT": str(package),
        "LAMBDA_RUNTIME_DIR": str(RUNTIME_CLIENT_DIR),
        "PYTHONPATH": str(RUNTIME_CLIENT_DIR),
        "LD_LIBRARY_PATH": f"{package}:{package}/lib",
        "TMPDIR": str(tmp),
    }


def read_only_command(package: Path, command: list[str]) -> list[str]:
    """command run in a private mount namespace where package is a read-only bind mount of itself."""
    namespace = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespace.append("--map-root-user")
    # cd after mounting: a working directory entered before it would still be the writable one.
    script = 'mount --bind -o ro "$0" "$0" && cd "$0" && exec "$@"'
    return [*namespace, "sh", "-c", script, str(package), *command]


class Emulator:
    """The RIE serving the package's handler on 127.0.0.1, as a context manager.

    The runtime starts, and runs the init phase, on the first invocation, as an on-demand
    Lambda instance does. `environment` adds variables, as the function's configuration (or
    Lambda, for AWS_ACCESS_KEY_ID and the like) would.
    """

    def __init__(self, package: Path, *, handler: str = HANDLER, log: TextIO | None = None,
                 startup_timeout: float = 30, environment: dict[str, str] | None = None):
        self.package = package.resolve()
        self.environment = environment or {}
        self.handler = handler
        self.log = log
        self.startup_timeout = startup_timeout
        self.lines: list[str] = []

    def __enter__(self) -> "Emulator":
        rie, python = rie_binary(), lambda_python()
        self.tmp = Path(tempfile.mkdtemp(prefix="lambda-tmp-"))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
        command = [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                   "--runtime-api-address", f"127.0.0.1:{free_port()}",
                   python, "-m", "awslambdaric", self.handler]
        one_cpu = min(os.sched_getaffinity(0))
        self.process = subprocess.Popen(
            read_only_command(self.package, command), env=lambda_environment(self.package, self.tmp) | self.environment,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {one_cpu}),
        )
        threading.Thread(target=self._collect_log, daemon=True).start()
        self._wait_until_listening(port)
        return self

    def _collect_log(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if self.log:
                self.log.write(line)
                self.log.flush()

    def _wait_until_listening(self, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"the RIE did not start listening on port {port}:\n{''.join(self.lines)}")

    def invoke(self, event: dict, timeout: float = 600) -> dict:
        request = urllib.request.Request(self.url, data=json.dumps(event).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)

    def init_duration_ms(self, wait: float = 5) -> float:
        """The init phase's duration from the RIE's `INIT REPORT` log line (after an invocation)."""
        deadline = time.monotonic() + wait
        while True:
            for line in self.lines:
                if match := INIT_REPORT.search(line):
                    return float(match.group(1))
            if time.monotonic() > deadline:
                raise LookupError("no INIT REPORT in the RIE's log:\n" + "".join(self.lines))
            time.sleep(0.05)

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def stop_on_sigterm(*_) -> None:
    """Leave through the `with` block, so the emulator (in a session of its own) is stopped too."""
    raise SystemExit(143)


def add_package_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", type=Path, default=ROOT / "dist" / "lambda",
                        help="the unzipped package (default dist/lambda: the build command of docs/deploy.md)")


def with_emulator(package: Path, use: Callable[[Emulator], None]) -> int:
    """A command's body: use(emulator), its logs on stderr; 1 (and why) when something is missing."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        if not (package / "function" / "handler.py").is_file():
            raise Missing(f"no package in {package}: build it first (docs/deploy.md, 'The package')")
        with Emulator(package, log=sys.stderr) as emulator:
            use(emulator)
    except Missing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", type=Path, nargs="+", help="API Gateway events (JSON), e.g. events/*.json")
    add_package_option(parser)
    args = parser.parse_args(argv)

    def invoke_each(emulator: Emulator) -> None:
        for path in args.events:
            print(json.dumps(emulator.invoke(json.loads(path.read_text())), indent=2), flush=True)

    return with_emulator(args.package, invoke_each)

if __name__ == "__main__":
    sys.exit(main())
