"""The web page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against
a real server with the real model: fake webcam, mirroring, photo upload, error states."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps

from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GENDER_RGB,
    TcpRelay,
    colour_share_on_edges,
    fake_camera_args,
    mean_difference,
    screenshot_array,
    write_y4m,
)
from conftest import FACE_PHOTOS, NO_FACE_PHOTO, composite, encode, gender_of
from live_server import free_port, live_server

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (install it: apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FEMALE, MALE = FACE_PHOTOS[0], FACE_PHOTOS[3]
SCALE = 2  # device pixel ratio of the test pages: boxes must be drawn sharp on HiDPI screens
TIMEOUT_MS = 60_000


def camera_frame() -> Image.Image:
    """640x480 grey frame with a woman's and a man's face, both in the LEFT half only."""
    frame = Image.new("RGB", (640, 480), (128, 128, 128))
    for i, photo in enumerate([FEMALE, MALE]):
        frame.paste(Image.open(photo).convert("RGB").resize((220, 220)), (20, 15 + i * 235))
    return frame


def api_faces(url: str, data: bytes, upsample: int) -> list[dict]:
    response = httpx.post(f"{url}/v1/faces", params={"upsample": upsample}, content=data,
                          headers={"Content-Type": "image/jpeg"}, timeout=60)
    response.raise_for_status()
    return response.json()["faces"]


def save_artifact(name: str, png: bytes) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)


def drawn_boxes(page) -> list[dict]:
    return json.loads(page.get_attribute("#overlay", "data-boxes"))


def matches(drawn: dict, expected: dict, tolerance: float) -> bool:
    return all(abs(drawn[k] - expected[k]) <= tolerance for k in ("x", "y", "width", "height"))


def same_face(drawn: dict, expected: dict) -> bool:
    """Centres within 10 px and sizes within 25 %: the detector's scale steps may differ on a re-encoded frame."""
    centre = all(
        abs(drawn[p] + drawn[s] / 2 - expected[p] - expected[s] / 2) <= 10 for p, s in (("x", "width"), ("y", "height"))
    )
    return centre and all(abs(drawn[s] / expected[s] - 1) <= 0.25 for s in ("width", "height"))


def check_screenshot_boxes(page, boxes: list[dict], name: str) -> np.ndarray:
    """Box-coloured pixels along every drawn box's edges in a screenshot of the stage."""
    png = page.locator("#stage").screenshot()
    save_artifact(name, png)
    pixels = screenshot_array(png)
    for box in boxes:
        scaled = {k: v * SCALE for k, v in box["display"].items()}
        share = colour_share_on_edges(pixels, scaled, GENDER_RGB[box["gender"]], band=2 * SCALE)
        assert share >= 0.9, f"{box['label']} box drawn at {box['display']}: only {share:.0%} of its edge is box-coloured"
    return pixels


@pytest.fixture(scope="module")
def server():
    with live_server() as running:
        yield running.url


@pytest.fixture(scope="module")
def y4m(tmp_path_factory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("camera") / "faces.y4m", [camera_frame()] * 3)


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as running:
        yield running


def launch(playwright, *args: str):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + list(args), timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser(playwright, y4m):
    browser = launch(playwright, *fake_camera_args(y4m))
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 900, "height": 1000}, device_scale_factor=SCALE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def wait_until(page, condition: str, arg=None) -> None:
    """page.wait_for_function, failing with what the page's status line says."""
    try:
        page.wait_for_function(condition, arg=arg, timeout=TIMEOUT_MS)
    except sync_api.TimeoutError:
        status = page.locator("#status")
        pytest.fail(f"timed out waiting for {condition!r}; status {status.get_attribute('data-state')}: {status.text_content()}")


def wait_for_state(page, *states: str) -> str:
    wait_until(page, "states => states.includes(document.querySelector('#status').dataset.state)", list(states))
    return page.text_content("#status")


def wait_for_boxes(page, count: int, mirrored: bool | None = None) -> list[dict]:
    wait_until(
        page,
        """([count, mirrored]) => {
            const overlay = document.querySelector('#overlay');
            return JSON.parse(overlay.dataset.boxes).length === count
                && (mirrored === null || overlay.dataset.mirrored === String(mirrored));
        }""",
        [count, mirrored],
    )
    return drawn_boxes(page)


def test_camera_boxes_follow_faces_mirrored_and_not(server, page):
    frame = camera_frame()
    expected = api_faces(server, encode(frame, quality=90), upsample=0)
    assert len(expected) == 2, "the API itself must find both faces in the test frame"
    in_flight, most_in_flight, sent = set(), [0], []

    def on_request(request):
        if "/v1/faces" in request.url:
            in_flight.add(request)
            most_in_flight[0] = max(most_in_flight[0], len(in_flight))
            sent.append((request.url, request.headers.get("content-type")))

    page.on("request", on_request)
    for done in ("requestfinished", "requestfailed"):
        page.on(done, lambda request: in_flight.discard(request))
    page.goto(f"{server}/")
    assert page.input_value("#upsample-camera") == "0"
    page.get_by_role("button", name="Start camera").click()
    wait_for_boxes(page, 2, mirrored=True)
    wait_until(page, "parseFloat(document.querySelector('#fps').textContent) > 0")
    assert page.get_attribute("#camera-button", "aria-pressed") == "true"

    stage = page.locator("#stage").bounding_box()
    assert stage["width"] / stage["height"] == pytest.approx(640 / 480, rel=0.01)
    scale = stage["width"] / 640
    for mirrored in (True, False):
        if not mirrored:
            page.get_by_label("Mirror camera").uncheck()
            wait_until(page, "document.querySelector('#overlay').dataset.mirrored === 'false'")
        boxes = drawn_boxes(page)
        assert len(boxes) == 2
        for want in expected:
            # the page sent its own JPEG of the camera frame: same content, so nearly the same box
            [drawn] = [b for b in boxes if same_face(b["image"], want["box"])]
            assert drawn["gender"] == want["gender"]
            assert re.fullmatch(rf"{want['gender'].capitalize()} \d{{1,3}}%", drawn["label"])
            box = drawn["image"]
            left = 640 - box["x"] - box["width"] if mirrored else box["x"]
            on_screen = {"x": left * scale, "y": box["y"] * scale, "width": box["width"] * scale, "height": box["height"] * scale}
            assert matches(drawn["display"], on_screen, tolerance=1)
            # every face is in the left half of the camera frame: on the right when mirrored
            centre = drawn["display"]["x"] + drawn["display"]["width"] / 2
            assert (centre > stage["width"] / 2) == mirrored
        assert sorted(b["gender"] for b in boxes) == ["female", "male"]
        pixels = check_screenshot_boxes(page, boxes, f"camera-{'mirrored' if mirrored else 'unmirrored'}.png")
        # the video itself is shown flipped exactly when the boxes are
        shown_as = mean_difference(pixels, ImageOps.mirror(frame) if mirrored else frame)
        shown_other = mean_difference(pixels, frame if mirrored else ImageOps.mirror(frame))
        assert shown_as < 8 and shown_other > 25, (shown_as, shown_other)  # also: not too dark or bright
    assert page.text_content("#face-count") == "2"
    assert re.fullmatch(r"\d+ ms", page.text_content("#latency"))
    # backpressure: frames go one at a time, as JPEGs of at most 640 px wide, with upsample 0
    assert len(sent) >= 3 and most_in_flight[0] == 1
    for url, content_type in sent:
        assert "upsample=0" in url and "detector=hog" in url and content_type == "image/jpeg"
    assert page.get_attribute("#overlay", "data-image-size") == "640x480"  # what the API received
    page.screenshot(path=ARTIFACTS / "camera-page.png", full_page=True)

    page.get_by_role("button", name="Stop camera").click()
    assert wait_for_state(page, "idle") == "Camera off."
    assert drawn_boxes(page) == []


def rotated_photo() -> tuple[Image.Image, bytes]:
    """An upright 2-face portrait, stored turned on its side with EXIF orientation 6 (as phones do)."""
    upright, _ = composite([FEMALE, MALE], columns=1)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 = turn 90° clockwise to view
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, quality=92, exif=exif.tobytes())
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size == upright.size
    return upright, data


def test_upload_rotated_photo_and_download(server, page):
    upright, data = rotated_photo()
    expected = api_faces(server, data, upsample=1)
    assert len(expected) == 2
    page.goto(f"{server}/")
    page.locator("#photo-input").set_input_files(files=[{"name": "phone.jpg", "mimeType": "image/jpeg", "buffer": data}])
    assert wait_for_state(page, "photo-faces", "no-faces", "api-error") == "Found 2 faces in phone.jpg."
    boxes = wait_for_boxes(page, 2, mirrored=False)
    assert page.get_attribute("#overlay", "data-image-size") == f"{upright.width}x{upright.height}"
    stage = page.locator("#stage").bounding_box()
    assert stage["width"] / stage["height"] == pytest.approx(upright.width / upright.height, rel=0.01)
    scale = stage["width"] / upright.width
    for want in expected:
        [drawn] = [b for b in boxes if b["image"] == want["box"]]
        assert drawn["gender"] == want["gender"]
        assert matches(drawn["display"], {k: v * scale for k, v in want["box"].items()}, tolerance=1)
    pixels = check_screenshot_boxes(page, boxes, "upload-rotated.png")
    # the photo is shown upright (EXIF applied), not as stored
    assert mean_difference(pixels, upright) < 12

    with page.expect_download() as download:
        page.get_by_role("button", name="Download annotated image").click()
    assert download.value.suggested_filename == "phone-faces.png"
    png = Path(download.value.path()).read_bytes()
    save_artifact("upload-annotated-download.png", png)
    annotated = Image.open(Path(download.value.path()))
    assert annotated.format == "PNG" and annotated.size == upright.size
    pixels = np.asarray(annotated.convert("RGB")).astype(np.int16)
    for want in expected:
        assert colour_share_on_edges(pixels, want["box"], GENDER_RGB[want["gender"]], band=3) >= 0.9


def test_drop_photo_and_api_error_message(server, page):
    page.goto(f"{server}/")
    photo = FACE_PHOTOS[1]
    drop = """([name, bytes, type]) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], name, {type}));
        document.querySelector('#stage').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
    }"""
    page.evaluate(drop, [photo.name, list(photo.read_bytes()), "image/jpeg"])
    [box] = wait_for_boxes(page, 1)
    assert box["gender"] == gender_of(photo)

    page.evaluate(drop, [NO_FACE_PHOTO.name, list(NO_FACE_PHOTO.read_bytes()), "image/jpeg"])
    assert wait_for_state(page, "no-faces") == f"No faces found in {NO_FACE_PHOTO.name}."
    assert drawn_boxes(page) == [] and page.text_content("#face-count") == "0"

    # not an image: the page shows the API's own message
    junk = b"this is not an image"
    message = httpx.post(f"{server}/v1/faces", content=junk, headers={"Content-Type": "image/png"}).json()["error"]["message"]
    page.evaluate(drop, ["notes.png", list(junk), "image/png"])
    status = wait_for_state(page, "api-error")
    assert message in status and status.startswith("The API answered 400")
    assert drawn_boxes(page) == []


def test_api_down_then_back(server, page):
    port = free_port()  # nothing listens here until the relay starts
    page.goto(f"{server}/?api=http://127.0.0.1:{port}")
    assert f"http://127.0.0.1:{port}" in page.text_content("#api-in-use")
    page.get_by_role("button", name="Start camera").click()
    status = wait_for_state(page, "api-unreachable")
    assert status.startswith(f"Cannot reach the API at http://127.0.0.1:{port}.") and "Retrying in" in status
    save_artifact("api-unreachable.png", page.screenshot(full_page=True))
    with TcpRelay(port, int(server.rsplit(":", 1)[1])):
        wait_for_boxes(page, 2)  # the loop kept retrying and recovers by itself
        assert wait_for_state(page, "camera-faces") == "Camera on."


def test_settings_are_remembered(server, page):
    page.goto(f"{server}/")
    assert page.text_content("#api-in-use") == f"Using {server} (this page's own server)."
    page.get_by_text("Settings").click()
    page.get_by_label("API address").fill("https://faces.example.test/Prod/")
    page.get_by_role("button", name="Save").click()
    page.get_by_label("Face detector").select_option("cnn")
    page.get_by_label("Upsample, camera").select_option("2")
    page.reload()
    assert page.input_value("#api-base") == "https://faces.example.test/Prod"
    assert page.text_content("#api-in-use") == "Using https://faces.example.test/Prod (saved in this browser)."
    assert page.input_value("#detector") == "cnn" and page.input_value("#upsample-camera") == "2"
    page.goto(f"{server}/?api=http://127.0.0.1:9")
    assert page.text_content("#api-in-use") == "Using http://127.0.0.1:9 (set by ?api= in the page address)."


def test_phone_screen_and_keyboard(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{server}/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "camera-button"
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # visible focus
        page.keyboard.press("Enter")
        wait_for_boxes(page, 2, mirrored=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
        stage = page.locator("#stage").bounding_box()
        assert stage["x"] >= 0 and stage["x"] + stage["width"] <= 390
        save_artifact("phone.png", page.screenshot(full_page=True))
        page.keyboard.press("Enter")  # focus stayed on the button, which now stops the camera
        wait_for_state(page, "idle")
    finally:
        context.close()


def test_permission_denied(playwright, server, y4m):
    browser = launch(playwright, *fake_camera_args(y4m, grant=False))
    try:
        page = browser.new_page()
        page.goto(f"{server}/")
        page.get_by_role("button", name="Start camera").click()
        status = wait_for_state(page, "camera-denied")
        assert status.startswith("Camera permission was denied.")
        assert page.get_attribute("#camera-button", "aria-pressed") == "false"
        save_artifact("camera-denied.png", page.screenshot(full_page=True))
    finally:
        browser.close()


def test_no_camera(playwright, server):
    if any(Path("/dev").glob("video*")):
        pytest.skip("this machine has a real camera (/dev/video*)")
    browser = launch(playwright, "--use-fake-ui-for-media-stream")  # no fake device: no camera at all
    try:
        page = browser.new_page()
        page.goto(f"{server}/")
        page.get_by_role("button", name="Start camera").click()
        assert wait_for_state(page, "camera-missing").startswith("No camera was found.")
    finally:
        browser.close()
