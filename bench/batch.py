"""The batch command (python -m function.batch) on photos from ../shared/data (LFW, FairFace and
UTKFace, interleaved): photos/s on the same photos with one worker process and with every core,
taking turns in the same run, with the CPU time the command and its workers used (a loaded
machine gives them less than a core each: CPU/wall says how much they got); then its peak
memory (the command and its workers, RSS summed, sampled every 0.2 s) on a small and a ten
times larger collection.

    nice -n 10 .venv/bin/python -m bench.batch [--photos 1000] [--rounds 1] [--memory 1000 10000]
        [--parts speed memory]

Each run is the command as a person runs it, in a subprocess, with a fresh output file.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from export.shared_data import SHARED_DATA

SOURCES = [SHARED_DATA / "lfw" / "deepfunneled", SHARED_DATA / "fairface" / "images", SHARED_DATA / "utkface"]
MIB = 1024 * 1024


def mixed_photos(count: int) -> list[str]:
    """`count` photos taking turns from each source (sorted paths, so the same ones each run)."""
    per_source = [sorted(str(p) for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
                  for source in SOURCES]
    mixed = [path for group in itertools.zip_longest(*per_source) for path in group if path]
    if len(mixed) < count:
        raise SystemExit(f"only {len(mixed)} photos in {', '.join(map(str, SOURCES))}")
    return mixed[:count]


def rss_of_tree(pid: int) -> tuple[int, int]:
    """(RSS of pid, RSS of pid and all its descendants), in bytes; 0 for processes gone meanwhile."""
    def rss(process: int) -> int:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def descendants(process: int) -> list[int]:
        try:
            children = [int(c) for c in Path(f"/proc/{process}/task/{process}/children").read_text().split()]
        except OSError:
            return []
        return children + [d for child in children for d in descendants(child)]

    return rss(pid), rss(pid) + sum(rss(child) for child in descendants(pid))


def run_batch(listing: Path, out: Path, workers: int, options: list[str]) -> dict:
    """Runs the command over the listing; wall time and peak memory (the main process, the tree)."""
    command = [sys.executable, "-m", "function.batch", "--files-from", str(listing), "--out", str(out),
               "--workers", str(workers), *options]
    peaks = {"main": 0, "tree": 0}
    cpu_before = cpu_of_children()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while process.poll() is None:
            main, tree = rss_of_tree(process.pid)
            peaks["main"], peaks["tree"] = max(peaks["main"], main), max(peaks["tree"], tree)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    cpu = cpu_of_children() - cpu_before
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    photos = sum(1 for _ in open(out))
    return {"photos": photos, "seconds": seconds, "cpu": cpu, "summary": stderr.strip().splitlines()[-1], **peaks}


def cpu_of_children() -> float:
    """User + system seconds of every waited-for descendant (the command and, through it, its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=1000, help="photos for the throughput runs")
    parser.add_argument("--rounds", type=int, default=1, help="throughput runs per worker count, taking turns")
    parser.add_argument("--parts", nargs="+", choices=["speed", "memory"], default=["speed", "memory"])
    parser.add_argument("--memory", type=int, nargs=2, default=[1000, 10000], help="the two collections' sizes")
    parser.add_argument("--memory-options", default="--detector hog --upsample 0",
                        help="the memory runs' options (fast, so that 10,000 photos take minutes)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    photos = mixed_photos(max(args.photos, *args.memory))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as work:
        work = Path(work)

        def listing(count: int) -> Path:
            path = work / f"photos-{count}.txt"
            path.write_text("\n".join(photos[:count]) + "\n")
            return path

        print(f"load average before: {os.getloadavg()}", flush=True)
        if "speed" in args.parts:
            speed(listing(args.photos), work, cores, args.rounds)
        if "memory" in args.parts:
            memory(listing, work, cores, args.memory, args.memory_options)


def speed(listing: Path, work: Path, cores: int, rounds: int) -> None:
    print("\n| round | workers | photos | wall s | photos/s | speed-up | CPU s | CPU / wall | summary |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for round_number in range(1, rounds + 1):
        baseline = None
        for workers in (1, cores):
            out = work / f"speed-{round_number}-{workers}.jsonl"
            result = run_batch(listing, out, workers, [])
            rate = result["photos"] / result["seconds"]
            baseline = baseline or rate
            print(f"| {round_number} | {workers} | {result['photos']} | {result['seconds']:.1f} | {rate:.2f} "
                  f"| {rate / baseline:.2f}x | {result['cpu']:.1f} | {result['cpu'] / result['seconds']:.2f} "
                  f"| {result['summary'].split(' in ')[0]} |", flush=True)
        print(f"\nload average after round {round_number}: {os.getloadavg()}", flush=True)


def memory(listing, work: Path, cores: int, counts: list[int], options: str) -> None:
    print(f"\n| photos | workers | options | wall s | peak MiB, command | peak MiB, command + workers |\n"
              "| --- | --- | --- | --- | --- | --- |")
    peaks = []
    for count in counts:
        result = run_batch(listing(count), work / f"memory-{count}.jsonl", cores, options.split())
        peaks.append(result["tree"])
        print(f"| {result['photos']} | {cores} | `{options}` | {result['seconds']:.1f} "
              f"| {result['main'] / MIB:.0f} | {result['tree'] / MIB:.0f} |", flush=True)
    print(f"\npeak memory, {counts[1]} against {counts[0]} photos: {peaks[1] / peaks[0]:.3f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
