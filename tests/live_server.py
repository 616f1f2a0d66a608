"""A real uvicorn process serving the app on a free loopback port, for tests over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 300  # the app warms its models up before it accepts connections (slow on a busy machine)


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    output_chunks: list[bytes]

    def output(self) -> bytes:
        """Everything the process wrote to stdout and stderr so far."""
        return b"".join(self.output_chunks)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _drain(stream, chunks: list[bytes]) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        chunks.append(chunk)


@contextmanager
def live_server(
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
    app: str = "function.app:app",
    app_dir: Path = REPO,
    factory: bool = False,
) -> Iterator[LiveServer]:
    """Start `uvicorn app` (one worker), wait until /healthz answers, stop it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--factory"] if factory else []
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunks: list[bytes] = []
    threading.Thread(target=_drain, args=(process.stdout, chunks), daemon=True).start()
    server = LiveServer(f"http://127.0.0.1:{port}", process, chunks)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{server.output().decode(errors='replace')}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not answer /healthz within {STARTUP_SECONDS} s")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
