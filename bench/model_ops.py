"""Where a model's time goes: onnxruntime's own profile of one face (batch 1, 1 thread), per
operator type and the slowest nodes.

    taskset -c 0 python -m bench.model_ops function/models/gender-mobilenet-v2-int8.onnx
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort


def node_times_us(path: Path, runs: int) -> dict[str, tuple[str, float]]:
    """Per node: (operator type, mean microseconds per run)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model_input = session.get_inputs()[0]
        feed = {model_input.name: np.zeros((1, *model_input.shape[1:]), np.float32)}
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, float] = defaultdict(float)
    kinds = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["name"]] += event["dur"]
            kinds[event["name"]] = event["args"]["op_name"]
    return {name: (kinds[name], total / runs) for name, total in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--top", type=int, default=10, help="slowest nodes to list")
    args = parser.parse_args()

    nodes = node_times_us(args.model, args.runs)
    total = sum(us for _, us in nodes.values())
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, us in nodes.values():
        by_kind[kind].append(us)
    print(f"{args.model.name}: {total / 1000:.2f} ms per face in operator kernels (mean of {args.runs} runs, profiling on)\n")
    print(f"{'operator':26} {'nodes':>5} {'ms':>7} {'share':>6}")
    for kind, times in sorted(by_kind.items(), key=lambda item: -sum(item[1])):
        print(f"{kind:26} {len(times):5} {sum(times) / 1000:7.3f} {sum(times) / total:6.1%}")
    print(f"\nslowest {args.top} nodes")
    for name, (kind, us) in sorted(nodes.items(), key=lambda item: -item[1][1])[: args.top]:
        print(f"{us / 1000:7.3f} ms  {kind:14} {name.removesuffix('_kernel_time')}")


if __name__ == "__main__":
    main()
