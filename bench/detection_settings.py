"""Recall against latency for each detector, upsample and max_side, on the labelled group and
phone composites of the benchmark set, through detect_faces as the service calls it.

    python -m bench.detection_settings [--threads N] [--cnn-images K]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.scenes import benchmark_scenes, matched
from function.detectors import detect_faces
from function.faces import warm_up

HOG_GRID = [(upsample, max_side) for upsample in (0, 1, 2) for max_side in (800, 1200, 1600)]
# dlib's CNN costs seconds per image on CPU: fewer images, and upsample 2 only when small.
CNN_GRID = [(0, 800), (0, 1600), (1, 800), (1, 1600), (2, 800)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cnn-images", type=int, default=3, help="group/phone images the CNN runs on")
    args = parser.parse_args()
    warm_up(args.threads)  # builds the pool's detectors (~1.4 s CPU each) outside the timings
    scenes = [scene for scene, _ in benchmark_scenes({"group", "phone"})]
    cnn_scenes = [s for s in scenes if s.name == "group"][: args.cnn_images - 1] + [s for s in scenes if s.name == "phone"][:1]
    print(f"detection threads: {args.threads}; images: {len(scenes)} ({sum(len(s.faces) for s in scenes)} faces) for hog, "
          f"{len(cnn_scenes)} ({sum(len(s.faces) for s in cnn_scenes)} faces) for cnn")
    print(f"\n| detector | upsample | max_side | recall group | recall phone | recall all | extra boxes | ms/image mean | ms/image max | CPU ms/image mean |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for detector, grid, chosen in (("hog", HOG_GRID, scenes), ("cnn", CNN_GRID, cnn_scenes)):
        for upsample, max_side in grid:
            hits = {"group": [0, 0], "phone": [0, 0]}
            extra, latencies, cpu = 0, [], []
            for scene in chosen:
                start, cpu_start = time.perf_counter(), time.process_time()
                boxes = detect_faces(scene.image, detector, upsample, max_side, args.threads)
                latencies.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - cpu_start) * 1000)
                found = matched(scene.faces, boxes)
                hits[scene.name][0] += found
                hits[scene.name][1] += len(scene.faces)
                extra += len(boxes) - found
            cells = [f"{h}/{t}" if t else "-" for h, t in hits.values()]
            total_hits, total = sum(h for h, _ in hits.values()), sum(t for _, t in hits.values())
            print(f"| {detector} | {upsample} | {max_side} | {cells[0]} | {cells[1]} | {total_hits / total:.1%} | {extra} "
                  f"| {statistics.mean(latencies):.0f} | {max(latencies):.0f} | {statistics.mean(cpu):.0f} |", flush=True)


if __name__ == "__main__":
    main()
