"""Helpers for the browser tests: a Y4M fake-webcam file, Chromium's flags, a TCP relay that
lets an API "come up" on a chosen port, and checks on screenshot pixels."""

from __future__ import annotations

import io
import socket
import socketserver
import threading
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
# quiet, reproducible headless Chromium; no network beyond what the page asks for
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the page's box colours (frontend/overlay.js GENDER_COLOURS)
GENDER_RGB = {"female": (0xFF, 0x4F, 0xA0), "male": (0x2F, 0x9B, 0xFF)}


def fake_camera_args(y4m: Path, grant: bool = True) -> list[str]:
    """Flags for a fake camera playing `y4m` in a loop; grant=False leaves the permission prompt on."""
    args = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m.resolve()}"]
    return args + (["--use-fake-ui-for-media-stream"] if grant else ["--deny-permission-prompts"])


def _ycbcr_limited(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited range (Y 16-235, Cb/Cr 16-240), chroma averaged over 2x2 blocks (4:2:0)."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape

    def subsample(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, subsample(cb), subsample(cr)))


def write_y4m(path: Path, frames: list[Image.Image], fps: int = 15) -> Path:
    """An uncompressed YUV4MPEG2 video (C420jpeg) that Chromium's fake camera plays in a loop."""
    width, height = frames[0].size
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            for plane in _ycbcr_limited(np.asarray(frame.convert("RGB"))):
                out.write(plane.tobytes())
    return path


class TcpRelay:
    """Listens on `port` and pipes every connection to `target_port`: from the browser's side,
    a server appears on `port` when the relay starts."""

    def __init__(self, port: int, target_port: int):
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(("127.0.0.1", relay.target_port)) as upstream:
                    back = threading.Thread(target=_pipe, args=(upstream, self.request), daemon=True)
                    back.start()
                    _pipe(self.request, upstream)
                    back.join()

        self.target_port = target_port
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler, bind_and_activate=False)
        self.server.daemon_threads = True

    def __enter__(self) -> "TcpRelay":
        self.server.server_bind()
        self.server.server_activate()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the other side closed first


def screenshot_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def colour_share_on_edges(pixels: np.ndarray, box: dict, rgb: tuple[int, int, int], band: int, tolerance: int = 40) -> float:
    """Share of points along the four edges of `box` (pixel units of `pixels`) that have a pixel of
    colour `rgb` within `band` pixels across the edge."""
    x0, y0 = round(box["x"]), round(box["y"])
    x1, y1 = round(box["x"] + box["width"]), round(box["y"] + box["height"])
    height, width, _ = pixels.shape
    close = np.abs(pixels - np.array(rgb)).max(axis=2) <= tolerance

    def hit(x: int, y: int, horizontal: bool) -> bool:
        if horizontal:
            ys = slice(max(y - band, 0), min(y + band + 1, height))
            return bool(close[ys, min(max(x, 0), width - 1)].any())
        xs = slice(max(x - band, 0), min(x + band + 1, width))
        return bool(close[min(max(y, 0), height - 1), xs].any())

    # sample the middle 80 % of each edge: corners may hide under the label plate
    xs = np.linspace(x0 + 0.1 * (x1 - x0), x1 - 0.1 * (x1 - x0), 20).round().astype(int)
    ys = np.linspace(y0 + 0.1 * (y1 - y0), y1 - 0.1 * (y1 - y0), 20).round().astype(int)
    hits = [hit(x, y0, True) for x in xs] + [hit(x, y1, True) for x in xs]
    hits += [hit(x0, y, False) for y in ys] + [hit(x1, y, False) for y in ys]
    return sum(hits) / len(hits)


def mean_difference(shown: np.ndarray, reference: Image.Image) -> float:
    """Mean absolute RGB difference between a screenshot and a reference image scaled to its size."""
    scaled = reference.convert("RGB").resize((shown.shape[1], shown.shape[0]), Image.BILINEAR)
    return float(np.abs(shown - np.asarray(scaled).astype(np.int16)).mean())
