"""The batch command (python -m function.batch) run as a person runs it, in a subprocess with
real worker processes: killed and resumed, fed bad files, interrupted, on a terminal and not,
and its JSONL and CSV checked against the API's published schema."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import FACE_PHOTOS, NO_FACE_PHOTO, distinct_photos
from response_checks import response_validator, schema_validator

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "function.batch"]


def folder_of_photos(directory: Path, count: int) -> list[str]:
    directory.mkdir()
    paths = []
    for number, data in enumerate(distinct_photos(count)):
        path = directory / f"{number:02d}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def interruptible() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and the batch
    # command inherits that; a person at a terminal has Ctrl-C, so the command runs as theirs does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([*COMMAND, *args, "--workers", "2"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=stderr, text=True, preexec_fn=interruptible)


def batch(*args: str) -> subprocess.CompletedProcess:
    process = start(*args)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for_lines(path: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the run ended or stalled before {count} lines:\n{process.communicate()[1]}")


def test_a_run_killed_halfway_resumes_and_labels_every_photo_exactly_once(tmp_path):
    photos = folder_of_photos(tmp_path / "photos", 40)
    out = tmp_path / "results.jsonl"
    first = start(str(tmp_path / "photos"), "--out", str(out))
    wait_for_lines(out, 20, first)
    os.killpg(first.pid, signal.SIGKILL)  # the command and its workers, with no chance to tidy up
    first.wait()
    kept = lines_of(out)
    assert 20 <= len(kept) < 40
    with open(out, "a") as cut_short:  # a line the kill cut in half
        cut_short.write('{"path": "' + photos[-1])

    second = batch(str(tmp_path / "photos"), "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert f"resuming: {len(kept)} photos already in" in second.stderr
    labelled = lines_of(out)
    assert sorted(line["path"] for line in labelled) == sorted(photos)
    assert labelled[:len(kept)] == kept
    assert all(len(line["faces"]) == 1 for line in labelled)
    assert "done: 40 photos, 40 faces" in second.stderr


def test_bad_files_get_the_apis_error_codes_and_the_run_goes_on(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a_face.jpg").write_bytes(FACE_PHOTOS[0].read_bytes())
    (photos / "no_face.jpg").write_bytes(NO_FACE_PHOTO.read_bytes())
    (photos / "notes.jpg").write_text("not a photo")
    (photos / "empty.png").write_bytes(b"")
    (photos / "cut.jpg").write_bytes(FACE_PHOTOS[1].read_bytes()[:3000])
    (photos / "readme.txt").write_text("not a photo's name: skipped in a folder")
    missing = str(tmp_path / "gone.jpg")
    out = tmp_path / "results.jsonl"

    result = batch(str(photos), missing, "--out", str(out), "--min-confidence", "0.5")
    assert result.returncode == 0, result.stderr
    by_name = {Path(line["path"]).name: line for line in lines_of(out)}
    assert {name: line.get("error", {}).get("code") for name, line in by_name.items()} == {
        "a_face.jpg": None, "no_face.jpg": None, "notes.jpg": "invalid_image", "empty.png": "empty_image",
        "cut.jpg": "corrupt_image", "gone.jpg": "invalid_image"}
    assert by_name["a_face.jpg"]["min_confidence"] == 0.5 and by_name["no_face.jpg"]["faces"] == []
    assert "done: 6 photos, 1 faces" in result.stderr and "4 errors" in result.stderr


def unflattened(row: dict[str, str]) -> dict:
    """A CSV row's face as the API nests it (box_relative_left -> box_relative.left ...)."""
    face: dict = {}
    for column, text in row.items():
        if column in ("path", "face", "error"):
            continue
        value = text if column == "gender" else json.loads(text)
        for group in ("box_relative", "box", "scores"):
            if column.startswith(group + "_"):
                face.setdefault(group, {})[column[len(group) + 1:]] = value
                break
        else:
            face[column] = value
    return face


def test_the_jsonl_and_the_csv_validate_against_the_apis_schema(tmp_path):
    photos = folder_of_photos(tmp_path / "photos", 6)
    (tmp_path / "photos" / "broken.jpg").write_text("broken")
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(photos[:3]) + "\n")
    out, table = tmp_path / "results.jsonl", tmp_path / "faces.csv"

    result = batch(str(tmp_path / "photos" / "0[3-5].jpg"), str(tmp_path / "photos" / "broken.jpg"),
                   "--files-from", str(listing), "--out", str(out), "--csv", str(table), "--detector", "hog")
    assert result.returncode == 0, result.stderr
    lines = lines_of(out)
    assert sorted(line["path"] for line in lines) == sorted([*photos, str(tmp_path / "photos" / "broken.jpg")])
    answer, error = response_validator("/v1/faces", "post", 200), response_validator("/v1/faces", "post", 400)
    for line in lines:
        body = {name: value for name, value in line.items() if name != "path"}
        validator = error if "error" in body else answer
        assert not [problem.message for problem in validator.iter_errors(body)], line

    face_schema = schema_validator({"$ref": "#/components/schemas/Face"})
    with open(table, newline="") as rows:
        rows = list(csv.DictReader(rows))
    faces = [row for row in rows if not row["error"]]
    assert [row["error"] for row in rows if row["error"]] == ["invalid_image"]
    assert len(faces) == sum(len(line.get("faces", [])) for line in lines) == 6
    for row in faces:
        assert not [problem.message for problem in face_schema.iter_errors(unflattened(row))], row
    first = next(line for line in lines if line["path"] == photos[0])["faces"][0]
    assert unflattened(next(row for row in faces if row["path"] == photos[0])) == first


def test_ctrl_c_keeps_every_finished_photo_and_says_how_to_resume(tmp_path):
    folder_of_photos(tmp_path / "photos", 30)
    out = tmp_path / "results.jsonl"
    process = start(str(tmp_path / "photos"), "--out", str(out))
    wait_for_lines(out, 5, process)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted (run the same command again to resume)" in stderr
    lines = lines_of(out)
    assert 5 <= len(lines) < 30 and all(len(line["faces"]) == 1 for line in lines)
    assert "Traceback" not in stderr


def worker_processes(pid: int) -> list[int]:
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def test_a_worker_killed_stops_the_run_plainly_and_the_rerun_finishes(tmp_path):
    photos = folder_of_photos(tmp_path / "photos", 30)
    out = tmp_path / "results.jsonl"
    process = start(str(tmp_path / "photos"), "--out", str(out))
    wait_for_lines(out, 5, process)
    os.kill(worker_processes(process.pid)[0], signal.SIGKILL)  # as the OOM killer would
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "a worker process died" in stderr and "Traceback" not in stderr
    assert batch(str(tmp_path / "photos"), "--out", str(out)).returncode == 0
    assert sorted(line["path"] for line in lines_of(out)) == sorted(photos)


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_in_a_log(tmp_path):
    folder_of_photos(tmp_path / "photos", 4)
    logged = batch(str(tmp_path / "photos"), "--out", str(tmp_path / "logged.jsonl"))
    assert "batch: 4/4 photos" in logged.stderr and "photos/s" in logged.stderr and "\r" not in logged.stderr

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    process = start(str(tmp_path / "photos"), "--out", str(tmp_path / "shown.jsonl"), stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=120)
    os.close(controller)
    assert process.returncode == 0
    text = shown.decode()
    assert "4/4" in text and "photo/s" in text and "faces=4" in text and "\r" in text


def test_options_out_of_the_apis_ranges_are_refused_before_anything_runs(tmp_path):
    result = batch(str(FACE_PHOTOS[0]), "--out", str(tmp_path / "out.jsonl"), "--upsample", "7")
    assert result.returncode == 2 and "upsample: 7 is not between 0 and 2." in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_the_options_and_their_ranges_are_the_apis():
    from dataclasses import fields

    from function.batch import parse
    from function.errors import ServiceError
    from function.service import Options
    from function.settings import RANGES
    from response_checks import openapi

    published = {parameter["name"]: parameter["schema"] for parameter in openapi()["paths"]["/v1/faces"]["post"]["parameters"]}
    assert set(published) == {field.name for field in fields(Options)}
    for name, (low, high) in RANGES.items():
        bounds = published[name].get("anyOf", [published[name]])[0]
        assert (bounds["minimum"], bounds["maximum"]) == (low, high)
        for wrong in (low - 1, high + 1):
            with pytest.raises(ServiceError):
                Options(**{name: wrong})
    for detector in published["detector"]["enum"]:
        assert parse(["photo.jpg", "--out", "o", "--detector", detector])[1].detector == detector
    with pytest.raises(SystemExit):
        parse(["photo.jpg", "--out", "o", "--detector", "nope"])
