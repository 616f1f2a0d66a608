"""A real uvicorn process serving the app on loopback, for the load benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def uvicorn_server(workers: int = 1, env: dict[str, str] | None = None):
    """Yields (base_url, process); the app is warmed up (lifespan) when this yields."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "function.app:app", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # slow when the machine is busy
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB of a process and its children (uvicorn workers)."""
    current = peak = 0
    for each in [pid, *_children(pid)]:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{each}/status").read_text().splitlines())
        current += int(fields["VmRSS"].split()[0])
        peak += int(fields["VmHWM"].split()[0])
    return current, peak


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found
