"""Privacy: nothing from a request reaches the disk, and no image content reaches the logs.

A real uvicorn serves tests/instrumented_app.py (the service plus observers) from an empty
working directory with TMPDIR pointing at an empty directory. A batch of uploads carrying a
recognisable marker goes through every path (the three body forms, an upload over 1 MB,
client errors, both 500 paths), while three observers watch:
- the process's own audit hook, which reports every file Python opens for writing;
- strace on the server process (when strace is installed), which sees native code too;
- the filesystem areas the process could write: cwd and TMPDIR must stay empty, and no file
  modified in /tmp or the repository during the batch may contain the marker (other
  programs on the machine may write there meanwhile, so those areas are read, not diffed).
A positive control shows the observers catch a real spool: Starlette's default form parser
writes uploads over 1 MB to an unnamed temp file (invisible to any directory listing).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from conftest import FACE_PHOTOS, encode
from instrumented_app import FAULT_IN_BODY, FAULT_IN_PIPELINE
from live_server import REPO, live_server

MARKER = b"PRIVACY-MARKER-c0ffee"
WATCHED = [Path("/tmp"), REPO]
NOT_WRITTEN_BY_THE_SERVICE = {".git", ".venv"}  # pruned from the walk: large, and the server never writes there
STRACE_CALLS = "open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mknod,mknodat,truncate"
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")


def marked_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = MARKER.decode()  # ImageDescription, which Pillow parses while decoding
    return encode(Image.open(FACE_PHOTOS[0]), quality=90, exif=exif.tobytes(), comment=MARKER)


def marked_png(width: int, height: int) -> bytes:
    """Noise (incompressible, so 800x500 is over 1 MB) with the marker in a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER.decode())
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(noise), "PNG", pnginfo=info)


JPEG = marked_jpeg()
LARGE_PNG = marked_png(800, 500)
B64 = base64.b64encode(JPEG).decode()


def upload(data: bytes, field: str = "file") -> dict:
    return {"files": {field: ("photo.png", data, "image/png")}}


def raw(data: bytes, content_type: str = "image/jpeg") -> dict:
    return {"content": data, "headers": {"content-type": content_type}}


# (request, expected status) — every body carries the marker
BATCH = [
    (upload(JPEG), 200),
    (raw(JPEG), 200),
    ({"json": {"image": B64}}, 200),
    ({"json": {"image": f"data:image/jpeg;base64,{B64}"}}, 200),
    ({**upload(LARGE_PNG), "params": {"upsample": 0}}, 200),
    ({**raw(LARGE_PNG, "image/png"), "params": {"upsample": 0}}, 200),
    (raw(JPEG[: len(JPEG) // 2]), 400),
    (raw(MARKER * 100), 400),
    ({"json": {"image": MARKER.decode() * 10}}, 400),
    ({"json": {"image": "data:image/jpeg," + MARKER.decode()}}, 400),
    (raw(b'{"image": ' + MARKER, "application/json"), 422),
    (upload(JPEG, field="photo"), 422),
    (raw(MARKER * 100, "text/plain"), 415),
    (raw(MARKER * (7 * 1024 * 1024 // len(MARKER))), 413),
    (raw(JPEG + FAULT_IN_PIPELINE), 500),
    (raw(JPEG + FAULT_IN_BODY), 500),
]


@dataclass
class Observed:
    output: bytes  # the server's stdout and stderr during the batch
    strace: str | None  # write-like syscalls during the batch, None without strace
    changed: dict[str, list[Path]]  # files modified during the batch, per watched area
    control_output: bytes
    control_strace: str | None


def modified_since(root: Path, since_ns: int) -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(root, onerror=lambda _: None):
        subdirectories[:] = [d for d in subdirectories if d not in NOT_WRITTEN_BY_THE_SERVICE]
        for name in names:
            path = Path(directory, name)
            try:
                if path.lstat().st_mtime_ns >= since_ns:
                    found.append(path)
            except OSError:
                continue
    return found


class Strace:
    """strace attached to a running process; write-like syscalls are read back at stop()."""

    def __init__(self, pid: int, log: Path):
        self.log = log
        self.process = subprocess.Popen(
            ["strace", "-f", "-qq", "-e", f"trace={STRACE_CALLS}", "-o", str(log), "-p", str(pid)],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self.attached(pid):
            assert time.monotonic() < deadline and self.process.poll() is None, "strace could not attach"
            time.sleep(0.1)

    def attached(self, pid: int) -> bool:
        """Whether strace traces every thread of the process."""
        tracers = set()
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                line = next(l for l in status.read_text().splitlines() if l.startswith("TracerPid:"))
            except (OSError, StopIteration):
                continue
            tracers.add(int(line.split()[1]))
        return tracers == {self.process.pid}

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=10)
        lines = self.log.read_text().splitlines()
        writes = [line for line in lines if "creat(" in line or any(flag in line for flag in WRITE_FLAGS)
                  or any(call in line for call in ("rename", "link(", "linkat(", "mknod", "truncate("))]
        return "\n".join(writes)


def send(http: httpx.Client) -> None:
    for request, status in BATCH:
        response = http.post("/v1/faces", **request)
        assert response.status_code == status, (request.get("headers"), response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/json")


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Observed:
    work, tmpdir, trace_dir = (tmp_path_factory.mktemp(name) for name in ("cwd", "tmpdir", "strace"))
    use_strace = shutil.which("strace") is not None
    with live_server(env={"TMPDIR": str(tmpdir)}, cwd=work, app="instrumented_app:create_app", app_dir=Path(__file__).parent, factory=True) as server, \
            httpx.Client(base_url=server.url, timeout=120) as http:
        http.post("/v1/faces", **upload(encode(Image.open(FACE_PHOTOS[1])))).raise_for_status()  # warm every lazy path
        began = time.time_ns()
        start = len(server.output())
        strace = Strace(server.process.pid, trace_dir / "batch.log") if use_strace else None
        send(http)
        time.sleep(1)  # let the last log lines arrive
        batch_strace = strace.stop() if strace else None
        output = server.output()[start:]
        changed = {str(root): modified_since(root, began) for root in WATCHED}
        changed["cwd"] = [p for p in work.rglob("*")]
        changed["TMPDIR"] = [p for p in tmpdir.rglob("*")]

        start = len(server.output())
        strace = Strace(server.process.pid, trace_dir / "control.log") if use_strace else None
        response = http.post("/_control/starlette-form", **upload(LARGE_PNG))
        assert response.json() == {"fields": 1}
        time.sleep(1)
        control_strace = strace.stop() if strace else None
        control_output = server.output()[start:]
    return Observed(output, batch_strace, changed, control_output, control_strace)


def write_opens(output: bytes) -> list[str]:
    return [line for line in output.decode(errors="replace").splitlines() if line.startswith("WRITE-OPEN")]


def test_control_the_observers_see_starlettes_spooled_upload(observed):
    assert write_opens(observed.control_output), "the audit hook missed Starlette's temp file"
    if observed.control_strace is None:
        pytest.skip("strace is not installed; the audit hook alone was checked")
    assert "O_TMPFILE" in observed.control_strace or "O_CREAT" in observed.control_strace, observed.control_strace


def test_no_request_bytes_are_written_to_disk(observed):
    assert write_opens(observed.output) == []
    if observed.strace is not None:
        assert observed.strace == "", f"the server opened files for writing:\n{observed.strace}"
    assert observed.changed["cwd"] == [] and observed.changed["TMPDIR"] == []
    for area in map(str, WATCHED):
        for path in observed.changed[area]:
            try:
                content = path.read_bytes() if path.stat().st_size < 64 * 2**20 else b""
            except OSError:
                continue  # gone again (another process's temp file)
            assert MARKER not in content, f"{path} changed during the uploads and holds request bytes"


def test_logs_hold_no_image_content(observed):
    log = observed.output
    assert b"DEBUG" in log and b"POST /v1/faces" in log, "the logs were not captured"
    assert b"unexpected RuntimeError while analysing" in log, "the 500 path logged nothing"
    assert MARKER not in log, "request bytes (EXIF, a comment, an exception message quoting them) in the logs"
    for start in range(0, len(B64) - 32, 32):
        assert B64[start : start + 32].encode() not in log, "base64 of the upload is in the logs"
    assert JPEG[:64].hex().encode() not in log and repr(JPEG[2:34]).encode() not in log
