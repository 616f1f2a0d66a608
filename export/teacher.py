"""The distillation teacher: per photo, the probability that its labelled face is a man's,
from two models that learned faces in different ways, cached for export.train --teacher-probs.

    python -m export.teacher --data ../shared/data --model-share 0    # the regression alone, all four sources (3.2.0's)
    python -m export.teacher --data ../shared/data --model-share 0 --sources lfw,utkface    # 2.0.0's and 2.1.0's
    python -m export.teacher --data ../shared/data --model-share 0 --pool-named-people    # pooled per LFW person

- A logistic regression on dlib's face-recognition embeddings (export.embeddings: a ResNet
  trained on ~3 million faces, never on gender), fitted on the training split with each
  source's women and men weighted equally. A training photo gets the prediction of a fit
  that never saw its person (5 folds by person), so the teacher does not just repeat labels.
- An ONNX model of ours that no validation person was trained on (by default the LFW-only
  model), averaged with its mirrored crop. Given N models, where model i was trained without
  fold i of N (export.train --leave-out-fold i/N), each photo gets the model that never saw its
  person, so this half is out of fold too:

    python -m export.teacher --data ../shared/data --model runs/fold0.onnx runs/fold1.onnx --out export/teacher-ensemble.json

  export/teacher-ensemble.json is committed, made so (EXPERIMENTS.md, 2026-12-03 night): its two
  students by fold take ~50 min on 2 cores, and a session that starts from nothing cannot also
  fit its own student after them.

The teacher is their weighted mean (--model-share; 0 leaves the regression alone). With
--pool-named-people, each photo of a person known by name (LFW) gets the mean over that
person's photos: one person has one gender, and their other photos outvote an odd one.
UTKFace's people, found by clustering, are left apart: a wrong merge would pool two people.
Writes
{training photo: p(male)} as JSON, and prints each part's accuracy on the training photos
(out of fold for the regression).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import ImageOps

from export.data import (SOURCES, FaceCrops, balancing_weights, detect_all, load_samples, people_of, person_folds, split,
                         training_boxes)
from export.embeddings import embed_all, embedding_photo
from export.evaluate import DEFAULT_CACHE, metrics_by_source
from export.identities import EMBEDDINGS_CACHE
from function.inference import LABELS, GenderClassifier
from function.preprocess import to_input

TEACHER_CACHE = Path("runs/cache/teacher.json")
FOLDS = 5
L2_PENALTY = 1e-3


@dataclass(frozen=True)
class Logistic:
    """p(y = 1 | x) = sigmoid(x @ weights + bias), the features' standardisation folded in."""

    weights: np.ndarray
    bias: float

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(features @ self.weights + self.bias)))


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, penalty: float = L2_PENALTY) -> Logistic:
    """Weighted L2-penalised logistic regression on standardised features (LBFGS)."""
    mean, std = x.mean(0), x.std(0) + 1e-8
    xt, yt, wt = (torch.tensor(a, dtype=torch.float64) for a in ((x - mean) / std, y, weights))
    w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = xt @ w[:-1] + w[-1]
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none")).mean()
        loss = loss + penalty * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    coefficients = w.detach().numpy()
    folded = coefficients[:-1] / std
    return Logistic(folded, float(coefficients[-1] - mean @ folded))


def out_of_fold(x: np.ndarray, y: np.ndarray, weights: np.ndarray, people: list[str], folds: int = FOLDS) -> np.ndarray:
    """Each row predicted by a fit on the other folds; a person's photos share a fold."""
    fold = person_folds(people, folds)
    result = np.empty(len(y))
    for k in range(folds):
        held = fold == k
        result[held] = fit_logistic(x[~held], y[~held], weights[~held])(x[held])
    return result


def pooled_by_person(probability: np.ndarray, people: list[str]) -> np.ndarray:
    """Each row replaced by the mean over the rows of its person; rows whose person is "" stay as they are."""
    pooled = probability.copy()
    rows_of: dict[str, list[int]] = {}
    for row, person in enumerate(people):
        if person:
            rows_of.setdefault(person, []).append(row)
    for rows in rows_of.values():
        pooled[rows] = probability[rows].mean()
    return pooled


def mirrored_male_probability(classifier: GenderClassifier, crops: FaceCrops, batch_size: int = 64) -> np.ndarray:
    """p(male) of each crop averaged with its mirror image, as the classifier computes it."""
    male = classifier.spec.labels.index("male")
    out = []
    for start in range(0, len(crops), batch_size):
        faces = [crops.crop(i) for i in range(start, min(start + batch_size, len(crops)))]
        both = classifier.probabilities(to_input(faces + [ImageOps.mirror(f) for f in faces], classifier.spec))[:, male]
        out.append((both[:len(faces)] + both[len(faces):]) / 2)
    return np.concatenate(out)


def ours_out_of_fold(models: list[Path], folds: np.ndarray, data: Path, train: list, boxes: dict, threads: int) -> np.ndarray:
    """Each photo's mirror-averaged p(male) from models[its fold]; a single model answers for every photo."""
    result = np.empty(len(train))
    for k, path in enumerate(models):
        classifier = GenderClassifier(path, threads)
        rows = np.flatnonzero(folds == k)
        result[rows] = mirrored_male_probability(classifier, FaceCrops(data, [train[i] for i in rows], boxes, classifier.spec, LABELS))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, nargs="+", default=[Path("function/models/gender-mobilenet-v2-lfw.onnx")],
                        help="our half of the teacher: an ONNX model no validation person was trained on, or N models, "
                             "the i-th trained without fold i of N (export.train --leave-out-fold i/N)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: the sources fitted on and answered for")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="detected boxes (JSON)")
    parser.add_argument("--embeddings", type=Path, default=EMBEDDINGS_CACHE, help="cached face embeddings (.npz)")
    parser.add_argument("--out", type=Path, default=TEACHER_CACHE)
    parser.add_argument("--model-share", type=float, default=0.5, help="our model's share of the teacher (0: the regression alone)")
    parser.add_argument("--pool-named-people", action="store_true", help="average the teacher over each LFW person's photos")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    samples = load_samples(args.data, tuple(args.sources.split(",")))
    boxes, _ = training_boxes(samples, detect_all(args.data, samples, args.cache))
    train, _ = split(samples)
    embeddings = embed_all(args.data, train, boxes, args.embeddings)
    features = np.stack([embeddings[embedding_photo(s)] for s in train])
    targets = np.array([int(s.gender == "male") for s in train])
    weights = balancing_weights(train)
    people = people_of(train)
    regression = out_of_fold(features, targets, weights, people)

    parts = {"embedding regression": regression}
    teacher = regression
    ours = " + ".join(m.stem for m in args.model)
    if args.model_share > 0:
        parts[ours] = ours_out_of_fold(args.model, person_folds(people, len(args.model)), args.data, train, boxes, args.threads)
        teacher = parts["teacher"] = (1 - args.model_share) * regression + args.model_share * parts[ours]
    if args.pool_named_people:
        teacher = parts["teacher, pooled over each LFW person"] = pooled_by_person(teacher, [s.person for s in train])

    print("training photos, accuracy (balanced); the regression is out of fold by person, and so are several --models")
    for name, p in parts.items():
        result = metrics_by_source(targets, (p > 0.5).astype(int), [s.source for s in train], LABELS)
        print(f"  {name}: " + ", ".join(f"{k} {v['accuracy']} ({v['balanced_accuracy']})" for k, v in result.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model_share": args.model_share, "model": [m.name for m in args.model],
                                    "pool_named_people": args.pool_named_people,
                                    "male_probability": {s.path: round(float(p), 5) for s, p in zip(train, teacher)}}))
    print(f"wrote {args.out} ({len(teacher)} photos)")


if __name__ == "__main__":
    main()
