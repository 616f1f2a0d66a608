"""Helpers for the browser tests: a Y4M fake-webcam file, a moving scene to play through it,
Chromium's flags, a TCP relay that lets an API "come up" on a chosen port, and checks on
screenshot pixels."""

from __future__ import annotations

import io
import itertools
import socket
import random
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from bench.scenes import FacePhoto, background, face_patch
from function.boxes import Box

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
# the page's box colours (frontend/overlay.js GENDER_COLOURS, UNCERTAIN_COLOUR)
GENDER_RGB = {"female": (0xFF, 0x4F, 0xA0), "male": (0x2F, 0x9B, 0xFF)}
UNCERTAIN_RGB = (0xB4, 0xB4, 0xB4)


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


def peek(items: Iterable):
    """The first item, and all the items (the first included)."""
    items = iter(items)
    first = next(items)
    return first, itertools.chain([first], items)


def write_y4m(path: Path, frames: Iterable[Image.Image], fps: int = 15) -> Path:
    """An uncompressed YUV4MPEG2 video (C420jpeg) that Chromium's fake camera plays in a loop."""
    first, frames = peek(frames)
    width, height = first.size
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


# ---- a moving scene for the fake camera: still group, pan, cut, two people crossing, cut back --

SCENE_SIZE = (640, 480)
SCENE_FPS = 15
FACE_WIDTH = 90  # dlib box width in the camera frame
STILL, PAN, CUT, BACK = 45, 25, 90, 30  # frames of: the group standing still, panning left, after the cut, back
SCENE_LENGTH = STILL + PAN + CUT + BACK
CUTS = (STILL + PAN, STILL + PAN + CUT)  # the first frames of a new scene (the loop back to 0 is none)
CODE_TOP, CODE_BITS, CODE_STEP = 456, 8, 40  # the frame number, drawn as blocks along the bottom


@dataclass(frozen=True)
class TrueFace:
    person: str  # who this is (a photo's file name)
    gender: str
    box: Box  # where the pasted face is, in camera pixels
    covered: float  # share of the box hidden behind faces pasted later


def scene_phase(frame: int) -> str:
    if frame < STILL:
        return "still"
    return "pan" if frame < STILL + PAN else "crossing" if frame < STILL + PAN + CUT else "back"


def moving_scene(photos: dict[str, FacePhoto]) -> tuple[list[Image.Image], list[list[TrueFace]]]:
    """Frames and, per frame, the faces in it. `photos`: female_a, male_a, female_b (the group)
    and female_c, male_c (the two crossing). The group stands still, then pans left; at the cut
    the woman female_c appears where male_a was, the others' places are empty wall, and
    male_c walks past in front of her; at the cut back the group stands as at the start, so
    the loop to frame 0 is no cut. Each frame carries its number (stamp_frame_number)."""
    patches = {name: face_patch(photo, FACE_WIDTH) for name, photo in photos.items()}
    walls = [background(SCENE_SIZE, random.Random(seed)) for seed in (1, 2)]
    group = [("female_a", 150, 200), ("male_a", 320, 230), ("female_b", 490, 200)]
    frames, truths = [], []
    for frame in range(SCENE_LENGTH):
        if frame < STILL + PAN or frame >= STILL + PAN + CUT:
            shift = -4 * max(0, frame - STILL) if frame < STILL + PAN else 0
            people = [(name, x + shift, y) for name, x, y in group]
            wall = walls[0]
        else:
            step = 3.5 * (frame - STILL - PAN)
            people = [("female_c", 220 + step, 230), ("male_c", 560 - step, 215)]
            wall = walls[1]
        image = wall.copy()
        placed = []
        for name, x, y in people:
            patch, box = patches[name]
            dx, dy = round(x) - (box.left + box.right) // 2, round(y) - (box.top + box.bottom) // 2
            image.paste(patch, (dx, dy))
            placed.append((name, box.shifted(dx, dy), (dx, dy, dx + patch.width, dy + patch.height)))
        faces = []
        for i, (name, box, _) in enumerate(placed):
            cover = np.zeros((box.height, box.width), bool)
            for _, _, (left, top, right, bottom) in placed[i + 1:]:
                cover[max(0, top - box.top):max(0, bottom - box.top), max(0, left - box.left):max(0, right - box.left)] = True
            faces.append(TrueFace(photos[name].path.name, name.split("_")[0], box, float(cover.mean())))
        frames.append(stamp_frame_number(image, frame))
        truths.append(faces)
    return frames, truths


def stamp_frame_number(image: Image.Image, number: int) -> Image.Image:
    pixels = np.asarray(image).copy()
    pixels[CODE_TOP:] = 0
    for bit in range(CODE_BITS):
        if number >> bit & 1:
            left = 16 + bit * CODE_STEP
            pixels[CODE_TOP + 4:-4, left:left + 32] = 255
    return Image.fromarray(pixels)

