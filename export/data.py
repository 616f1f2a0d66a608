"""Training data: labelled photos, serving-detector boxes (cached), splits, augmented crops."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from statistics import median

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from function.boxes import Box
from function.detectors import reference_boxes
from function.inference import LABELS
from function.preprocess import ModelSpec, crop_face, to_input

TIGHT_CROP_PAD = 0.25  # tight face crops get a grey border of 25% per side that stands in for a photo around the face
PAD_GREY = (128, 128, 128)
VALIDATION_SHARE = 0.15
SPLIT_SEED = 0  # the held-apart people that train, evaluate, quantize and the yardstick all mean; no option moves them
MAX_VALIDATION_PHOTOS = 30  # people with more photos stay in training so no one person dominates validation
FIXTURE_PEOPLE = {"Heidi_Klum", "Noelle_Bush", "Queen_Rania", "Dion_Glover", "Lleyton_Hewitt", "Paul_Greengrass"}
PEOPLE_DIR = Path(__file__).with_name("people")  # <source>.csv: photo -> person, as export.identities found them
AGE_BINS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")  # FairFace's
CHILD_BINS = AGE_BINS[:2]  # under 10
LABEL_AUDIT = Path(__file__).with_name("label-audit.csv")
# FairFace's training photos are too large for the shared data: docs/training.md says how to place them here.
FAIRFACE_TRAIN_PHOTOS = Path(os.environ.get("FAIRFACE_TRAIN_PHOTOS", Path(__file__).resolve().parents[1] / "runs" / "fairface-train"))


@dataclass(frozen=True)
class Source:
    """One labelled photo collection under the data root."""

    name: str
    tight_crops: bool  # faces fill the photo: detect on a bordered copy
    photo_size: tuple[int, int]  # nominal: where the labelled face's centre is looked for
    has_identities: bool  # labels.csv names each photo's person; otherwise export.identities finds them
    photos: Path | None = None  # where its photos lie when not beside its labels.csv
    people_with: tuple[str, ...] = ()  # sources sharing people with it: export.identities finds people over them together
    # Aligned face chips put every face in one place: the reference detector looks at this many of
    # them (a fixed draw) and the rest take the median of its boxes, at a fraction of the cost.
    detect_sample: int | None = None


SOURCES = {
    "lfw": Source("lfw", False, (250, 250), True),
    "utkface": Source("utkface", True, (200, 200), False),
    "fairface": Source("fairface", True, (224, 224), False),
    "allage": Source("allage", True, (160, 200), False),
    "fairface-train": Source("fairface-train", True, (224, 224), False, photos=FAIRFACE_TRAIN_PHOTOS,
                             people_with=("fairface",), detect_sample=1000),
}
LFW_VARIANT_SIZES = {"deepfunneled": (250, 250), "original150": (150, 150)}


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the data root
    source: str  # lfw-deepfunneled, lfw-original150, utkface, fairface or allage
    gender: str
    person: str = ""  # from the source's labels (LFW); "" where export.identities finds people
    age: int = -1  # in years, where the source says (UTKFace, All-Age-Faces)
    age_bin: str = ""  # one of AGE_BINS; "" where unknown (LFW)
    race: str = ""

    @property
    def origin(self) -> Source:
        return SOURCES.get(self.source) or SOURCES[self.source.split("-")[0]]  # lfw-<variant> is LFW

    @property
    def photo_size(self) -> tuple[int, int]:
        return LFW_VARIANT_SIZES[self.source.split("-")[1]] if self.source.startswith("lfw-") else self.origin.photo_size


def age_bin(age: int) -> str:
    """A year of age as FairFace's bin, so every source balances and reports on the same ages."""
    for label in AGE_BINS[:-1]:
        low, high = (int(v) for v in label.split("-"))
        if low <= age <= high:
            return label
    return AGE_BINS[-1]


def _rows(data: Path, source: str) -> list[dict]:
    labels = data / source / "labels.csv"
    if not labels.exists():
        return []
    with open(labels) as f:
        return list(csv.DictReader(f))


def photo_file(data: Path, path: str) -> Path:
    """The file of a photo named by its path under the data root (<source>/...), wherever its source keeps it."""
    source, inside = path.split("/", 1)
    photos = SOURCES[source].photos
    return photos / inside if photos else data / path


class MissingPhotos(SystemExit):
    """A source lists photos that are not where it keeps them."""


def _check_photos(source: str, rows: list[dict]) -> None:
    folder = SOURCES[source].photos
    missing = [row["path"] for row in rows if not (folder / row["path"]).is_file()]
    if missing:
        raise MissingPhotos(f"{source}: {len(missing)} of the {len(rows)} photos its labels.csv lists are not under {folder} "
                            f"(first: {missing[0]}). docs/training.md says how to get them; FAIRFACE_TRAIN_PHOTOS names "
                            f"another folder holding train/N.jpg; or leave the source out with --sources.")


def load_samples(data: Path, sources: tuple[str, ...] | None = None) -> list[Sample]:
    """Every labelled photo of these sources under the data root. A source kept apart from its
    labels (SOURCES[...].photos) must have every photo there when named; by default (None, every
    source) one whose photos are absent is left out, with a line saying so."""
    samples = []
    for source in sources or tuple(SOURCES):
        rows = _rows(data, source)
        if rows and SOURCES[source].photos:
            try:
                _check_photos(source, rows)
            except MissingPhotos as missing:
                if sources:
                    raise
                print(f"left out: {missing}", flush=True)
                continue
        for row in rows:
            path = f"{source}/{row['path']}"
            if source == "lfw":
                samples.append(Sample(path, f"lfw-{row['variant']}", row["gender"], person=row["person"]))
            else:
                age = -1 if source.startswith("fairface") else int(row["age"])  # FairFace gives bins only
                samples.append(Sample(path, source, row["gender"], age=age, age_bin=row["age"] if age < 0 else age_bin(age),
                                      race=row.get("race", "")))
    return samples


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def bordered(image: Image.Image) -> tuple[Image.Image, int]:
    """A tight face crop on a grey border that stands in for the rest of a photo, and the border's width."""
    pad = round(TIGHT_CROP_PAD * max(image.size))
    return ImageOps.expand(image, border=pad, fill=PAD_GREY), pad


def _detect(args: tuple[str, str, bool]) -> tuple[str, list[list[int]]]:
    """All boxes the serving detector (default settings) finds, in the photo's own pixels."""
    root, rel, tight = args
    file = photo_file(Path(root), rel)
    image, pad = bordered(open_rgb(file)) if tight else (open_rgb(file), 0)
    boxes = reference_boxes(image)
    return rel, [[b.left - pad, b.top - pad, b.right - pad, b.bottom - pad] for b in boxes]


def to_detect(samples: list[Sample]) -> list[Sample]:
    """The photos the detector looks at: all, but for sources of aligned chips a fixed draw (Source.detect_sample)."""
    chosen = []
    for source in dict.fromkeys(s.source for s in samples):
        photos = [s for s in samples if s.source == source]  # in labels.csv's order
        sample = SOURCES[source].detect_sample if source in SOURCES else None
        chosen += random.Random(f"{SPLIT_SEED}-{source}").sample(photos, sample) if sample and len(photos) > sample else photos
    return chosen


def detect_all(data: Path, samples: list[Sample], cache: Path, processes: int = 2) -> dict[str, list[list[int]]]:
    """Boxes per photo, detected once and cached as JSON; a rerun detects only what is missing.
    Photos of aligned chips outside their source's draw are not detected (to_detect)."""
    found = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [(str(data), s.path, s.origin.tight_crops) for s in to_detect(samples) if s.path not in found]
    if todo:
        print(f"detecting faces in {len(todo)} photos with {processes} processes", flush=True)
        # spawn, not fork: a forked child inherits the locks of the parent's detection threads
        # (held or not) and can wait on them forever.
        with get_context("spawn").Pool(processes) as pool:
            for i, (rel, boxes) in enumerate(pool.imap_unordered(_detect, todo, chunksize=16), 1):
                found[rel] = boxes
                if i % 2000 == 0 or i == len(todo):
                    print(f"  {i}/{len(todo)}", flush=True)
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    cache.write_text(json.dumps(found))
    return found


def face_box(boxes: list[list[int]], size: tuple[int, int]) -> Box | None:
    """The labelled face of a photo: the detected box whose centre is nearest the photo's centre
    (LFW and UTKFace centre the labelled person; other faces are bystanders)."""
    if not boxes:
        return None
    cx, cy = size[0] / 2, size[1] / 2
    return Box(*min(boxes, key=lambda b: ((b[0] + b[2]) / 2 - cx) ** 2 + ((b[1] + b[3]) / 2 - cy) ** 2))


def fallback_boxes(samples: list[Sample], found: dict[str, list[list[int]]]) -> dict[str, Box]:
    """Per source, the median detected box: where its centred faces usually are."""
    result = {}
    for source in sorted({s.source for s in samples}):
        boxes = [face_box(found[s.path], s.photo_size) for s in samples if s.source == source and found.get(s.path)]
        result[source] = Box(*(round(median(getattr(b, k) for b in boxes)) for k in ("left", "top", "right", "bottom")))
    return result


def audited_genders(audit: Path = LABEL_AUDIT) -> dict[str, str]:
    """Validation photos whose published gender a blind look at the photo found wrong: path -> gender.

    label-audit.csv records every look (validation faces aged 10+ the model disagreed with, and a
    random control of faces it agreed with), called female, male or unsure without the label or
    the model's answer in view; only sure calls that differ from the published label count.
    """
    with open(audit) as f:
        return {row["path"]: row["audited"] for row in csv.DictReader(f)
                if row["audited"] in LABELS and row["audited"] != row["published"]}


def identities(source: str) -> dict[str, str]:
    """Photo -> person of a source without names, as export.identities found them (a photo it
    does not list is a person of its own)."""
    path = PEOPLE_DIR / f"{source}.csv"
    if not path.exists():
        return {}
    with open(path) as f:
        return {row["path"]: row["identity"] for row in csv.DictReader(f)}


def photos_sha256(samples: list[Sample]) -> str:
    """A fingerprint of which photos these are, for a run's record of what it validated on."""
    return hashlib.sha256("\n".join(sorted(s.path for s in samples)).encode()).hexdigest()


def _photos_by_person(samples: list[Sample], source: str) -> dict[str, list[Sample]]:
    person = identities(source)
    result: dict[str, list[Sample]] = {}
    for s in samples:
        if s.source == source:
            result.setdefault(person.get(s.path, s.path), []).append(s)
    return result


def _lfw_validation(samples: list[Sample], rng: random.Random) -> set[str]:
    photos_per_person: dict[str, int] = {}
    for s in samples:
        if s.source == "lfw-deepfunneled":
            photos_per_person[s.person] = photos_per_person.get(s.person, 0) + 1
    eligible = sorted(p for p, n in photos_per_person.items() if n <= MAX_VALIDATION_PHOTOS and p not in FIXTURE_PEOPLE)
    people = set(rng.sample(eligible, round(VALIDATION_SHARE * len(photos_per_person))))
    return {s.path for s in samples if s.person in people}


def _utkface_validation(samples: list[Sample], rng: random.Random) -> set[str]:
    photos_of = _photos_by_person(samples, "utkface")
    people = sorted(p for p, photos in photos_of.items() if len(photos) <= MAX_VALIDATION_PHOTOS)
    rng.shuffle(people)
    chosen: set[str] = set()
    wanted = VALIDATION_SHARE * sum(len(photos) for photos in photos_of.values())
    for person in people:
        if len(chosen) >= wanted:
            break
        chosen.update(s.path for s in photos_of[person])
    return chosen


def _stratified_validation(samples: list[Sample], source: str) -> set[str]:
    """Whole people, drawn until each age bin x gender cell (of a person's first photo) has its share."""
    cells: dict[tuple[str, str], list[list[Sample]]] = {}
    for photos in _photos_by_person(samples, source).values():
        if len(photos) <= MAX_VALIDATION_PHOTOS:
            cells.setdefault((photos[0].age_bin, photos[0].gender), []).append(photos)
    rng = random.Random(f"{SPLIT_SEED}-{source}")
    chosen: set[str] = set()
    for cell in sorted(cells):
        people = sorted(cells[cell], key=lambda photos: photos[0].path)
        rng.shuffle(people)
        wanted, taken = VALIDATION_SHARE * sum(len(photos) for photos in people), 0
        for photos in people:
            if taken + len(photos) / 2 > wanted:  # the share, to the nearest person
                break
            chosen.update(s.path for s in photos)
            taken += len(photos)
    return chosen


def split(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """By person, always the same: LFW by its names (both variants of a person on the same side),
    the other sources by the people export.identities found, FairFace and All-Age-Faces within
    each age bin x gender cell. People with many photos stay in training."""
    rng = random.Random(SPLIT_SEED)  # LFW's draw, then UTKFace's: the order that made 2.1.0's split
    validation = _lfw_validation(samples, rng) | _utkface_validation(samples, rng)
    for source in ("fairface", "allage"):
        validation |= _stratified_validation(samples, source)
    held = _held_with_validation_people(samples, validation)
    return [s for s in samples if s.path not in validation | held], [s for s in samples if s.path in validation]


def _held_with_validation_people(samples: list[Sample], validation: set[str]) -> set[str]:
    """Photos of a source that shares people with others (Source.people_with) whose person, found
    over them together, has a validation photo. They stay out of training, and out of validation
    too, so that validation and its figures stay the photos they were."""
    held: set[str] = set()
    for source in {s.source for s in samples if s.source in SOURCES and SOURCES[s.source].people_with}:
        person = identities(source)
        seen = {person[path] for path in validation if path in person}
        held |= {s.path for s in samples if s.source == source and person.get(s.path, s.path) in seen}
    return held


def people_of(samples: list[Sample]) -> list[str]:
    """Who each photo shows: LFW's name, or the person export.identities found in its source."""
    found = {source: identities(source) for source, table in SOURCES.items() if not table.has_identities}
    return [s.person or f"{s.source}:" + found[s.source].get(s.path, s.path) for s in samples]


def person_folds(people: list[str], folds: int) -> np.ndarray:
    """Fold number of each row; a person's rows share a fold, the same one in every run."""
    fold_of = {p: i % folds for i, p in enumerate(np.random.default_rng(0).permutation(sorted(set(people))))}
    return np.array([fold_of[p] for p in people])


def balancing_weights(samples: list[Sample], age_factors: dict[str, float] | None = None) -> np.ndarray:
    """Sampling weights: within each (source, age bin), women and men weigh the same, so neither
    old nor young comes to mean one gender; each age bin keeps its share of its source, times
    its factor in age_factors if it has one; each source weighs as the square root of its size,
    so the small ones count without being repeated many times an epoch. LFW's two versions are
    one source."""
    age_factors = age_factors or {}
    cells = [(s.origin.name, s.age_bin, s.gender) for s in samples]
    cell_counts = Counter(cells)
    bin_counts = Counter(cell[:2] for cell in cells)
    source_counts = Counter(cell[0] for cell in cells)
    genders_in_bin = Counter(cell[:2] for cell in cell_counts)
    weights = np.array([np.sqrt(source_counts[source]) * bin_counts[source, bin_] / source_counts[source]
                        * age_factors.get(bin_, 1.0)
                        / (genders_in_bin[source, bin_] * cell_counts[source, bin_, gender]) for source, bin_, gender in cells])
    return weights * len(weights) / weights.sum()


def jittered(box: Box, rng: random.Random) -> Box:
    """The box moved and resized the way a detector's boxes wobble between photos of a face."""
    w, h = box.width, box.height
    cx = (box.left + box.right) / 2 + rng.gauss(0, 0.05) * w
    cy = (box.top + box.bottom) / 2 + rng.gauss(0, 0.05) * h
    scale = np.exp(rng.gauss(0, 0.08))
    half_w, half_h = w * scale / 2 * np.exp(rng.gauss(0, 0.03)), h * scale / 2
    return Box(round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))


def augment(crop: Image.Image, rng: random.Random) -> Image.Image:
    """What the service meets: mirrored faces, lighting (dim rooms, gamma, webcam colour casts),
    grey photos, sensor noise, blur, JPEG, small faces."""
    from PIL import ImageEnhance

    size = crop.size
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    if rng.random() < 0.25:
        low = rng.randint(20, 56)
        crop = crop.resize((low, low), Image.BILINEAR).resize(size, Image.BILINEAR)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        if rng.random() < 0.8:
            crop = enhancer(crop).enhance(rng.uniform(0.6, 1.4))
    pixels = np.asarray(crop, np.float32)
    if rng.random() < 0.3:
        pixels = 255 * (pixels / 255) ** rng.uniform(0.6, 1.7)
    if rng.random() < 0.15:  # a dim room
        pixels = pixels * rng.uniform(0.25, 0.6)
    if rng.random() < 0.3:  # a webcam's white balance: each channel scaled a little
        pixels = pixels * np.array([rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
    if rng.random() < 0.2:  # sensor noise
        pixels = pixels + np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(2, 10), pixels.shape)
    crop = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.1:
        crop = ImageOps.grayscale(crop).convert("RGB")
    if rng.random() < 0.2:
        crop = crop.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=rng.randint(30, 90))
        crop = open_rgb(buffer)
    return crop


class FaceCrops:
    """Crops of one face per photo, cut by the serving code (function.preprocess), as model input.

    With augment_seed set, each crop is jittered and augmented reproducibly from (seed, epoch, index).
    With teacher_spec set, each item also carries the same face, jittered and augmented alike,
    at the teacher's input size: (input, teacher_input, target).
    """

    def __init__(self, data: Path, samples: list[Sample], boxes: dict[str, Box], spec: ModelSpec, labels: tuple[str, ...],
                 augment_seed: int | None = None, teacher_spec: ModelSpec | None = None):
        self.data, self.samples, self.boxes, self.spec, self.teacher_spec = data, samples, boxes, spec, teacher_spec
        self.targets = [labels.index(s.gender) for s in samples]
        self.augment_seed, self.epoch = augment_seed, 0

    def __len__(self) -> int:
        return len(self.samples)

    def crop(self, index: int) -> Image.Image:
        return self.crops(index, (self.spec,))[0]

    def crops(self, index: int, specs: tuple[ModelSpec, ...]) -> list[Image.Image]:
        """The face cut at each spec's size from one decode of its photo, jittered and augmented alike."""
        sample = self.samples[index]
        image = open_rgb(photo_file(self.data, sample.path))
        box = self.boxes[sample.path]
        if self.augment_seed is None:
            return [crop_face(image, box, spec) for spec in specs]
        cut = []
        for spec in specs:
            rng = random.Random(f"{self.augment_seed}-{self.epoch}-{index}")
            cut.append(augment(crop_face(image, jittered(box, rng), spec), rng))
        return cut

    def __getitem__(self, index: int) -> tuple:
        specs = (self.spec, self.teacher_spec) if self.teacher_spec else (self.spec,)
        inputs = [to_input([crop], spec)[0] for crop, spec in zip(self.crops(index, specs), specs)]
        return (*inputs, self.targets[index])


def training_boxes(samples: list[Sample], found: dict[str, list[list[int]]]) -> tuple[dict[str, Box], dict[str, bool]]:
    """One box per photo (the median box of its source where the detector found none) and whether it was detected."""
    fallback = fallback_boxes(samples, found)
    boxes, detected = {}, {}
    for s in samples:
        box = face_box(found.get(s.path, []), s.photo_size)
        boxes[s.path], detected[s.path] = box or fallback[s.source], box is not None
    return boxes, detected
