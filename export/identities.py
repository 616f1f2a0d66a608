"""Who is who in a source without identity labels (UTKFace, FairFace, All-Age-Faces): photos
whose dlib face embeddings lie closer than a threshold, each among the other's few nearest
neighbours, are linked, and each connected group is taken as one person. The threshold was
chosen on LFW, whose identities are known (--lfw-table prints the evidence). Writes
export/people/<source>.csv, which export.data.split reads to keep every person on one side.
A source that shares people with others (Source.people_with) is grouped together with their
validation photos (whose people must not be trained on): its file lists those photos too.

    python -m export.identities --data ../shared/data --source fairface
    python -m export.identities --data ../shared/data --source fairface-train   # with ../fairface
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import numpy as np

from export.data import PEOPLE_DIR, SOURCES, detect_all, load_samples, split, training_boxes
from export.embeddings import embed_all

EMBEDDINGS_CACHE = Path("runs/cache/embeddings.npz")
CANDIDATE_THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
LFW_PROBE_PHOTOS = 2000


def mutual_neighbour_pairs(embeddings: np.ndarray, threshold: float, k: int, chunk: int = 1000) -> list[tuple[int, int]]:
    """Pairs closer than the threshold where each is among the other's k nearest neighbours.
    The neighbour condition stops chains: under the threshold alone, near-misses between
    strangers join thousands of UTKFace photos into one group."""
    squared = (embeddings ** 2).sum(1)
    neighbours, distance = [], {}
    for start in range(0, len(embeddings), chunk):
        block = np.maximum(0, squared[start:start + chunk, None] + squared[None, :] - 2 * embeddings[start:start + chunk] @ embeddings.T)
        block[np.arange(len(block)), start + np.arange(len(block))] = np.inf
        nearest = np.argpartition(block, k, axis=1)[:, :k]
        for row, cols in enumerate(nearest):
            neighbours.append(set(cols.tolist()))
            distance.update(((start + row, c), np.sqrt(block[row, c])) for c in cols)
    return sorted((i, j) for i, near in enumerate(neighbours) for j in near
                  if i < j and i in neighbours[j] and distance[i, j] < threshold)


def connected_groups(count: int, pairs: list[tuple[int, int]]) -> list[int]:
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    roots = [root(i) for i in range(count)]
    numbering = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return [numbering[r] for r in roots]


def threshold_table(embeddings: np.ndarray, people: list[str]) -> list[tuple[float, float, float]]:
    """Per candidate threshold: the share of same-person pairs linked and of different-person pairs linked, in percent."""
    distances = np.sqrt(np.maximum(0, ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1)))
    same = np.array(people)[:, None] == np.array(people)[None]
    upper = np.triu(np.ones_like(same), 1)
    rows = []
    for t in CANDIDATE_THRESHOLDS:
        linked = distances < t
        rows.append((t, 100 * linked[same & upper].mean(), 100 * linked[~same & upper].mean()))
    return rows


def print_lfw_table(data: Path, samples: list, boxes: dict) -> None:
    """Per candidate threshold, how many of LFW's same-person and different-person pairs it links."""
    by_person: dict[str, list] = {}
    for s in samples:
        if s.source == "lfw-deepfunneled":
            by_person.setdefault(s.person, []).append(s)
    probe = [s for p in sorted(by_person) if len(by_person[p]) > 1 for s in by_person[p][:4]]
    probe = random.Random(0).sample(probe, min(LFW_PROBE_PHOTOS, len(probe)))
    embeddings = embed_all(data, probe, boxes, EMBEDDINGS_CACHE)
    print(f"LFW, {len(probe)} photos of people with several: threshold, same-person pairs linked %, different-person pairs linked %")
    for t, same, different in threshold_table(np.stack([embeddings[s.path] for s in probe]), [s.person for s in probe]):
        print(f"  {t:.2f}  {same:.2f}  {different:.4f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--source", default="utkface", choices=[n for n, s in SOURCES.items() if not s.has_identities])
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--neighbours", type=int, default=3, help="a link also needs each photo among the other's nearest")
    parser.add_argument("--cache", type=Path, default=Path("runs/cache/boxes.json"))
    parser.add_argument("--lfw-table", action="store_true", help="also print how each threshold links LFW's known people")
    args = parser.parse_args(argv)

    together = (*SOURCES[args.source].people_with, args.source)
    samples = load_samples(args.data, ("lfw", *together) if args.lfw_table else together)
    boxes, _ = training_boxes(samples, detect_all(args.data, samples, args.cache))
    if args.lfw_table:
        print_lfw_table(args.data, samples, boxes)
    # of the sources it shares people with, only their validation photos: the question is whose photos must stay out of training
    _, validation = split([s for s in samples if s.source in together])
    photos = [s for s in samples if s.source == args.source] + [s for s in validation if s.source != args.source]
    embeddings = embed_all(args.data, photos, boxes, EMBEDDINGS_CACHE)
    pairs = mutual_neighbour_pairs(np.stack([embeddings[s.path] for s in photos]), args.threshold, args.neighbours)
    groups = connected_groups(len(photos), pairs)
    sizes = np.bincount(groups)
    print(f"{args.source}, linked under {args.threshold} when mutual {args.neighbours} nearest neighbours: {len(photos)} photos, "
          f"{len(sizes)} people, {int((sizes > 1).sum())} with several photos ({int(sizes[sizes > 1].sum())} photos), "
          f"largest {int(sizes.max())}")
    PEOPLE_DIR.mkdir(exist_ok=True)
    with open(PEOPLE_DIR / f"{args.source}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "identity"])
        writer.writerows((s.path, g) for s, g in zip(photos, groups))


if __name__ == "__main__":
    main()
