"""Per-request latency by stage and recall, this service's pipeline against the seed's stack,
on the same generated images in the same run.

    python -m bench.latency                        # both stacks, every category
    taskset -c 0 python -m bench.latency --only webcam --threads 1 --no-seed
    python -m bench.latency --only group --profile # where our time goes (cProfile, 1 thread)
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import statistics
import time
from collections import defaultdict

from bench.scenes import CATEGORIES, Scene, benchmark_scenes, matched
from bench.seed_stack import seed_stack_or_reason
from function.boxes import Box
from function.pipeline import FaceGenderPipeline
from function.settings import Settings

STAGES = ("decode", "detect", "classify", "total")
# CPU seconds the whole process spent on a request (all threads): what the latency would be
# on an idle machine for a single-threaded stack, and unaffected by other load here.
COLUMNS = (*STAGES, "cpu")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(rows: list[dict[str, float]]) -> str:
    cells = []
    for stage in COLUMNS:
        values = [row[stage] for row in rows]
        cells.append(f"{statistics.mean(values):7.1f} {percentile(values, 0.5):7.1f} {percentile(values, 0.95):7.1f}")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=[name for name, *_ in CATEGORIES])
    parser.add_argument("--threads", type=int, help="detection threads (default: FACES_DETECT_THREADS / CPU count)")
    parser.add_argument("--no-seed", action="store_true", help="only this service's pipeline")
    parser.add_argument("--profile", action="store_true", help="cProfile our pipeline (1 detection thread)")
    args = parser.parse_args()

    settings = Settings.from_env()
    if args.threads or args.profile:
        settings = dataclasses.replace(settings, detect_threads=1 if args.profile else args.threads)
    ours = FaceGenderPipeline(settings)
    ours.warm_up()
    seed, reason = (None, "--no-seed") if args.no_seed or args.profile else seed_stack_or_reason()
    print(f"detection threads: {settings.detect_threads}; seed stack: {'yes' if seed else 'skipped (' + reason + ')'}")

    scenes = benchmark_scenes({args.only} if args.only else None)
    encoded = [(scene, upsample, scene.jpeg()) for scene, upsample in scenes]
    if args.profile:
        profile(ours, encoded, settings.default_max_side)
        return
    timings: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    found: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    faces_classified: dict[tuple[str, str], int] = defaultdict(int)
    if seed:  # first calls load models and warm caches
        seed.predict(encoded[0][2])
    for scene, upsample, data in encoded:
        cpu = time.process_time()
        analysis = ours.analyze(data, "hog", upsample, settings.default_max_side)
        stage_ms = analysis.timings_ms | {"cpu": (time.process_time() - cpu) * 1000}
        record(timings, found, faces_classified, ("ours", scene.name), stage_ms, scene, [f.box for f in analysis.faces])
        if seed:
            cpu = time.process_time()
            faces, stage_ms = seed.predict(data)
            stage_ms["cpu"] = (time.process_time() - cpu) * 1000
            record(timings, found, faces_classified, ("seed", scene.name), stage_ms, scene, [Box(*f["box"]) for f in faces])

    print(f"\n{'stack':5} {'images':15} {'recall':>12} | " + " | ".join(f"{s + ' ms mean p50 p95':>23}" for s in COLUMNS))
    for (stack, name), rows in timings.items():
        hits, total = found[(stack, name)]
        label = f"{name} u{next(u for s, u, _ in encoded if s.name == name) if stack == 'ours' else 1}"
        print(f"{stack:5} {label + ' x' + str(len(rows)):15} {hits:4}/{total:<4} {hits / total:4.0%} | {summary(rows)}")
    if seed:
        print()
        for name in dict.fromkeys(s.name for s, _, _ in encoded):
            ratios = {}
            for stage in ("classify", "detect", "total", "cpu"):
                mine = sum(r[stage] for r in timings[("ours", name)])
                theirs = sum(r[stage] for r in timings[("seed", name)])
                ratios[stage] = mine / theirs
            per_face = {
                stack: sum(r["classify"] for r in timings[(stack, name)]) / max(1, faces_classified[(stack, name)])
                for stack in ("ours", "seed")
            }
            print(
                f"{name:7} ours/seed: total {ratios['total']:.2f}x, detect {ratios['detect']:.2f}x, "
                f"cpu {ratios['cpu']:.2f}x; classify per face "
                f"{per_face['ours']:.2f} ms vs {per_face['seed']:.2f} ms = {per_face['ours'] / per_face['seed']:.2f}x"
            )


def record(timings, found, faces_classified, key, stage_ms, scene: Scene, boxes: list[Box]) -> None:
    timings[key].append({stage: stage_ms[stage] for stage in COLUMNS})
    found[key][0] += matched(scene.faces, boxes)
    found[key][1] += len(scene.faces)
    faces_classified[key] += len(boxes)


def profile(ours: FaceGenderPipeline, encoded, max_side: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _, upsample, data in encoded:
        ours.analyze(data, "hog", upsample, max_side)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
