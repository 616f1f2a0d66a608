"""The web page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against
a real server with the real model: fake webcam, mirroring, photo upload, error states."""

from __future__ import annotations

import io
import json
import random
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps

from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CUTS,
    GENDER_RGB,
    SCENE_FPS,
    SCENE_LENGTH,
    SCENE_SIZE,
    UNCERTAIN_RGB,
    TcpRelay,
    TrueFace,
    colour_share_on_edges,
    fake_camera_args,
    mean_difference,
    moving_scene,
    scene_phase,
    screenshot_array,
    write_y4m,
)
from bench.scenes import crowd, face_photos, matched
from conftest import FACE_PHOTOS, NO_FACE_PHOTO, composite, encode, gender_of, pixel_box
from function.boxes import Box, iou
from live_server import free_port, live_server

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (install it: apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FEMALE, MALE = FACE_PHOTOS[0], FACE_PHOTOS[3]
SCALE = 2  # device pixel ratio of the test pages: boxes must be drawn sharp on HiDPI screens
TIMEOUT_MS = 60_000
# What the camera must send to the API's camera detector (/v1/model detectors.camera, BlazeFace):
# the camera's own 640 px frames at upsample 1 (frontend/camera.js SENDING; issue 41).
SENT_WIDTH, SENT_UPSAMPLE = 640, 1
# An API that names no camera detector: HOG on the 640x480 frame enlarged to 1152x864, upsample 0.
FALLBACK_SENT = ("hog", 1152, 0)
LABEL = r"(Female|Male) (\d{1,2}%|> 99%)"  # never "100%"


def camera_frame() -> Image.Image:
    """640x480 grey frame with a woman's and a man's face, both in the LEFT half only."""
    frame = Image.new("RGB", (640, 480), (128, 128, 128))
    for i, photo in enumerate([FEMALE, MALE]):
        frame.paste(Image.open(photo).convert("RGB").resize((220, 220)), (20, 15 + i * 235))
    return frame


def sent_frame(frame: Image.Image, width: int = SENT_WIDTH) -> Image.Image:
    """The camera frame as the page sends it, `width` wide."""
    return frame if frame.width == width else frame.resize((width, width * frame.height // frame.width), Image.BILINEAR)


def camera_detector(url: str) -> str:
    return httpx.get(f"{url}/v1/model").json()["detectors"]["camera"]


def api_faces(url: str, data: bytes, upsample: int, detector: str | None = None) -> list[dict]:
    params = {"upsample": upsample} | ({"detector": detector} if detector else {})
    response = httpx.post(f"{url}/v1/faces", params=params, content=data,
                          headers={"Content-Type": "image/jpeg"}, timeout=60)
    response.raise_for_status()
    return response.json()["faces"]


def save_artifact(name: str, png: bytes) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)


def drawn_boxes(page) -> list[dict]:
    return json.loads(page.get_attribute("#overlay", "data-boxes"))


def live_boxes(page) -> list[dict]:
    """The boxes of faces in the latest answer (not the faint outlines of faces just missed)."""
    return [box for box in drawn_boxes(page) if box["live"]]


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
    """Waits for `count` live boxes (faces in the latest answer) and returns them."""
    wait_until(
        page,
        """([count, mirrored]) => {
            const overlay = document.querySelector('#overlay');
            return JSON.parse(overlay.dataset.boxes).filter((box) => box.live).length === count
                && (mirrored === null || overlay.dataset.mirrored === String(mirrored));
        }""",
        [count, mirrored],
    )
    return live_boxes(page)


def test_camera_boxes_follow_faces_mirrored_and_not(server, page):
    frame = camera_frame()
    detector = camera_detector(server)
    expected = api_faces(server, encode(sent_frame(frame), quality=90), upsample=SENT_UPSAMPLE, detector=detector)
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
    wait_until(page, "(name) => document.querySelector('#camera-detector').value === name", detector)
    assert page.input_value("#upsample-camera") == ""  # automatic: the camera detector's own step
    page.get_by_role("button", name="Start camera").click()
    wait_for_boxes(page, 2, mirrored=True)
    wait_until(page, "parseFloat(document.querySelector('#fps').textContent) > 0")
    assert page.get_attribute("#camera-button", "aria-pressed") == "true"

    stage = page.locator("#stage").bounding_box()
    assert stage["width"] / stage["height"] == pytest.approx(640 / 480, rel=0.01)
    scale = stage["width"] / SENT_WIDTH
    for mirrored in (True, False):
        if not mirrored:
            page.get_by_label("Mirror camera").uncheck()
            wait_until(page, "document.querySelector('#overlay').dataset.mirrored === 'false'")
        boxes = live_boxes(page)
        assert len(boxes) == 2
        for want in expected:
            # the page sent its own JPEG of the camera frame: same content, so nearly the same box
            [drawn] = [b for b in boxes if same_face(b["image"], want["box"])]
            assert drawn["gender"] == want["gender"]
            assert re.fullmatch(LABEL, drawn["label"]) and drawn["label"].startswith(want["gender"].capitalize())
            box = drawn["image"]
            left = SENT_WIDTH - box["x"] - box["width"] if mirrored else box["x"]
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
    # backpressure: frames go one at a time, as JPEGs SENT_WIDTH wide, to the camera detector at SENT_UPSAMPLE
    assert len(sent) >= 3 and most_in_flight[0] == 1
    for url, content_type in sent:
        assert f"upsample={SENT_UPSAMPLE}" in url and f"detector={detector}" in url and content_type == "image/jpeg"
    assert page.get_attribute("#overlay", "data-image-size") == "640x480"  # what the API received
    assert page.text_content("#detector-used") == f"{detector}, 640 px, upsample {SENT_UPSAMPLE}"
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
        assert re.fullmatch(LABEL, drawn["label"]) and (drawn["label"].endswith("> 99%") == (want["confidence"] > 0.99))
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
    page.get_by_label("Face detector, photos").select_option("cnn")
    page.get_by_label("Face detector, camera").select_option("hog")
    page.get_by_label("Upsample, camera").select_option("2")  # a step this page's API offers
    page.get_by_label("API address").fill("https://faces.example.test/Prod/")
    page.get_by_role("button", name="Save").click()
    page.reload()
    assert page.input_value("#api-base") == "https://faces.example.test/Prod"
    assert page.text_content("#api-in-use") == "Using https://faces.example.test/Prod (saved in this browser)."
    assert page.input_value("#detector") == "cnn" and page.input_value("#upsample-camera") == "2"
    assert page.input_value("#camera-detector") == "hog"
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


# ---- a group two to three metres from the camera: five faces of 40-60 px ------------------

GROUP_WIDTHS = [40, 46, 52, 56, 60]  # dlib box widths in the 640x480 camera frame
# the last face touches the right edge: on the left edge when mirrored
GROUP_CENTRES = [(70, 140), (200, 330), (330, 150), (460, 320), (615, 230)]


@pytest.fixture(scope="module")
def group_frame() -> tuple[Image.Image, list[Box]]:
    photos = face_photos(FACE_PHOTOS)
    scene = crowd("group", (640, 480), photos, GROUP_WIDTHS, random.Random(14), GROUP_CENTRES)
    assert len(scene.faces) == 5
    return scene.image, scene.faces


@pytest.fixture(scope="module")
def group_browser(playwright, group_frame, tmp_path_factory):
    y4m = write_y4m(tmp_path_factory.mktemp("group") / "group.y4m", [group_frame[0]] * 3)
    browser = launch(playwright, *fake_camera_args(y4m))
    yield browser
    browser.close()


def image_box(drawn: dict, factor: float) -> Box:
    return pixel_box(drawn["image"]).scaled(factor)


def test_camera_finds_a_group_of_small_faces(group_browser, group_frame, server):
    frame, faces = group_frame
    detector = camera_detector(server)
    context = group_browser.new_context(viewport={"width": 900, "height": 1000}, device_scale_factor=SCALE)
    try:
        page = context.new_page()
        sent = []
        page.on("request", lambda request: sent.append(request.url) if "/v1/faces" in request.url else None)
        page.goto(f"{server}/")
        wait_until(page, "(name) => document.querySelector('#camera-detector').value === name", detector)
        assert page.text_content("#camera-detector-hint") == (
            f"The camera sends {SENT_WIDTH} px wide frames to {detector} at upsample {SENT_UPSAMPLE} "
            "(the API's detector for the camera).")
        page.get_by_role("button", name="Start camera").click()
        boxes = wait_for_boxes(page, 5, mirrored=True)
        # the camera's own 640 px frames, not enlarged, to the API's camera detector at upsample 1
        assert page.get_attribute("#overlay", "data-image-size") == f"{SENT_WIDTH}x480"
        assert sent and all(f"detector={detector}&upsample={SENT_UPSAMPLE}" in url for url in sent), sent
        assert page.text_content("#detector-used") == f"{detector}, {SENT_WIDTH} px, upsample {SENT_UPSAMPLE}"
        # each face of the frame has its own drawn box on it
        found = [image_box(b, 640 / SENT_WIDTH) for b in boxes]
        assert matched(faces, found) == 5, (faces, found)
        assert all(re.fullmatch(LABEL, b["label"]) for b in boxes)
        assert page.text_content("#face-count") == "5"
        check_screenshot_boxes(page, boxes, "camera-group.png")
        # the list speaks the picture's language: left to right as shown, mirrored positions
        for mirrored in (True, False):
            if not mirrored:
                page.get_by_label("Mirror camera").uncheck()
                boxes = wait_for_boxes(page, 5, mirrored=False)
            listed = [int(re.search(r"— (\d+)% from the left", item).group(1)) for item in listed_faces(page)]
            stage_width = page.locator("#stage").bounding_box()["width"]
            shown = sorted(100 * b["display"]["x"] / stage_width for b in boxes)
            assert listed == sorted(listed) and np.allclose(listed, shown, atol=2), (listed, shown)
            rightmost_in_camera = max(boxes, key=lambda b: b["image"]["x"])
            assert listed_faces(page)[0 if mirrored else -1].startswith(rightmost_in_camera["label"])
    finally:
        context.close()


def listed_faces(page) -> list[str]:
    return page.locator("#faces-list li").all_text_contents()


def test_phone_edge_labels_stay_inside_the_video(group_browser, server):
    context = group_browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{server}/")
        page.get_by_role("button", name="Start camera").click()
        for mirrored in (True, False):
            if not mirrored:
                page.get_by_label("Mirror camera").uncheck()
            boxes = wait_for_boxes(page, 5, mirrored=mirrored)
            stage = page.locator("#stage").bounding_box()
            edge = max(boxes, key=lambda b: b["image"]["x"])  # the face at the frame's right edge
            plate = edge["plate"]
            assert plate["x"] >= 0 and plate["y"] >= 0
            assert plate["x"] + plate["width"] <= stage["width"] and plate["y"] + plate["height"] <= stage["height"]
            png = page.locator("#stage").screenshot()
            save_artifact(f"phone-edge-label-{'mirrored' if mirrored else 'unmirrored'}.png", png)
            pixels = screenshot_array(png)
            close = np.abs(pixels - np.array(GENDER_RGB[edge["gender"]])).max(axis=2) <= 40
            # both ends of the plate are drawn in its colour, inside the video
            top, bottom = round((plate["y"] + 3) * 3), round((plate["y"] + plate["height"] - 3) * 3)
            for x in (plate["x"] + 3, plate["x"] + plate["width"] - 3):
                assert close[top:bottom, round(x * 3)].mean() > 0.8, f"plate end at x {x} is not drawn: {plate}"
    finally:
        context.close()


# ---- tracking, on scripted frame sequences (frontend/tracking.js) ------------------------

TRACK = """async (frames) => {
    const { FaceTracker } = await import('/tracking.js');
    const tracker = new FaceTracker();
    return frames.map(({ now, faces }) => tracker.update(faces, now));
}"""


def detection(x: float, y: float, width: float, female: float) -> dict:
    return {"box": {"x": x, "y": y, "width": width, "height": width},
            "gender": "female" if female >= 0.5 else "male", "scores": {"female": female, "male": 1 - female}}


def tracked(page, frames: list[tuple[int, list[dict]]]) -> list[list[dict]]:
    return page.evaluate(TRACK, [{"now": now, "faces": faces} for now, faces in frames])


def test_tracking_one_odd_frame_holds_the_label_two_start_a_new_person(server, page):
    page.goto(f"{server}/")
    femaleness = [0.95] * 4 + [0.03] + [0.95] * 4 + [0.03] * 6
    shown = tracked(page, [(200 * i, [detection(100 + i % 2 * 3, 80, 60, p)]) for i, p in enumerate(femaleness)])
    assert all(len(frame) == 1 and frame[0]["live"] for frame in shown)
    assert {frame[0]["id"] for frame in shown[:10]} == {shown[0][0]["id"]}, "one track while it is one person"
    assert [frame[0]["gender"] for frame in shown[:10]] == ["female"] * 10, "a single odd frame does not flip the label"
    # while it is not known whose face it is, it is shown as uncertain (an older API: no min_confidence)
    contested = [False] * 4 + [True] + [False] * 4 + [True] + [False] * 5
    assert [frame[0]["uncertain"] for frame in shown] == contested
    assert [frame[0]["contested"] for frame in shown] == contested
    assert shown[5][0]["confidence"] < 0.95, "the odd frame counts once it is known to be the same person's"
    # a sure "male" twice where a sure woman was: someone else, shown with their own label
    # from their second answer, and not mixed with hers
    assert shown[9][0]["gender"] == "female"
    assert shown[10][0]["id"] != shown[0][0]["id"]
    assert all(frame[0]["gender"] == "male" and frame[0]["confidence"] > 0.95 for frame in shown[10:])


def test_tracking_weights_frames_by_confidence(server, page):
    page.goto(f"{server}/")
    femaleness = [0.99, 0.45, 0.99, 0.45, 0.99, 0.45]  # sure female, unsure male: not a coin toss
    shown = tracked(page, [(200 * i, [detection(100, 80, 60, p)]) for i, p in enumerate(femaleness)])
    plain_mean = sum(femaleness) / len(femaleness)
    assert shown[-1][0]["gender"] == "female" and shown[-1][0]["confidence"] > plain_mean + 0.05


def test_tracking_draws_only_what_was_seen(server, page):
    page.goto(f"{server}/")
    seen = [(200 * i, [detection(300, 200, 50, 0.9)]) for i in range(5)]
    gone = [(800 + 200 * i, []) for i in range(1, 4)]
    back = [(1600, [detection(303, 200, 50, 0.9)])]
    gone_long = [(1600 + 300 * i, []) for i in range(1, 6)]
    late = [(3300, [detection(300, 200, 50, 0.9)])]
    shown = tracked(page, seen + gone + back + gone_long + late)
    live = [[face["live"] for face in frame] for frame in shown]
    # missed: a faint outline for one answer, then nothing
    assert live == [[True]] * 5 + [[False], [], []] + [[True]] + [[False], [], [], [], []] + [[True]]
    first = shown[0][0]["id"]
    assert shown[8][0]["id"] == first, "a face back within a second continues its track"
    assert shown[-1][0]["id"] != first, "one back after longer starts a new one"


def test_tracking_predicts_motion_between_answers(server, page):
    page.goto(f"{server}/")
    moves = """async () => {
        const { FaceTracker } = await import('/tracking.js');
        const tracker = new FaceTracker();
        for (let i = 0; i < 8; i++) tracker.update([{ box: { x: 100 + 40 * i, y: 50, width: 80, height: 80 },
                                                      scores: { female: 0.9, male: 0.1 } }], 200 * i);
        return [1400, 1500, 1600].map((now) => tracker.faces(now)[0].box.x);
    }"""
    at_answer, between, next_answer = page.evaluate(moves)  # the face moves 0.2 px/ms
    assert abs(at_answer - 380) <= 4 and abs(between - 400) <= 4 and abs(next_answer - 420) <= 4


def test_tracking_uncertain_below_min_confidence(server, page):
    page.goto(f"{server}/")
    track = """async ([minConfidence]) => {
        const { FaceTracker } = await import('/tracking.js');
        const tracker = new FaceTracker();
        const face = (female) => ({ box: { x: 10, y: 10, width: 80, height: 80 }, scores: { female, male: 1 - female } });
        return [0.95, 0.7, 0.6, 0.6].map((p, i) => tracker.update([face(p)], 200 * i, minConfidence)[0]);
    }"""
    shown = page.evaluate(track, [0.8])
    # smoothed, each frame weighted by its confidence: 0.95, 0.84, 0.78, 0.75
    assert [face["uncertain"] for face in shown] == [False, False, True, True]
    assert all(face["gender"] == "female" for face in shown)
    assert not any(face["uncertain"] for face in page.evaluate(track, [None])), "an older API: never uncertain"


def test_tracking_shows_a_face_the_api_flags_as_a_likely_child_as_uncertain(server, page):
    page.goto(f"{server}/")
    track = """async (flags) => {
        const { FaceTracker } = await import('/tracking.js');
        const tracker = new FaceTracker();
        return flags.map(([likely_child, uncertain], i) => tracker.update([{ box: { x: 10, y: 10, width: 80, height: 80 },
            scores: { female: 0.03, male: 0.97 }, likely_child, uncertain }], 200 * i, 0.9)[0]);
    }"""
    # sure of "male" throughout: flagged, flagged, then the flag gone; at min_confidence 0.5 the API
    # keeps the flag but answers (uncertain false), and so does the page
    shown = page.evaluate(track, [[True, True], [True, True], [False, False], [True, False]])
    assert [face["uncertain"] for face in shown] == [True, True, False, False]
    assert len({face["id"] for face in shown}) == 1 and all(face["gender"] == "male" for face in shown)


def test_tracking_an_uncertain_track_does_not_take_in_a_sure_face_or_one_of_another_size(server, page):
    page.goto(f"{server}/")
    track = """async (frames) => {
        const { FaceTracker } = await import('/tracking.js');
        const tracker = new FaceTracker();
        return frames.map(({ now, faces }) => tracker.update(faces, now, 0.96));
    }"""
    unsure = [(200 * i, [detection(300, 200, 60, 0.7 if i % 2 else 0.25)]) for i in range(4)]
    # someone the API is sure of steps into the uncertain face's place
    sure = [(800 + 200 * i, [detection(303, 200, 60, 0.01)]) for i in range(3)]
    shown = page.evaluate(track, [{"now": now, "faces": faces} for now, faces in unsure + sure])
    assert all(len(frame) == 1 and frame[0]["live"] for frame in shown)
    assert all(frame[0]["uncertain"] for frame in shown[:5]), "once may be the uncertain face's odd frame"
    # sure twice: drawn with its own label from the second answer, on a track of its own
    assert [(f[0]["gender"], f[0]["uncertain"]) for f in shown[5:]] == [("male", False)] * 2
    assert shown[5][0]["id"] != shown[0][0]["id"] and shown[5][0]["confidence"] >= 0.96
    # a face of clearly another size where the uncertain one was is someone else at once
    other_size = [(1400, [detection(290, 190, 100, 0.7)])]
    shown = page.evaluate(track, [{"now": now, "faces": faces} for now, faces in unsure + other_size])
    assert [face["live"] for face in shown[-1]] == [False, True] and shown[-1][1]["id"] != shown[0][0]["id"]


def test_tracking_keeps_crossing_faces_apart(server, page):
    page.goto(f"{server}/")
    frames = [(200 * i, [detection(60 + 30 * i, 200, 60, 0.9), detection(540 - 30 * i, 210, 60, 0.1)]) for i in range(17)]
    shown = tracked(page, frames)
    for frame, (_, faces) in zip(shown, frames):
        assert len(frame) == 2
        for face in frame:
            # each track keeps its own person: the woman moving right, the man moving left
            want = faces[0] if face["id"] == shown[0][0]["id"] else faces[1]
            assert face["gender"] == want["gender"] and abs(face["box"]["x"] - want["box"]["x"]) <= 15, (frame, faces)
    assert {f["id"] for frame in shown for f in frame} == {f["id"] for f in shown[0]}


def test_tracked_boxes_move_less_than_jittery_detections(server, page):
    page.goto(f"{server}/")
    xs = [200 + (6 if i % 2 else -6) for i in range(12)]
    shown = tracked(page, [(200 * i, [detection(x, 150, 60, 0.9)]) for i, x in enumerate(xs)])
    steps = [abs(a[0]["box"]["x"] - b[0]["box"]["x"]) for a, b in zip(shown[4:], shown[5:])]
    assert max(steps) < 12 and abs(shown[-1][0]["box"]["x"] - 200) <= 6, steps


# ---- a moving scene: a group still then panning, a cut, two people crossing, a cut back ------

SCENE_PEOPLE = {"female_a": "female_Heidi_Klum_0001.jpg", "male_a": "male_Dion_Glover_0001.jpg",
                "female_b": "female_Noelle_Bush_0001.jpg", "female_c": "female_Queen_Rania_0003.jpg",
                "male_c": "male_Paul_Greengrass_0001.jpg"}
SCENE_LOOPS = 2  # times the video is watched
SCENE_SECONDS = SCENE_LENGTH / SCENE_FPS
SCENE_SCALE = SENT_WIDTH / SCENE_SIZE[0]  # camera pixels to the pixels of the frames the page sends
UNSURE_PERSON = "male_a"  # the API's answers make him uncertain, his better guess flipping (see record_answers)
SURE = 0.96  # the "sure": the API's threshold for today's model

# In the page: every ~100 ms, after the overlay is drawn, the frame on show (read from its
# stamped number), the camera answer the boxes come from, the boxes and the list under the
# video. Every answer, with the number of the frame it was sent for.
FRAME_NUMBER = """(source, context) => {
    context.drawImage(source, 0, 456, 640, 24, 0, 0, 640, 24);
    const pixels = context.getImageData(0, 12, 640, 1).data;
    let number = 0;
    for (let bit = 0; bit < 8; bit++) if (pixels[(32 + bit * 40) * 4] > 128) number |= 1 << bit;
    return number;
}"""  # reads what browser_support.stamp_frame_number drew, from a 640x480 source
RECORD = f"""() => {{
    const video = document.querySelector('#video');
    const overlay = document.querySelector('#overlay');
    const strip = new OffscreenCanvas(640, 24).getContext('2d', {{ willReadFrequently: true }});
    window.samples = [];
    window.recording = setInterval(() => requestAnimationFrame(() => window.samples.push({{
        t: performance.now(), frame: ({FRAME_NUMBER})(video, strip), answer: Number(overlay.dataset.answer),
        boxes: JSON.parse(overlay.dataset.boxes),
        list: [...document.querySelectorAll('#faces-list li')].map((item) => item.textContent),
    }})), 100);
}}"""
# Before the page loads: every /v1/faces request, the frame number its JPEG carries, and its
# answer. The answer is the API's own, but for one person (unsure[frame]: his box in camera
# pixels, or null) made uncertain, his better guess flipping between answers: what the page
# shows of an uncertain face must not hang on how sure today's model is of the test photos.
RECORD_ANSWERS = """
window.requests = [];
const send = window.fetch;
const strip = new OffscreenCanvas(640, 24).getContext('2d', { willReadFrequently: true });
const unsure = UNSURE_BOXES;
window.fetch = async (url, init) => {
    if (!String(url).includes('/v1/faces')) return send(url, init);
    const request = { sentAt: performance.now() };
    window.requests.push(request);
    const male = window.requests.length % 2 ? 0.64 : 0.38;
    const frame = createImageBitmap(init.body, { resizeWidth: 640, resizeHeight: 480 })
        .then((bitmap) => { request.frame = (FRAME_NUMBER)(bitmap, strip); });
    const { iou } = await import(new URL('tracking.js', location.href));
    const response = await send(url, init);
    request.ok = response.ok;
    if (!response.ok) return response;
    const body = await response.json();
    await frame;
    const scale = body.image.width / 640;
    for (const face of body.faces) {
        const box = Object.fromEntries(Object.entries(face.box).map(([k, v]) => [k, v / scale]));
        if (!unsure[request.frame] || iou(box, unsure[request.frame]) < 0.3) continue;
        Object.assign(face, { gender: male >= 0.5 ? 'male' : 'female', confidence: Math.max(male, 1 - male),
                              scores: { female: 1 - male, male }, uncertain: true });
    }
    request.faces = body.faces;
    return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
};
""".replace("FRAME_NUMBER", FRAME_NUMBER)


def record_answers(truths: list[list[TrueFace]], person: str) -> str:
    """RECORD_ANSWERS, with `person` (a role in SCENE_PEOPLE) the one made uncertain."""
    name = SCENE_PEOPLE[person]
    unsure = [next(({"x": f.box.left, "y": f.box.top, "width": f.box.width, "height": f.box.height}
                    for f in faces if f.person == name), None) for faces in truths]
    return RECORD_ANSWERS.replace("UNSURE_BOXES", json.dumps(unsure))


@pytest.fixture(scope="module")
def scene():
    photos = {p.path.name: p for p in face_photos(FACE_PHOTOS)}
    frames, truths = moving_scene({role: photos[name] for role, name in SCENE_PEOPLE.items()})
    return frames, truths


@pytest.fixture(scope="module")
def scene_browser(playwright, scene, tmp_path_factory):
    y4m = write_y4m(tmp_path_factory.mktemp("moving") / "moving.y4m", scene[0], fps=SCENE_FPS)
    browser = launch(playwright, *fake_camera_args(y4m))
    yield browser
    browser.close()


def box_of(drawn: dict) -> Box:
    """A drawn box (sent-frame pixels) in camera pixels."""
    b = {k: v / SCENE_SCALE for k, v in drawn.items()}
    return Box(round(b["x"]), round(b["y"]), round(b["x"] + b["width"]), round(b["y"] + b["height"]))


def centre(box: Box) -> np.ndarray:
    return np.array([(box.left + box.right) / 2, (box.top + box.bottom) / 2])


def pair_up(boxes: list[Box], faces: list[TrueFace]) -> tuple[dict[int, TrueFace], list[int]]:
    """Boxes matched one to one to faces they overlap (IoU >= 0.3, best first), and the others."""
    pairs = sorted(((iou(b, f.box), i, j) for i, b in enumerate(boxes) for j, f in enumerate(faces)), reverse=True)
    matched, used = {}, set()
    for overlap, i, j in pairs:
        if overlap >= 0.3 and i not in matched and j not in used:
            matched[i] = faces[j]
            used.add(j)
    return matched, [i for i in range(len(boxes)) if i not in matched]


def unwrap(frame: int, t_ms: float, offset: float) -> int:
    """The frame's number counted from the first showing, not from the video's last loop."""
    return frame + SCENE_LENGTH * round((t_ms * SCENE_FPS / 1000 - offset - frame) / SCENE_LENGTH)


CUT_FRAMES = [loop * SCENE_LENGTH + cut for loop in range(SCENE_LOOPS + 2) for cut in CUTS]  # unwrapped


def shot(unwrapped: int) -> int:
    """Which stretch between cuts an (unwrapped) frame is in."""
    return sum(cut <= unwrapped for cut in CUT_FRAMES)


def frames_into_shot(unwrapped: int) -> int:
    return unwrapped - max([0] + [cut for cut in CUT_FRAMES if cut <= unwrapped])


def answers_after(episode: list[dict], sent_frame: dict[int, int]) -> int:
    """How many answers an episode of samples was drawn from that were sent for frames taken
    after it began: the answers that saw the scene as it was and still drew it."""
    start = episode[0]["unwrapped"]
    return sum(1 for n in {s["answer"] for s in episode} if sent_frame.get(n, -1) >= start)


def episodes(events: list[tuple[object, dict]]) -> list[list[dict]]:
    """Runs of consecutive samples per key (a track or a person) from (key, sample) pairs in order."""
    runs: dict[object, list[list[dict]]] = {}
    for key, sample in events:
        mine = runs.setdefault(key, [])
        if mine and mine[-1][-1]["index"] == sample["index"] - 1:
            mine[-1].append(sample)
        else:
            mine.append([sample])
    return [run for key_runs in runs.values() for run in key_runs]


def sure_twice_in(now: dict[str, dict], before: dict[str, dict]) -> dict[str, str]:
    """The people the API is sure of (>= SURE) with one label in two consecutive answers: person -> label."""
    def sure(face: dict | None) -> bool:
        return face is not None and not face["uncertain"] and face["confidence"] >= SURE

    return {person: face["gender"] for person, face in now.items()
            if sure(face) and sure(before.get(person)) and before[person]["gender"] == face["gender"]}


def api_only_fps(url: str, frames: list[Image.Image], seconds: float) -> float:
    """Answers per second for the scene's frames, sent as the page sends them (SENT_WIDTH wide,
    JPEG quality 85, one at a time, to the camera detector) by a plain client: the page's baseline."""
    bodies = [encode(sent_frame(frame), quality=85) for frame in frames[::8]]
    params = {"upsample": SENT_UPSAMPLE, "detector": camera_detector(url)}
    answered = 0
    with httpx.Client(timeout=60) as client:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            response = client.post(f"{url}/v1/faces", params=params,
                                   content=bodies[answered % len(bodies)], headers={"Content-Type": "image/jpeg"})
            response.raise_for_status()
            answered += 1
        return answered / (time.perf_counter() - start)


def test_camera_moving_scene_no_ghosts_no_borrowed_labels(scene, scene_browser, server):
    frames, truths = scene
    context = scene_browser.new_context(viewport={"width": 900, "height": 1000}, device_scale_factor=1)
    context.add_init_script(record_answers(truths, UNSURE_PERSON))
    try:
        page = context.new_page()
        page.goto(f"{server}/")
        page.get_by_role("button", name="Start camera").click()
        wait_until(page, "Number(document.querySelector('#overlay').dataset.answer) >= 1")
        page.evaluate(RECORD)
        page.wait_for_timeout(SCENE_LOOPS * SCENE_SECONDS * 1000)
        page.evaluate("clearInterval(window.recording)")
        samples, requests = page.evaluate("[window.samples, window.requests]")
        shown_fps = page.text_content("#fps")
        save_artifact("camera-moving.png", page.locator("#stage").screenshot())
    finally:
        context.close()

    assert all(r.get("ok") for r in requests[:-1]), "every request answered"
    # answer n (the overlay's data-answer, each box's "answer") is requests[n - 1]; the page may drop some
    answers = {n: r for n, r in enumerate(requests, start=1) if "faces" in r}
    assert all(0 <= s["frame"] < SCENE_LENGTH for s in samples) and all(0 <= a["frame"] < SCENE_LENGTH for a in answers.values())
    offset = samples[0]["t"] * SCENE_FPS / 1000 - samples[0]["frame"]
    for index, sample in enumerate(samples):
        sample["index"], sample["unwrapped"] = index, unwrap(sample["frame"], sample["t"], offset)
    sent_frame = {n: unwrap(a["frame"], a["sentAt"], offset) for n, a in answers.items()}

    # each person's detector offset, from the API's own answers on still frames: the page is
    # judged against where the detector puts a face, not where the photo was pasted
    still_offsets: dict[str, list[np.ndarray]] = {}
    api_right = api_sure = 0
    people_in: dict[int, dict[str, dict]] = {}  # answer -> person -> the API's face for them
    for n, answer in answers.items():
        truth = [f for f in truths[sent_frame[n] % SCENE_LENGTH] if f.covered < 0.5]
        found = [box_of(face["box"]) for face in answer["faces"]]
        matched, _ = pair_up(found, truth)
        people_in[n] = {face.person: answer["faces"][i] for i, face in matched.items()}
        api_sure += sum(not face["uncertain"] for face in people_in[n].values())
        api_right += sum(answer["faces"][i]["gender"] == face.gender for i, face in matched.items()
                         if not answer["faces"][i]["uncertain"])
        if scene_phase(sent_frame[n] % SCENE_LENGTH) == "still":
            for i, face in matched.items():
                still_offsets.setdefault(face.person, []).append(centre(found[i]) - centre(face.box))
    bias = {person: np.median(offsets, axis=0) for person, offsets in still_offsets.items()}

    sure_twice = {n: sure_twice_in(people_in[n], people_in[n - 1])
                  for n in answers if n - 1 in answers and shot(sent_frame[n - 1]) == shot(sent_frame[n])}

    ghosts, wrong_labels, labels_still, errors, raw_errors, lag_errors = [], [], {}, [], [], []
    stale, not_own_label, own_label_checked, uncertain_listed = [], [], 0, []
    errors_by_phase: dict[str, list[float]] = {}
    for sample in samples:
        frame, shown = sample["frame"], sample["unwrapped"]
        # no box from an answer about a frame before a cut, once the frame after the cut is on show
        stale += [(box["answer"], sent_frame.get(box["answer"]), shown) for box in sample["boxes"]
                  if any(sent_frame.get(box["answer"], -1) < cut < shown for cut in CUT_FRAMES)]
        uncertain_listed += [item for item in sample["list"] if item.startswith("Uncertain")]
        faces = [f for f in truths[frame] if f.covered < 0.9]  # a place with a face, if only partly visible
        live = [b for b in sample["boxes"] if b["live"]]
        boxes = [box_of(b["image"]) for b in live]
        matched, unmatched = pair_up(boxes, faces)
        ghosts += [(live[i]["id"], sample) for i in unmatched]
        sent = sent_frame.get(sample["answer"], -1)
        same_scene = sent >= 0 and shot(sent) == shot(shown)
        for i, face in matched.items():
            if face.covered >= 0.5:
                continue
            label = "?" if live[i]["uncertain"] else live[i]["gender"]
            if label not in ("?", face.gender):
                wrong_labels.append((face.person, sample))
            if same_scene and face.person in sure_twice.get(sample["answer"], {}):
                own_label_checked += 1
                if label != sure_twice[sample["answer"]][face.person]:
                    not_own_label.append((face.person, label, sample["answer"], shown))
            if scene_phase(frame) in ("still", "back") and same_scene and frames_into_shot(sent) >= SCENE_FPS:
                labels_still.setdefault(face.person, []).append(label)
            if scene_phase(frame) in ("pan", "crossing") and same_scene:
                error = centre(boxes[i]) - centre(face.box)
                raw_errors.append(np.hypot(*error) / face.box.width)
                errors.append(np.hypot(*(error - bias.get(face.person, 0))) / face.box.width)
                errors_by_phase.setdefault(scene_phase(frame), []).append(errors[-1])
                then = next((f for f in truths[sent % SCENE_LENGTH] if f.person == face.person), None)
                if then:
                    lag_errors.append(np.hypot(*(centre(then.box) - centre(face.box))) / face.box.width)

    ghost_runs = [answers_after(run, sent_frame) for run in episodes(ghosts)]
    wrong_runs = [answers_after(run, sent_frame) for run in episodes(wrong_labels)]
    flips = sum(sum(a != b for a, b in zip(seq, seq[1:])) for seq in labels_still.values())
    gender_words = [item for item in uncertain_listed if re.search(r"\b(female|male)\b", item, re.IGNORECASE)]
    first, last = min(answers), max(answers)
    span_s = (answers[last]["sentAt"] - answers[first]["sentAt"]) / 1000
    fps = (len(answers) - 1) / span_s
    api_fps = api_only_fps(server, frames, seconds=8)
    report = {
        "answers": len(answers), "fps": round(fps, 2), "fps shown": shown_fps, "samples": len(samples),
        "fps of the API alone, same frames, straight after": round(api_fps, 2),
        "page fps / API-alone fps": round(fps / api_fps, 2),
        "API answers: faces it was sure of, found with their right label": f"{api_right}/{api_sure}",
        "answers about a frame before a cut drawn a frame after it (answer, its frame, frame on show)": stale,
        "samples of a face sure twice in a row, drawn without its own label": not_own_label,
        "samples of a face sure twice in a row": own_label_checked,
        "uncertain faces listed with a gender word": gender_words[:5],
        "uncertain faces listed": len(uncertain_listed),
        "ghost episodes (answers after the change that still drew them)": ghost_runs,
        "borrowed-label episodes (answers about the face that still showed another's label)": wrong_runs,
        "label flips while still": flips, "still samples": sum(map(len, labels_still.values())),
        "median centre error while moving, of face width": round(float(np.median(errors)), 3),
        "the same by phase": {phase: round(float(np.median(e)), 3) for phase, e in errors_by_phase.items()},
        "the same without the detector offsets": round(float(np.median(raw_errors)), 3),
        "what a box left where its answer saw the face would be off": round(float(np.median(lag_errors)), 3),
        "detector offsets (px), from still frames": {p: [round(float(v), 1) for v in b] for p, b in bias.items()},
    }
    print(json.dumps(report, indent=1))
    (ARTIFACTS / "camera-moving.json").write_text(json.dumps(report, indent=1))
    assert api_right >= 0.9 * api_sure, "the API itself must be right about the scene"
    assert len(errors) >= 20 and sum(map(len, labels_still.values())) >= 10, report
    assert not stale, report
    assert own_label_checked >= 20 and not not_own_label, report
    assert uncertain_listed and not gender_words, report
    assert max(ghost_runs, default=0) <= 1, report
    assert max(wrong_runs, default=0) <= 1, report
    assert flips == 0, report
    assert np.median(errors) <= 0.10, report


# ---- uncertain faces (issue 32), the detectors the API offers, no 404 ---------------------

UNCERTAIN_LABEL = r"\? (\d{1,2}%|> 99%)"


UNSURE_CONFIDENCE = 0.6


def leftmost(faces: list[dict]) -> dict:
    return min(faces, key=lambda f: f["box"]["x"])


def answer_leftmost_face_unsure(page) -> None:
    """The API's real answers, with the face leftmost in the sent image made one the model is
    unsure of (confidence 0.6 against the answer's threshold, flagged uncertain): what the page
    draws must not hang on how sure today's model happens to be of the test photos."""
    def handle(route):
        response = route.fetch()
        body = response.json()
        if body.get("faces"):
            face = leftmost(body["faces"])
            other = next(label for label in face["scores"] if label != face["gender"])
            face.update(confidence=UNSURE_CONFIDENCE, uncertain=True,
                        scores={face["gender"]: UNSURE_CONFIDENCE, other: 1 - UNSURE_CONFIDENCE})
            body["min_confidence"] = 0.9
        route.fulfill(response=response, json=body)

    page.route("**/v1/faces?*", handle)


def test_camera_draws_an_uncertain_face_as_uncertain(server, page):
    frame = sent_frame(camera_frame())
    unsure = leftmost(api_faces(server, encode(frame, quality=85), upsample=SENT_UPSAMPLE, detector=camera_detector(server)))
    answer_leftmost_face_unsure(page)
    page.goto(f"{server}/")
    page.get_by_role("button", name="Start camera").click()
    wait_for_boxes(page, 2)
    wait_until(page, "JSON.parse(document.querySelector('#overlay').dataset.boxes).filter((b) => b.uncertain).length === 1")
    boxes = live_boxes(page)
    [grey] = [b for b in boxes if b["uncertain"]]
    [sure] = [b for b in boxes if not b["uncertain"]]
    assert same_face(grey["image"], unsure["box"]) and re.fullmatch(UNCERTAIN_LABEL, grey["label"])
    assert re.fullmatch(LABEL, sure["label"])
    pixels = check_screenshot_boxes(page, [sure], "camera-uncertain.png")
    scaled = {k: v * SCALE for k, v in grey["display"].items()}
    assert colour_share_on_edges(pixels, scaled, UNCERTAIN_RGB, band=2 * SCALE) >= 0.9
    assert colour_share_on_edges(pixels, scaled, GENDER_RGB[unsure["gender"]], band=2 * SCALE) < 0.2
    listed = listed_faces(page)
    # the list names no gender for it: the better guess of an uncertain face may flip from frame to frame
    assert sum(item.startswith(f"Uncertain ({grey['label'][2:]}) —") for item in listed) == 1, listed
    page.unroute_all(behavior="ignoreErrors")  # the camera keeps asking: let requests in flight end quietly


def test_photo_and_download_draw_an_uncertain_face_as_uncertain(server, page):
    upright, data = rotated_photo()
    faces = api_faces(server, data, upsample=1)
    unsure = leftmost(faces)
    answer_leftmost_face_unsure(page)
    page.goto(f"{server}/")
    page.locator("#photo-input").set_input_files(files=[{"name": "phone.jpg", "mimeType": "image/jpeg", "buffer": data}])
    boxes = wait_for_boxes(page, 2, mirrored=False)
    assert sorted(b["uncertain"] for b in boxes) == [False, True]
    assert sum(item.startswith("Uncertain (") for item in listed_faces(page)) == 1
    with page.expect_download() as download:
        page.get_by_role("button", name="Download annotated image").click()
    png = Path(download.value.path()).read_bytes()
    save_artifact("upload-annotated-uncertain.png", png)
    pixels = screenshot_array(png)
    for face in faces:
        uncertain = face is unsure
        colour = UNCERTAIN_RGB if uncertain else GENDER_RGB[face["gender"]]
        other = GENDER_RGB[face["gender"]] if uncertain else UNCERTAIN_RGB
        assert colour_share_on_edges(pixels, face["box"], colour, band=3) >= 0.9
        assert colour_share_on_edges(pixels, face["box"], other, band=3) < 0.2


def test_detector_choices_come_from_the_api(server, page):
    offered = httpx.get(f"{server}/v1/model").json()["detectors"]
    page.goto(f"{server}/")
    wait_until(page, "(names) => [...document.querySelectorAll('#detector option')].map((o) => o.value).join() === names.join()",
               list(offered["choices"]))
    # photos: the API's default for uploads; the camera: the API's camera detector
    assert page.input_value("#detector") == offered["default"] and page.input_value("#camera-detector") == offered["camera"]
    assert offered["default"] != offered["camera"]  # else this test could not tell them apart
    page.get_by_text("Settings").click()
    page.get_by_label("Face detector, photos").select_option("cnn")
    assert page.text_content("#detector-hint") == offered["choices"]["cnn"]
    assert page.input_value("#camera-detector") == offered["camera"]  # the photos' choice is not the camera's

    # an older API that does not list its detectors: the page's own list, HOG for the camera
    page.route("**/v1/model", lambda route: route.fulfill(json={"name": "gender", "version": "1.0.0"}))
    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_load_state("networkidle")
    for control in ("#detector", "#camera-detector"):
        assert page.eval_on_selector_all(f"{control} option", "(all) => all.map((o) => o.value)") == ["hog", "cnn"]
        assert page.input_value(control) == "hog"
    assert page.is_hidden("#detector-hint")
    assert page.text_content("#camera-detector-hint") == (
        "The camera sends 1152 px wide frames to hog at upsample 0 (this API names no detector for the camera).")


def test_camera_without_a_camera_detector_from_the_api_sends_hog_frames(server, page):
    """An API whose /v1/model lists detectors but names none for the camera: HOG's enlarged frames."""
    model = httpx.get(f"{server}/v1/model").json()
    del model["detectors"]["camera"]
    page.route("**/v1/model", lambda route: route.fulfill(json=model))
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/v1/faces" in request.url else None)
    page.goto(f"{server}/")
    wait_until(page, "() => document.querySelector('#camera-detector-hint').textContent.includes('names no detector')")
    page.get_by_role("button", name="Start camera").click()
    wait_for_boxes(page, 2)
    detector, width, upsample = FALLBACK_SENT
    assert page.get_attribute("#overlay", "data-image-size") == f"{width}x{width * 3 // 4}"
    assert sent and all(f"detector={detector}&upsample={upsample}" in url for url in sent), sent


def upsample_steps(page, control: str) -> list[int | None]:
    """The steps offered; None: "automatic"."""
    return page.eval_on_selector_all(f"#{control} option", "(all) => all.map((o) => o.value === '' ? null : Number(o.value))")


def test_upsample_steps_come_from_the_api(server, page):
    offered = httpx.get(f"{server}/v1/model").json()["parameters"]["upsample"]
    page.goto(f"{server}/")
    wait_until(page, "(step) => document.querySelector('#upsample-photo').value === step", str(offered["default"]))
    steps = list(range(offered["minimum"], offered["maximum"] + 1))
    assert upsample_steps(page, "upsample-photo") == steps and upsample_steps(page, "upsample-camera") == [None, *steps]
    assert page.text_content("#upsample-camera option") == f"automatic: {SENT_UPSAMPLE}"
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/v1/faces" in request.url else None)
    for chosen, name in ((None, "default.jpg"), ("2", "two.jpg")):
        if chosen:
            page.get_by_text("Settings").click()
            page.get_by_label("Upsample, photos").select_option(chosen)
        page.locator("#photo-input").set_input_files(files=[{"name": name, "mimeType": "image/jpeg", "buffer": FACE_PHOTOS[0].read_bytes()}])
        assert wait_for_state(page, "photo-faces", "no-faces", "api-error").startswith(("Found", "No faces"))
    assert "upsample" not in sent[0] and "upsample=2" in sent[1]  # not chosen: the API's default

    # an API with other steps: the page offers those; automatic for the camera (this API names
    # no camera detector: HOG's step 0, brought within the API's range)
    other = {"minimum": 1, "maximum": 4, "default": 3}
    page.route("**/v1/model", lambda route: route.fulfill(json={"name": "gender", "version": "1.0.0", "parameters": {"upsample": other}}))
    page.evaluate("localStorage.clear()")
    page.reload()
    wait_until(page, "() => document.querySelector('#upsample-photo').value === '3'")
    assert upsample_steps(page, "upsample-camera") == [None, 1, 2, 3, 4] and upsample_steps(page, "upsample-photo") == [1, 2, 3, 4]
    assert page.input_value("#upsample-camera") == "" and page.text_content("#upsample-camera option") == "automatic: 1"

    # an older API that states no steps: only the step in use (the camera's automatic; none for photos)
    page.unroute("**/v1/model")
    page.route("**/v1/model", lambda route: route.fulfill(json={"name": "gender", "version": "1.0.0"}))
    page.reload()
    page.wait_for_load_state("networkidle")
    assert upsample_steps(page, "upsample-camera") == [None] and upsample_steps(page, "upsample-photo") == []
    assert page.text_content("#upsample-camera option") == "automatic: 0"


def test_no_missing_files_and_no_zero_frame_rate(server, page):
    failed, fps_shown = [], []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.add_init_script("""new MutationObserver(() => {
        const fps = document.querySelector('#fps');
        if (fps) (window.fpsShown ??= []).push(fps.textContent);
    }).observe(document, { subtree: true, childList: true, characterData: true });""")
    page.goto(f"{server}/")
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then((r) => [r.status, r.headers.get('content-type')])")
    assert icon[0] == 200 and icon[1].startswith("image/svg+xml")
    page.get_by_role("button", name="Start camera").click()
    wait_until(page, "parseFloat(document.querySelector('#fps').textContent) > 0")
    fps_shown = page.evaluate("window.fpsShown")
    assert fps_shown and "0.0" not in fps_shown, fps_shown
    assert not failed, failed
