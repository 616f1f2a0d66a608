"""The live view's own time: headless Chromium's fake camera plays a group frame (5 faces of
36-52 px in a 640x480 view, like the browser tests' group frame, at 30 frames/s) and the page (frontend/, or
that of another git revision with --against) sends it, with its default camera settings, to a
real uvicorn on one detection thread; each row says what the page sent (detector, upsample,
frame size). Rounds alternate the pages and a plain client posting the
page's own JPEGs, so a change of load (a training beside it) shows in all alike.

Per page: answers/s, the share of answers with all 5 faces, and the page's User Timing
measures (frontend/timing.js: grab, encode, request, answer, track, draw; mean ms each).
Then, once, ways to grab and encode a frame at the width this page sent, timed in the page on
the camera's video, and what the API makes of each (its decode ms, faces found).

    python -m bench.page_timing [--rounds 3] [--seconds 12] [--against REV]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import io
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.scenes import crowd, face_photos, iou
from bench.server import _children, free_port, uvicorn_server

ROOT = Path(__file__).resolve().parent.parent
# A laptop webcam's rate: the page sends only frames it has not sent, so at the browser tests'
# 15 frames/s the camera itself would cap the answers at 15 a second.
CAMERA_FPS = 30
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' fake camera
from browser_support import CHROMIUM, CHROMIUM_ARGS, fake_camera_args, write_y4m  # noqa: E402

GROUP_WIDTHS = [36, 40, 44, 48, 52]  # dlib box widths in the 640x480 view
GROUP_CENTRES = [(70, 140), (200, 330), (330, 150), (460, 320), (615, 230)]  # tests/test_browser.py's
STAGES = ["grab", "encode", "request", "answer", "track", "draw"]

# Before the page loads: each /v1/faces answer (when, faces found, the URL, the body sent) and
# every User Timing measure the page makes.
RECORD = """
window.answers = [];
window.timings = {};
new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) (window.timings[entry.name] ??= []).push(entry.duration);
}).observe({ type: 'measure' });
const send = window.fetch;
window.fetch = async (url, init) => {
    const response = await send(url, init);
    if (String(url).includes('/v1/faces') && response.ok) {
        window.lastBody = init.body;
        const body = await response.clone().json();
        window.answers.push({ t: performance.now(), faces: body.faces.map((f) => f.box), url: String(url),
                              bytes: init.body.size, type: init.body.type, width: body.image.width,
                              height: body.image.height });
    }
    return response;
};
"""

# A Blob (named by an expression) as base64.
BASE64 = """async (expression) => {
    const bytes = new Uint8Array(await eval(expression).arrayBuffer());
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary);
}"""

# In a page of its own, with the fake camera open: each way of grabbing and encoding a frame
# at the page's width, timed `repeats` times; one encoded frame of each, for the API.
ENCODINGS = """async ([width, repeats]) => {
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    await video.play();
    await new Promise((resolve) => video.requestVideoFrameCallback(resolve));
    const height = Math.round(video.videoHeight * width / video.videoWidth);
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [width, height];
    const offscreen = new OffscreenCanvas(width, height);
    const opaque = offscreen.getContext('2d', { alpha: false });
    const encoded = (type, quality) => () => {
        opaque.drawImage(video, 0, 0, width, height);
        return offscreen.convertToBlob({ type, quality });
    };
    const ways = {
        'canvas drawImage + toBlob JPEG 0.85 (before)': () => {
            canvas.getContext('2d').drawImage(video, 0, 0, width, height);
            return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
        },
        'OffscreenCanvas drawImage + convertToBlob JPEG 0.85': encoded('image/jpeg', 0.85),
        'OffscreenCanvas drawImage + convertToBlob JPEG 0.7': encoded('image/jpeg', 0.7),
        'OffscreenCanvas drawImage + convertToBlob JPEG 0.5': encoded('image/jpeg', 0.5),
        'OffscreenCanvas drawImage + convertToBlob WebP 0.8': encoded('image/webp', 0.8),
        'createImageBitmap (resized) + drawImage + convertToBlob JPEG 0.85': async () => {
            const bitmap = await createImageBitmap(video, { resizeWidth: width, resizeHeight: height, resizeQuality: 'low' });
            opaque.drawImage(bitmap, 0, 0);
            bitmap.close();
            return offscreen.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
        },
        'drawImage only (the grab)': async () => { opaque.drawImage(video, 0, 0, width, height); return null; },
    };
    const results = {};
    for (const [name, way] of Object.entries(ways)) {
        const times = [];
        let blob = null;
        for (let i = 0; i < repeats; i++) {
            const start = performance.now();
            blob = await way();
            times.push(performance.now() - start);
        }
        times.sort((a, b) => a - b);
        const bytes = blob ? new Uint8Array(await blob.arrayBuffer()) : new Uint8Array();
        let binary = '';
        for (const byte of bytes) binary += String.fromCharCode(byte);
        results[name] = { ms: times[Math.floor(times.length / 2)], type: blob?.type ?? '', body: btoa(binary) };
    }
    video.srcObject.getTracks().forEach((track) => track.stop());
    return results;
}"""


def group_frame():
    photos = face_photos(sorted((ROOT / "tests" / "fixtures" / "faces").glob("*.jpg")))
    scene = crowd("group", (640, 480), photos, GROUP_WIDTHS, random.Random(14), GROUP_CENTRES)
    assert len(scene.faces) == 5, "the group frame must hold 5 faces"
    return scene


def all_found(faces: list, truth, scale: float) -> bool:
    from function.faces import Box

    found = [Box(f["x"], f["y"], f["x"] + f["width"], f["y"] + f["height"]).scaled(scale) for f in faces]
    return all(any(iou(face, box) >= 0.5 for box in found) for face in truth)


@contextlib.contextmanager
def static_site(directory: Path):
    """A plain static server for a page directory, on loopback; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def frontend_at(revision: str, into: Path) -> Path:
    """frontend/ as it was at a git revision, written under `into`."""
    archive = subprocess.run(["git", "archive", revision, "frontend"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "frontend"


def cpu_by_process(root: int) -> dict[tuple[str, str], float]:
    """CPU seconds so far of `root`'s descendants, by (command name, Chromium process type)."""
    totals: dict[tuple[str, str], float] = {}
    for pid in _children(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            # Chromium rewrites its children's command lines into one space-separated string
            words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except FileNotFoundError:
            continue  # ended meanwhile
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        kind = " ".join(w.split("=", 1)[1] for w in words if w.startswith(("--type=", "--utility-sub-type="))) or "browser"
        key = (name, kind)
        totals[key] = totals.get(key, 0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return totals


def camera_view_alone(browser, site: str, seconds: float) -> dict[str, float]:
    """Chromium's CPU ms per second by process with the camera view on and no answer ever coming."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("**/v1/faces?*", lambda route: None)  # held: the request stays in flight
        page.goto(f"{site}/")
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_timeout(2000)
        before = cpu_by_process(os.getpid())
        page.wait_for_timeout(seconds * 1000)
        after = cpu_by_process(os.getpid())
    finally:
        context.close()
    return {kind: 1000 * (after[(name, kind)] - before.get((name, kind), 0)) / seconds
            for name, kind in after if name.startswith("chrom")}


def page_round(browser, site: str, api: str, seconds: float, truth) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(RECORD)
        page.goto(f"{site}/?api={api}")
        page.wait_for_function("document.documentElement.dataset.ready === 'true'")
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_function("window.answers.length >= 3", timeout=120_000)
        page.evaluate("window.answers.length = 0; window.timings = {}")
        before = cpu_by_process(os.getpid())
        page.wait_for_timeout(seconds * 1000)
        answers, timings = page.evaluate("[window.answers, window.timings]")
        after = cpu_by_process(os.getpid())
        body = page.evaluate(BASE64, "window.lastBody")
    finally:
        context.close()
    if len(answers) < 2:
        raise SystemExit(f"only {len(answers)} answer(s) in {seconds} s: the machine is too busy for this measure")
    span = (answers[-1]["t"] - answers[0]["t"]) / 1000
    return {
        "fps": (len(answers) - 1) / span,
        "all 5": sum(all_found(a["faces"], truth, 640 / a["width"]) for a in answers) / len(answers),
        "ms": {name: statistics.mean(timings[f"page:{name}"]) for name in STAGES if timings.get(f"page:{name}")},
        "draws per answer": len(timings.get("page:draw", [])) / len(answers),
        "CPU ms per answer": {key: 1000 * (after[key] - before.get(key, 0)) / len(answers) for key in after},
        "request": answers[-1]["url"].split("?", 1)[1],
        "frame": f"{answers[-1]['width']}x{answers[-1]['height']}",
        "KiB": statistics.mean(a["bytes"] for a in answers) / 1024,
        "type": answers[-1]["type"],
        "body": base64.b64decode(body),
    }


def client_fps(api: str, query: str, body: bytes, content_type: str, seconds: float) -> tuple[float, float]:
    """A plain client posting the page's own frame one at a time: answers/s and the API's decode ms."""
    answered, decode = 0, []
    with httpx.Client(timeout=60) as client:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            response = client.post(f"{api}/v1/faces?{query}", content=body, headers={"Content-Type": content_type})
            response.raise_for_status()
            decode.append(response.json()["timings_ms"]["decode"])
            answered += 1
        return answered / (time.perf_counter() - start), statistics.median(decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12, help="length of each page's and the client's turn")
    parser.add_argument("--against", help="also the page at this git revision (e.g. HEAD~1), in the same rounds")
    parser.add_argument("--repeats", type=int, default=15, help="times each way of encoding is timed")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    scene = group_frame()
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, uvicorn_server(env={"FACES_DETECT_THREADS": "1"}) as (api, _), \
            sync_playwright() as playwright, contextlib.ExitStack() as sites:
        pages = {"this page": sites.enter_context(static_site(ROOT / "frontend"))}
        if args.against:
            pages[f"page at {args.against}"] = sites.enter_context(static_site(frontend_at(args.against, Path(tmp))))
        y4m = write_y4m(Path(tmp) / "group.y4m", [scene.image] * 3, fps=CAMERA_FPS)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + fake_camera_args(y4m))

        print("\n| round | page | sent | answers/s | with all 5 faces | plain client answers/s (its JPEG) | page / client "
              "| " + " | ".join(f"{name} ms" for name in STAGES) + " | draws per answer | KiB sent "
              "| Chromium CPU ms per answer | server CPU ms per answer |")
        print("| --- " * (12 + len(STAGES)) + "|")
        sent = {}
        for number in range(1, args.rounds + 1):
            for name, site in pages.items():
                seen = page_round(browser, site, api, args.seconds, scene.faces)
                cpu = lambda *names: sum(ms for (process, _), ms in seen["CPU ms per answer"].items() if process.startswith(names))  # noqa: E731
                query = seen["request"]
                sent[name] = (query, seen["frame"])
                fps, _ = client_fps(api, query, seen["body"], seen["type"], args.seconds)
                stages = " | ".join(f"{seen['ms'][s]:.1f}" if s in seen["ms"] else "–" for s in STAGES)
                print(f"| {number} | {name} | {query} {seen['frame']} | {seen['fps']:.2f} | {seen['all 5']:.0%} | {fps:.2f} | {seen['fps'] / fps:.2f} "
                      f"| {stages} | {seen['draws per answer']:.1f} | {seen['KiB']:.0f} "
                      f"| {cpu('chrom'):.0f} | {cpu('python', 'uvicorn'):.0f} |", flush=True)
                print(f"<!-- {name}: Chromium CPU ms per answer by process: " + ", ".join(
                    f"{kind} {ms:.0f}" for (process, kind), ms in sorted(seen["CPU ms per answer"].items(), key=lambda i: -i[1])
                    if process.startswith("chrom")) + " -->", flush=True)
        query, frame = sent["this page"]
        width, height = map(int, frame.split("x"))

        alone = camera_view_alone(browser, pages["this page"], args.seconds)
        print("\nthis page, camera view alone (no answer comes), Chromium CPU ms per second by process: "
              + ", ".join(f"{kind} {ms:.0f}" for kind, ms in sorted(alone.items(), key=lambda item: -item[1])))

        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{pages['this page']}/?api={api}")
        ways = page.evaluate(ENCODINGS, [width, args.repeats])
        context.close()
        browser.close()
        print(f"\n| grab and encode, {frame}, sent with {query} | ms (median) | KiB | API decode ms (median) "
              "| API answers/s | faces found |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, way in ways.items():
            if not way["body"]:
                print(f"| {name} | {way['ms']:.1f} | – | – | – | – |")
                continue
            body = base64.b64decode(way["body"])
            fps, decode = client_fps(api, query, body, way["type"], 4)
            faces = httpx.post(f"{api}/v1/faces?{query}", content=body, headers={"Content-Type": way["type"]}, timeout=60).json()
            found = sum(all_found([f["box"]], [face], 640 / faces["image"]["width"]) for face in scene.faces for f in faces["faces"])
            print(f"| {name} | {way['ms']:.1f} | {len(body) / 1024:.0f} | {decode:.1f} | {fps:.2f} | {found}/5 |", flush=True)
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
