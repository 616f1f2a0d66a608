"""Fine-tune an ImageNet MobileNetV2 as the gender classifier, on 2 CPU cores.

    python -m export.train --data ../shared/data --out runs/default                    # all four sources
    python -m export.train --data ../shared/data --out runs/lfw --sources lfw          # LFW only
    python -m export.train ... --out runs/longer --init runs/default/best.pt           # more epochs on top of a run
    python -m export.train ... --init function/models/gender-mobilenet-v2.onnx         # fine-tune a shipped model
    python -m export.train ... --init runs/a/best.pt --teacher runs/a/best.pt          # and distil from a run
    python -m export.teacher --data ../shared/data && python -m export.train ... --teacher-probs runs/cache/teacher.json
    python -m export.train ... --teacher-embeddings runs/cache/embeddings.npz    # also learn dlib's face embeddings
    python -m export.train ... --out runs/fold0 --leave-out-fold 0/2    # half of an out-of-fold teacher (export.teacher)
    python -m export.train <the same arguments> --resume                # go on from where a cut-off run stopped

Each epoch draws its photos at random (export.data.balancing_weights): within each source and
age bin, women and men equally likely, so neither "looks like LFW" nor "old" comes to mean
"male"; sources weigh as the square root of their size.

Epochs are chosen on one declared figure, export.evaluate.selection_score(): the mean over
sources of each source's balanced accuracy on its validation faces aged 10 and over.

--teacher-embeddings adds a training-only head (1280 -> 128) that learns each photo's dlib
face-recognition embedding (cosine loss): the features then carry what a ResNet trained on
~3 million faces tells apart, not just one probability. The head is not saved or served.

Writes <out>/best.pt ({state_dict, spec, info}: the epoch with the best selection score, with
its fitted temperature and validation metrics) and <out>/log.json. Every --checkpoint-every
steps and at each epoch's end it also writes <out>/last.pt: weights, optimiser, schedule, random
state and the place in the epoch's draw, so that the same command with --resume, after a cut at
any point, goes on as if never stopped (each epoch's draw and augmentations follow from the seed). Export it with
`python -m export.onnx --checkpoint <out>/best.pt --out function/models/<name>.onnx`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from export.data import (AGE_BINS, CHILD_BINS, SOURCES, FaceCrops, Sample, balancing_weights, detect_all, load_samples, people_of,
                         person_folds, photos_sha256, split, training_boxes)
from export.embeddings import embedding_photo
from export.evaluate import DEFAULT_CACHE, expected_calibration_error, validation_report
from export.from_onnx import checkpoint_from_onnx
from export.mobilenet_v2 import gender_mobilenet_v2
from function.inference import LABELS, GenderClassifier
from function.preprocess import ModelSpec, to_input

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DISTILL_TEMPERATURE = 2.0  # Hinton et al. 2015: softened targets carry how alike the classes look


def make_spec(input_size: int, margin: float) -> ModelSpec:
    return ModelSpec(input_size=input_size, margin=margin, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD, labels=LABELS)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def logits_of(model: nn.Module, crops: FaceCrops, batch_size: int = 128) -> torch.Tensor:
    model.eval()
    loader = DataLoader(crops, batch_size=batch_size, num_workers=1, multiprocessing_context="spawn")
    with torch.no_grad():
        return torch.cat([model(x.contiguous(memory_format=torch.channels_last)) for x, _ in loader])


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature T minimising validation NLL of softmax(logits / T) (Guo et al. 2017)."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return round(log_t.exp().item(), 4)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    t = DISTILL_TEMPERATURE
    log_student = nn.functional.log_softmax(student_logits / t, 1)
    return t * t * nn.functional.kl_div(log_student, nn.functional.softmax(teacher_logits / t, 1), reduction="batchmean")


def soft_target_loss(student_logits: torch.Tensor, teacher_probabilities: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a teacher's class probabilities (its fixed, cached answers)."""
    return -(teacher_probabilities * nn.functional.log_softmax(student_logits, 1)).sum(1).mean()


class Numbered(Dataset):
    """Each item of a dataset with its index first, to look up what is cached per photo."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        return (index, *self.dataset[index])


def load_model(checkpoint: dict) -> nn.Module:
    model = gender_mobilenet_v2(len(LABELS), pretrained=False)
    model.load_state_dict(checkpoint["state_dict"])
    # channels-last convolutions train about twice as fast on CPU here
    return model.to(memory_format=torch.channels_last)


def save_checkpoint(out: Path, model: nn.Module, spec: ModelSpec, logits: torch.Tensor, targets: torch.Tensor, facts: dict) -> dict:
    """Write <out>/best.pt: the weights, the input spec, and their info with a temperature fitted on these logits."""
    temperature = fit_temperature(logits, targets)
    ece = {"before": expected_calibration_error(torch.softmax(logits, 1).numpy(), targets.numpy()),
           "after": expected_calibration_error(torch.softmax(logits / temperature, 1).numpy(), targets.numpy())}
    validation = facts.pop("validation")
    info = {**facts, "temperature": temperature, "metrics": {"validation": validation, "ece_percent": ece}}
    torch.save({"state_dict": model.state_dict(), "spec": spec.to_json(), "info": info}, out / "best.pt")
    return info


def initial_checkpoint(path: Path, data: Path, samples: list, boxes: dict) -> dict:
    """--init: a run's best.pt, or an ONNX file of ours, unfolded on 128 of the training faces."""
    if path.suffix != ".onnx":
        return torch.load(path)
    spec = GenderClassifier(path).spec
    faces = FaceCrops(data, random.Random(0).sample(samples, min(128, len(samples))), boxes, spec, LABELS)
    return checkpoint_from_onnx(path, to_input([faces.crop(i) for i in range(len(faces))], spec))


def epochs_trained(info: dict) -> int:
    """Epochs behind a checkpoint, counting the runs it continues."""
    return int(info["training"]["epochs"]) + (epochs_trained(info["continues"]) if "continues" in info else 0)


def validate(logits: torch.Tensor, targets: torch.Tensor, samples: list[Sample]) -> dict:
    return validation_report(targets.numpy(), logits.argmax(1).numpy(), samples, LABELS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: " + ", ".join(SOURCES))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="detected boxes (JSON), reused across runs")
    parser.add_argument("--input-size", type=int, default=112)
    parser.add_argument("--margin", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0, help="initial head, augmentation and batch order; never the split")
    parser.add_argument("--init", type=Path, help="start from this run's best.pt, or an ONNX file of ours, instead of ImageNet "
                                                  "(the schedule restarts)")
    parser.add_argument("--teacher", type=Path, help="also learn this run's best.pt predictions (averaged with the mirrored crop), "
                                                     "made on the same augmented face at the teacher's own input size")
    parser.add_argument("--teacher-probs", type=Path, help="also learn these cached per-photo probabilities (export.teacher); "
                                                           "a photo they do not cover learns its label alone")
    parser.add_argument("--distill-weight", type=float, default=0.5, help="share of the loss from the teacher")
    parser.add_argument("--teacher-embeddings", type=Path, help="also learn these cached face embeddings (export.embeddings)")
    parser.add_argument("--embedding-weight", type=float, default=0.5, help="weight of the embedding loss, added to the rest")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="data loader processes")
    parser.add_argument("--leave-out-fold", metavar="I/N", help="train without the training people of fold I of N "
                                                                 "(export.data.person_folds), to answer for them in export.teacher")
    parser.add_argument("--age-weight", action="append", default=[], metavar="BIN=FACTOR",
                        help="draw this age bin's photos FACTOR times as often within each source, e.g. 10-19=2 (repeatable)")
    parser.add_argument("--no-children", action="store_true", help="leave photos of ages 0-9 out of training (validation keeps them)")
    parser.add_argument("--train-limit", type=int, help="train on this many random training photos (quick runs)")
    parser.add_argument("--val-limit", type=int, help="validate on this many random validation photos (quick runs)")
    parser.add_argument("--max-steps", type=int, help="stop each epoch after this many steps (smoke test)")
    parser.add_argument("--resume", action="store_true", help="go on from <out>/last.pt, if there is one (same arguments)")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps between writes of <out>/last.pt")
    args = parser.parse_args(argv)
    if args.teacher and args.teacher_probs:
        parser.error("--teacher and --teacher-probs: choose one teacher")
    if args.leave_out_fold:
        fold = re.fullmatch(r"(\d+)/(\d+)", args.leave_out_fold)
        if not fold or int(fold[1]) >= int(fold[2]):
            parser.error("--leave-out-fold takes I/N with 0 <= I < N, e.g. 0/2")
    args.age_factors = {}
    for item in args.age_weight:
        bin_, _, factor = item.rpartition("=")
        if bin_ not in AGE_BINS or not re.fullmatch(r"\d+(\.\d+)?", factor) or float(factor) <= 0:
            parser.error(f"--age-weight takes BIN=FACTOR with BIN one of {', '.join(AGE_BINS)} and FACTOR > 0, not {item!r}")
        args.age_factors[bin_] = float(factor)
    unknown = set(args.sources.split(",")) - set(SOURCES)
    if unknown:
        parser.error(f"--sources: unknown {', '.join(sorted(unknown))}")
    return args


def training_photos(args: argparse.Namespace) -> tuple[list[Sample], list[Sample], dict]:
    """Training photos, validation photos with a detected face, and every photo's box."""
    samples = load_samples(args.data, tuple(args.sources.split(",")))
    boxes, detected = training_boxes(samples, detect_all(args.data, samples, args.cache))
    train_samples, val_samples = split(samples)
    val_samples = [s for s in val_samples if detected[s.path]]
    rng = random.Random(args.seed)
    if args.no_children:
        train_samples = [s for s in train_samples if s.age_bin not in CHILD_BINS]
    if args.leave_out_fold:
        left_out, folds = (int(n) for n in args.leave_out_fold.split("/"))
        in_fold = person_folds(people_of(train_samples), folds) == left_out
        train_samples = [s for s, out in zip(train_samples, in_fold) if not out]
    if args.train_limit:
        train_samples = rng.sample(train_samples, min(args.train_limit, len(train_samples)))
    if args.val_limit:
        val_samples = rng.sample(val_samples, min(args.val_limit, len(val_samples)))
    print(f"train {len(train_samples)} photos ({sum(not detected[s.path] for s in train_samples)} with the fallback box), "
          f"validate {len(val_samples)} faces", flush=True)
    return train_samples, val_samples, boxes


class Targets:
    """What each training photo is taught besides its label: cached teacher probabilities and
    dlib embeddings (export.teacher, export.embeddings), each optional."""

    def __init__(self, args: argparse.Namespace, train_samples: list[Sample]):
        self.probabilities = self.embeddings = None
        if args.teacher_probs:
            cached = json.loads(args.teacher_probs.read_text())["male_probability"]
            male = torch.tensor([cached.get(s.path, float(s.gender == "male")) for s in train_samples], dtype=torch.float32)
            self.probabilities = torch.stack([1 - male, male], 1)  # in LABELS' order
        if args.teacher_embeddings:
            cached_embeddings = np.load(args.teacher_embeddings)
            self.embeddings = nn.functional.normalize(torch.tensor(np.stack(
                [cached_embeddings[embedding_photo(s)] for s in train_samples])), dim=1)


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, min(100, total_steps // 10))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)


def epoch_draw(weights: np.ndarray, seed: int, epoch: int) -> list[int]:
    """The photos of one epoch, drawn with replacement by weight; the same for the same seed and epoch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.multinomial(torch.as_tensor(weights), len(weights), replacement=True, generator=generator).tolist()


def save_atomically(state: dict, path: Path) -> None:
    """A cut while writing leaves the previous file whole."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(path)


def train_epoch(model: nn.Module, loader: DataLoader, steps: range, optimizer, scheduler, args: argparse.Namespace,
                targets: Targets, teacher: nn.Module | None, embedding_head: nn.Module | None, epoch: int, checkpoint) -> None:
    """Steps `steps` of an epoch (the loader starts at the first of them); checkpoint(step) after
    every --checkpoint-every'th."""
    model.train()
    started, running, loss_fn = time.time(), 0.0, nn.CrossEntropyLoss()
    for step, (index, x, *teacher_x, y) in zip(steps, loader):
        x = x.contiguous(memory_format=torch.channels_last)
        pooled = model.pooled_features(x)
        logits = model.classifier(pooled)
        loss = loss_fn(logits, y)
        if teacher:
            with torch.no_grad():
                seen = teacher_x[0].contiguous(memory_format=torch.channels_last) if teacher_x else x
                taught = (teacher(seen) + teacher(seen.flip(3))) / 2
            loss = (1 - args.distill_weight) * loss + args.distill_weight * distillation_loss(logits, taught)
        elif targets.probabilities is not None:
            loss = (1 - args.distill_weight) * loss + args.distill_weight * soft_target_loss(logits, targets.probabilities[index])
        if embedding_head is not None:
            similarity = nn.functional.cosine_similarity(embedding_head(pooled), targets.embeddings[index], dim=1)
            loss = loss + args.embedding_weight * (1 - similarity).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        running += loss.item()
        if (step + 1) % 50 == 0:
            print(f"  epoch {epoch} step {step + 1}/{steps.stop} loss {running / 50:.4f} ({time.time() - started:.0f} s)", flush=True)
            running = 0.0
        if (step + 1) % args.checkpoint_every == 0 and step + 1 < steps.stop:
            checkpoint(step + 1)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.time()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    spec = make_spec(args.input_size, args.margin)
    train_samples, val_samples, boxes = training_photos(args)
    start = initial_checkpoint(args.init, args.data, train_samples, boxes) if args.init else None
    teacher_checkpoint = torch.load(args.teacher) if args.teacher else None
    # convolutions and a global pool carry over to another input size; another crop margin does not
    for flag, checkpoint in (("--init", start), ("--teacher", teacher_checkpoint)):
        if checkpoint and ModelSpec.from_json(checkpoint["spec"]).margin != spec.margin:
            raise SystemExit(f"{flag} was trained with another crop margin")
    teacher = load_model(teacher_checkpoint).eval() if teacher_checkpoint else None
    teacher_spec = ModelSpec.from_json(teacher_checkpoint["spec"]) if teacher_checkpoint else None
    # a continued run numbers its epochs after all the runs before it: fresh augmentations and batch order
    first_epoch = epochs_trained(start["info"]) if start else 0
    # a teacher of the student's size sees the student's own input: no second crop
    train_set = FaceCrops(args.data, train_samples, boxes, spec, LABELS, augment_seed=args.seed,
                          teacher_spec=teacher_spec if teacher_spec != spec else None)
    val_set = FaceCrops(args.data, val_samples, boxes, spec, LABELS)
    val_targets = torch.tensor(val_set.targets)
    targets = Targets(args, train_samples)
    embedding_head = nn.Linear(1280, targets.embeddings.shape[1]) if targets.embeddings is not None else None

    model = load_model(start) if start else gender_mobilenet_v2(len(LABELS)).to(memory_format=torch.channels_last)
    trained = list(model.parameters()) + (list(embedding_head.parameters()) if embedding_head else [])
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=args.weight_decay)
    weights = balancing_weights(train_samples, args.age_factors)
    steps_per_epoch = min(len(train_samples) // args.batch_size, args.max_steps or len(train_samples))
    scheduler = cosine_schedule(optimizer, args.epochs * steps_per_epoch)
    args.out.mkdir(parents=True, exist_ok=True)
    log, best, info, done, first_step = [], None, None, 0, 0
    last = args.out / "last.pt"
    if args.resume and last.exists():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if embedding_head is not None:
            embedding_head.load_state_dict(state["embedding_head"])
        torch.set_rng_state(state["rng"])
        log, best, info, done, first_step = state["log"], state["best"], state["info"], state["epoch"], state["step"]
        print(f"resuming at epoch {done + 1}, step {first_step}", flush=True)

    def checkpoint(epoch: int, step: int) -> None:
        save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                         "embedding_head": embedding_head.state_dict() if embedding_head is not None else None,
                         "rng": torch.get_rng_state(), "log": log, "best": best, "info": info, "epoch": epoch, "step": step},
                        last)

    for epoch in range(done, args.epochs):
        train_set.epoch = first_epoch + epoch
        epoch_start = time.time()
        draw = epoch_draw(weights, args.seed, first_epoch + epoch)[first_step * args.batch_size:]
        # its own generator: the workers' seeds are not drawn from the global one, which a resume restores
        loader = DataLoader(Numbered(train_set), batch_size=args.batch_size, sampler=draw, drop_last=True,
                            num_workers=args.workers, persistent_workers=False, generator=torch.Generator().manual_seed(args.seed),
                            multiprocessing_context="spawn" if args.workers else None)  # see data.detect_all
        train_epoch(model, loader, range(first_step, steps_per_epoch), optimizer, scheduler, args, targets, teacher,
                    embedding_head, epoch + 1, lambda step, epoch=epoch: checkpoint(epoch, step))
        first_step = 0
        logits = logits_of(model, val_set)
        result = validate(logits, val_targets, val_samples)
        log.append({"epoch": epoch + 1, "train_seconds": round(time.time() - epoch_start), "validation": result})
        print(f"epoch {epoch + 1}: selection score {result['selection_score']}, all {json.dumps(result['all'])} "
              f"({time.time() - epoch_start:.0f} s)", flush=True)
        if best is None or result["selection_score"] >= best["validation"]["selection_score"]:
            best = {"epoch": epoch + 1, "validation": result}
            # written at every new best, so a run cut off keeps what it reached
            info = save_checkpoint(args.out, model, spec, logits, val_targets, {
                "name": "gender-mobilenet-v2" + ("" if "utkface" in args.sources else "-lfw"),
                "architecture": f"MobileNetV2 (torchvision layout, ImageNet init), {args.input_size}x{args.input_size} input",
                "trained_on": " + ".join(args.sources.split(",")),
                "validation": result,
                "validation_photos_sha256": photos_sha256(val_samples),
                "training": {**{k: str(v) for k, v in vars(args).items()}, "epochs": str(epoch + 1),
                             "best_epoch": epoch + 1, "wall_seconds": round(time.time() - started)},
                **({"continues": start["info"]} if start else {}),
            })
        (args.out / "log.json").write_text(json.dumps({"epochs": log, "info": info}, indent=1))
        checkpoint(epoch + 1, 0)

    print(f"best epoch {best['epoch']}, temperature {info['temperature']}, ECE {info['metrics']['ece_percent']}, "
          f"wall {round(time.time() - started)} s")
    return info


if __name__ == "__main__":
    main()
