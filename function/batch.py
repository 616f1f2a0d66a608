"""Label a photo collection on this machine: every core, a progress bar, resumable.

    python -m function.batch PATH... --out results.jsonl [--csv faces.csv] [--files-from LIST]
        [--detector NAME --upsample N --max-side PX --min-confidence C] [--workers N]

A PATH is a folder (searched, subfolders too, for .jpg .jpeg .png .webp .bmp .gif .tif .tiff),
a glob ('photos/**/*.jpg', quoted) or a photo; --files-from names a file listing paths, one a
line ('-': standard input). Each photo becomes one JSON line in --out: {"path": ..., and the
body POST /v1/faces answers for it}, or {"path": ..., "error": {"code", "message"}} with the
API's error code when it cannot be read; the run goes on. Lines are flushed one by one, so an
interrupted or crashed run keeps every finished photo, and the same command run again skips
them. --csv writes one row per face (and one per error) from --out at the end. Options and
their ranges are the API's (README, "Using the API").

Each worker process holds one detector and reads its own photos; paths are streamed and at most
two photos per worker are in flight, so memory stays flat whatever the collection's size.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from pydantic import BaseModel
from tqdm import tqdm

from function import service
from function.errors import ServiceError
from function.detectors import DETECTORS
from function.schemas import Face
from function.service import Options
from function.settings import RANGES

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
IN_FLIGHT_PER_WORKER = 2
LOG_EVERY_S = 10.0  # a plain progress line this often when stderr is not a terminal


def photo_paths(sources: Iterable[str], lists: Iterable[str] = ()) -> Iterator[str]:
    """Each photo path the sources name, in a stable order, streamed."""
    for source in sources:
        if os.path.isdir(source):
            for folder, subfolders, names in os.walk(source):
                subfolders.sort()
                for name in sorted(names):
                    if os.path.splitext(name)[1].lower() in PHOTO_SUFFIXES:
                        yield os.path.join(folder, name)
        elif glob.has_magic(source):
            yield from (path for path in sorted(glob.iglob(source, recursive=True)) if os.path.isfile(path))
        else:
            yield source
    for listing in lists:
        with (sys.stdin if listing == "-" else open(listing, encoding="utf-8")) as lines:
            yield from (line.rstrip("\n") for line in lines if line.strip())


# --- one photo, in a worker process --------------------------------------------------------

def start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    os.environ["FACES_DETECT_THREADS"] = "1"  # one detector per process: the processes are the parallelism
    service.pipeline().warm_up()


def label_file(path: str, options: Options) -> dict:
    """The photo's output line: the /v1/faces body, or the API's error body."""
    try:
        service.check_size(os.path.getsize(path))
        with open(path, "rb") as photo:
            data = photo.read()
        return {"path": path, **service.faces(data, options).model_dump(mode="json")}
    except ServiceError as error:
        return {"path": path, "error": {"code": error.code, "message": error.message}}
    except OSError as error:
        return {"path": path, "error": {"code": "invalid_image", "message": f"The file cannot be read: {error.strerror}."}}


# --- the run ----------------------------------------------------------------------------------

class Tally:
    """Photos, faces by label, errors: for the progress display and the summary."""

    def __init__(self):
        self.counts = Counter()

    def add(self, line: dict) -> None:
        self.counts["photos"] += 1
        if "error" in line:
            self.counts["errors"] += 1
            return
        for face in line["faces"]:
            self.counts["faces"] += 1
            self.counts["uncertain" if face["uncertain"] else face["gender"]] += 1

    def summary(self) -> str:
        c = self.counts
        return (f"{c['photos']} photos, {c['faces']} faces ({c['female']} female, {c['male']} male, "
                f"{c['uncertain']} uncertain), {c['errors']} errors")


def finished_paths(out: Path, tally: Tally) -> set[str]:
    """The paths an earlier run wrote to `out`, counted in tally. A last line cut short by a
    crash is removed, so that its photo is labelled again."""
    done: set[str] = set()
    if not out.exists():
        return done
    with open(out, "rb+") as lines:
        end_of_good = 0
        for line in lines:
            if not line.endswith(b"\n"):
                break
            row = json.loads(line)
            done.add(row["path"])
            tally.add(row)
            end_of_good += len(line)
        lines.truncate(end_of_good)
    return done


class Progress:
    """tqdm's bar (photos/s, ETA) on a terminal; a plain line every LOG_EVERY_S seconds otherwise."""

    def __init__(self, total: int, tally: Tally):
        self.total, self.tally, self.done = total, tally, 0
        self.started = self.logged = time.monotonic()
        self.bar = tqdm(total=total, unit="photo", dynamic_ncols=True) if sys.stderr.isatty() else None

    def advance(self) -> None:
        self.done += 1
        counts = self.tally.counts
        if self.bar:
            self.bar.set_postfix(faces=counts["faces"], errors=counts["errors"], refresh=False)
            self.bar.update()
        elif time.monotonic() - self.logged >= LOG_EVERY_S or self.done == self.total:
            self.logged = time.monotonic()
            rate = self.done / (self.logged - self.started)
            eta = (self.total - self.done) / rate if rate else float("inf")
            print(f"batch: {self.done}/{self.total} photos, {rate:.2f} photos/s, {counts['faces']} faces, "
                  f"{counts['errors']} errors, ETA {eta:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def run(paths: Iterable[str], todo: int, out: Path, options: Options, workers: int, tally: Tally) -> None:
    """Labels the paths on `workers` processes, appending each photo's line to `out` as it finishes."""
    progress = Progress(todo, tally)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=start_worker)
    pending: set[Future] = set()
    try:
        with open(out, "a", encoding="utf-8") as lines:
            def write(finished: set[Future]) -> None:
                for future in finished:
                    line = future.result()
                    lines.write(json.dumps(line) + "\n")
                    lines.flush()
                    tally.add(line)
                    progress.advance()

            for path in paths:
                if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    write(finished)
                pending.add(pool.submit(label_file, path, options))
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                write(finished)
    finally:
        progress.close()
        pool.shutdown(wait=not pending, cancel_futures=True)


# --- the CSV ----------------------------------------------------------------------------------

def flat_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The model's fields, nested ones as parent_child: box_x, box_relative_left, scores_female..."""
    names = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += flat_names(field.annotation, f"{prefix}{name}_")
        else:
            names.append(prefix + name)
    return names


def flat(values: dict, prefix: str = "") -> dict:
    row = {}
    for name, value in values.items():
        if isinstance(value, dict):
            row |= flat(value, f"{prefix}{name}_")
        else:
            row[prefix + name] = json.dumps(value) if isinstance(value, bool) else value
    return row


CSV_COLUMNS = ["path", "face", *flat_names(Face), "error"]


def write_csv(out: Path, table: Path) -> None:
    """One row per face of every photo in `out` (face: 1 for the largest), one per error."""
    with open(out, encoding="utf-8") as lines, open(table, "w", newline="", encoding="utf-8") as rows:
        writer = csv.DictWriter(rows, CSV_COLUMNS)
        writer.writeheader()
        for line in lines:
            photo = json.loads(line)
            if "error" in photo:
                writer.writerow({"path": photo["path"], "error": photo["error"]["code"]})
            for number, face in enumerate(photo.get("faces", []), start=1):
                writer.writerow({"path": photo["path"], "face": number, **flat(face)})


# --- the command ------------------------------------------------------------------------------

def interrupt(*_) -> None:
    raise KeyboardInterrupt


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(prog="python -m function.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="folders, globs or photos")
    parser.add_argument("--files-from", action="append", default=[], metavar="LIST",
                        help="a file listing photo paths, one a line ('-': standard input)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per photo (appended to: resumes)")
    parser.add_argument("--csv", type=Path, help="also write one row per face here, at the end")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes, one detector each (default: every core)")
    parser.add_argument("--detector", choices=DETECTORS, default=Options.detector, help="as the API's `detector`")
    for name, kind in (("upsample", int), ("max_side", int), ("min_confidence", float)):
        low, high = RANGES[name]
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, dest=name,
                            help=f"{low}-{high}, as the API's `{name}` (default: the service's)")
    args = parser.parse_args(argv)
    if not args.paths and not args.files_from:
        parser.error("name photos: PATH... or --files-from LIST")
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    try:
        options = Options(args.detector, args.upsample, args.max_side, args.min_confidence)
    except ServiceError as error:
        parser.error(error.message)
    return args, options


def main(argv: list[str] | None = None) -> int:
    args, options = parse(argv)
    signal.signal(signal.SIGTERM, interrupt)
    tally = Tally()
    done = finished_paths(args.out, tally)
    # A first pass over the names alone gives the progress bar its total.
    todo = sum(1 for path in photo_paths(args.paths, args.files_from) if path not in done)
    if done:
        print(f"batch: resuming: {len(done)} photos already in {args.out}, {todo} to go", file=sys.stderr)
    started = time.monotonic()
    state, status = "done", 0
    try:
        remaining = (path for path in photo_paths(args.paths, args.files_from) if path not in done)
        run(remaining, todo, args.out, options, args.workers, tally)
    except KeyboardInterrupt:
        state, status = "interrupted (run the same command again to resume)", 130
    except BrokenProcessPool:
        state, status = "stopped: a worker process died (killed, or out of memory); run the same command again to resume", 1
    if args.csv and args.out.exists():
        write_csv(args.out, args.csv)
    elapsed = time.monotonic() - started
    print(f"batch: {state}: {tally.summary()} in {args.out}; {elapsed:.1f} s this run", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
