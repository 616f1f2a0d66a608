"""Live camera frames: 640x480 with 1, 5 or 10 faces of 36-60 px (people two to three metres
from a webcam). Part 1 compares detection options in-process on one detection thread:
recall, wall and CPU ms per frame. Part 2 is the page's round trip: frames scaled to the
page's send width and JPEG-encoded, posted one at a time (as the page's loop does) to a real
uvicorn serving with FACES_DETECT_THREADS=1. With --page, part 3 is the page itself: Chromium's
fake camera plays the 5-face frames and the page sends them to that server, in rounds, each
followed by a plain client on the same frames, so a change of load shows in both.

    python -m bench.camera_frames [--frames 12] [--repeats 3] [--width 1152] [--upsample 0] [--page]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench.latency import percentile
from bench.scenes import Scene, crowd, lfw_face_photos, matched
from bench.server import uvicorn_server
from function.boxes import Box
from function.detectors import detect_faces
from function.faces import warm_up

FRAME = (640, 480)
FACE_WIDTHS = (36, 60)  # dlib box widths
FACE_COUNTS = (1, 5, 10)
JPEG_QUALITY = 85  # the page's camera.js JPEG_QUALITY
# (label, factor the frame is enlarged by before detection, upsample)
OPTIONS = [
    ("640x480, upsample 0 (old page default)", 1, 0),
    ("640x480, upsample 1", 1, 1),
    ("1024x768 frame, upsample 0", 1.6, 0),
    ("1152x864 frame, upsample 0 (the page's HOG frames)", 1.8, 0),
    ("1280x960 frame, upsample 0", 2, 0),
]
SENT_WIDTH = 1152  # HOG's camera frames in the page's camera.js (its own detector, BlazeFace, gets 640 px)


def grid_centres(count: int) -> list[tuple[int, int]]:
    """Up to 5 faces in a row, rows stacked: a group standing together."""
    columns = min(count, 5)
    rows = -(-count // columns)
    return [
        (round(FRAME[0] * (0.5 + i % columns) / columns), round(FRAME[1] * (0.5 + i // columns) / rows))
        for i in range(count)
    ]


def camera_frames(count: int, frames: int, seed: int = 0) -> list[Scene]:
    photos = lfw_face_photos(40, random.Random(seed))
    rng = random.Random(f"{seed}-camera-{count}")
    scenes = []
    for _ in range(frames):
        widths = [rng.randint(*FACE_WIDTHS) for _ in range(count)]
        scenes.append(crowd(f"camera x{count}", FRAME, photos, widths, rng, grid_centres(count)))
    return scenes


def enlarged(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((round(FRAME[0] * factor), round(FRAME[1] * factor)), Image.BILINEAR)


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def compare_options(scenes_by_count: dict[int, list[Scene]]) -> None:
    warm_up(1)
    print("\n| option | faces/frame | recall | wall ms/frame mean | p95 | CPU ms/frame mean |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, factor, upsample in OPTIONS:
        for count, scenes in scenes_by_count.items():
            hits = total = 0
            wall, cpu = [], []
            for scene in scenes:
                image = enlarged(scene.image, factor)
                start, cpu_start = time.perf_counter(), time.process_time()
                boxes = detect_faces(image, "hog", upsample, max_side=max(image.size), threads=1)
                wall.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - cpu_start) * 1000)
                hits += matched(scene.faces, [box.scaled(1 / factor) for box in boxes])
                total += len(scene.faces)
            print(f"| {label} | {count} | {hits}/{total} | {statistics.mean(wall):.0f} | {percentile(wall, 0.95):.0f} "
                  f"| {statistics.mean(cpu):.0f} |", flush=True)


def round_trips(scenes_by_count: dict[int, list[Scene]], width: int, upsample: int, repeats: int) -> None:
    """Frames sent as the page sends them: scaled to `width`, JPEG; boxes come back in its pixels."""
    factor = width / FRAME[0]
    print(f"\nround trip: {width}x{round(FRAME[1] * factor)} JPEG frames, hog, upsample {upsample}, "
          "FACES_DETECT_THREADS=1, one request in flight")
    print("| faces/frame | recall | fps | p50 ms | p95 ms | server detect ms p50 | server classify ms p50 | KiB/frame |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with uvicorn_server(env={"FACES_DETECT_THREADS": "1"}) as (base, _), httpx.Client(timeout=60) as client:
        url = f"{base}/v1/faces?detector=hog&upsample={upsample}"
        for count, scenes in scenes_by_count.items():
            bodies = [jpeg(enlarged(scene.image, factor)) for scene in scenes]
            client.post(url, content=bodies[0], headers={"Content-Type": "image/jpeg"})  # warm-up
            latencies, detect, classify = [], [], []
            hits = total = 0
            start = time.perf_counter()
            for _ in range(repeats):
                for scene, body in zip(scenes, bodies):
                    sent = time.perf_counter()
                    response = client.post(url, content=body, headers={"Content-Type": "image/jpeg"})
                    latencies.append((time.perf_counter() - sent) * 1000)
                    response.raise_for_status()
                    answer = response.json()
                    detect.append(answer["timings_ms"]["detect"])
                    classify.append(answer["timings_ms"]["classify"])
                    hits += matched(scene.faces, [box_of(face).scaled(1 / factor) for face in answer["faces"]])
                    total += len(scene.faces)
            fps = len(latencies) / (time.perf_counter() - start)
            print(f"| {count} | {hits}/{total} | {fps:.1f} | {percentile(latencies, 0.5):.0f} "
                  f"| {percentile(latencies, 0.95):.0f} | {percentile(detect, 0.5):.0f} | {percentile(classify, 0.5):.1f} "
                  f"| {statistics.mean(map(len, bodies)) / 1024:.0f} |",
                  flush=True)


def page_rate(scenes: list[Scene], rounds: int, seconds: float) -> None:
    """The page's answers/s against a plain client's, alternating on one server (one detection
    thread), both sending the frames as the page does (its detector, upsample and width), JPEG,
    one at a time."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the browser tests' fake camera
    from browser_support import CHROMIUM, CHROMIUM_ARGS, fake_camera_args, write_y4m
    from playwright.sync_api import sync_playwright

    count_answers = """() => { window.answers = 0; const send = window.fetch;
        window.fetch = async (url, init) => { const response = await send(url, init);
            if (String(url).includes('/v1/faces')) {
                window.answers += 1;
                window.sent = [String(url).split('?')[1], (await response.clone().json()).image.width];
            }
            return response; }; }"""
    print(f"\npage: Chromium ({CHROMIUM}, headless, software rendering), fake camera at 15 fps, "
          f"{len(scenes[0].faces)} faces/frame, FACES_DETECT_THREADS=1")
    print("| round | page answers/s | plain client answers/s | ratio | sent |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp, uvicorn_server(env={"FACES_DETECT_THREADS": "1"}) as (base, _), \
            sync_playwright() as playwright, httpx.Client(timeout=60) as client:
        y4m = write_y4m(Path(tmp) / "frames.y4m", [scene.image for scene in scenes])
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + fake_camera_args(y4m))
        for number in range(1, rounds + 1):
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{base}/")
            page.evaluate(count_answers)
            page.get_by_role("button", name="Start camera").click()
            page.wait_for_function("window.answers >= 2", timeout=120_000)
            before, start = page.evaluate("window.answers"), time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            page_fps = (page.evaluate("window.answers") - before) / (time.perf_counter() - start)
            query, width = page.evaluate("window.sent")
            context.close()
            url = f"{base}/v1/faces?{query}"
            bodies = [jpeg(enlarged(scene.image, width / FRAME[0])) for scene in scenes]
            answered, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                client.post(url, content=bodies[answered % len(bodies)], headers={"Content-Type": "image/jpeg"}).raise_for_status()
                answered += 1
            client_fps = answered / (time.perf_counter() - start)
            print(f"| {number} | {page_fps:.1f} | {client_fps:.1f} | {page_fps / client_fps:.2f} | {query}, {width} px |", flush=True)
        browser.close()


def box_of(face: dict) -> Box:
    b = face["box"]
    return Box(b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=12, help="frames per face count")
    parser.add_argument("--repeats", type=int, default=3, help="times each frame is sent in the round trip")
    parser.add_argument("--width", type=int, default=SENT_WIDTH, help="width of the frames sent")
    parser.add_argument("--upsample", type=int, default=0, help="the page's camera upsample")
    parser.add_argument("--no-options", action="store_true", help="only the round trip")
    parser.add_argument("--page", action="store_true", help="also the page in Chromium (Playwright, /usr/bin/chromium)")
    parser.add_argument("--rounds", type=int, default=3, help="page and plain-client rounds")
    parser.add_argument("--seconds", type=float, default=12, help="length of each round")
    args = parser.parse_args()
    scenes_by_count = {count: camera_frames(count, args.frames) for count in FACE_COUNTS}
    for count, scenes in scenes_by_count.items():
        widths = [face.width for scene in scenes for face in scene.faces]
        print(f"{count} faces/frame: {len(scenes)} frames, dlib box widths {min(widths)}-{max(widths)} px")
    if not args.no_options:
        compare_options(scenes_by_count)
    round_trips(scenes_by_count, args.width, args.upsample, args.repeats)
    if args.page:
        page_rate(scenes_by_count[5], args.rounds, args.seconds)


if __name__ == "__main__":
    main()
