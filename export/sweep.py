"""Input size and crop margin: short training runs on a subset, validation accuracy and latency per face.

    python -m export.sweep --data ../shared/data --out runs/sweep --configs 96:0.2,112:0.2,128:0.2,112:0.35

Each configuration trains one epoch on the same random subset of training photos and is
validated on the same random subset of validation faces; latency is onnxruntime on 1 thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from export import train
from export.evaluate import latency_ms
from export.onnx import export_onnx, load_trained
from function.inference import GenderClassifier


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--configs", default="96:0.2,112:0.2,128:0.2,112:0.35", help="size:margin,...")
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--val-limit", type=int, default=2000)
    args = parser.parse_args(argv)

    rows = ["| input | margin | val accuracy | val balanced | LFW-df acc | LFW-150 acc | UTKFace acc | ms/face (1 thread) | train s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for config in args.configs.split(","):
        size, margin = config.split(":")
        out = args.out / f"{size}-{margin}"
        info = train.main(["--data", str(args.data), "--out", str(out), "--input-size", size, "--margin", margin,
                           "--epochs", "1", "--train-limit", str(args.train_limit), "--val-limit", str(args.val_limit)])
        model, spec, _ = load_trained(out / "best.pt")
        export_onnx(model, spec, {"name": out.name}, out / "model.onnx")
        [ms] = latency_ms([GenderClassifier(out / "model.onnx", threads=1)])
        v = info["metrics"]["validation"]
        accuracy = [v.get(s, {}).get("accuracy", float("nan")) for s in ("lfw-deepfunneled", "lfw-original150", "utkface")]
        rows.append(f"| {size} | {margin} | {v['all']['accuracy']:.2f} | {v['all']['balanced_accuracy']:.2f} | "
                    + " | ".join(f"{a:.2f}" for a in accuracy) + f" | {ms:.2f} | {info['training']['wall_seconds']} |")
        print("\n".join(rows), flush=True)
    (args.out / "table.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
