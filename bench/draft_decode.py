"""JPEG draft decoding on phone photos, against the full decode, in the same run.

    nice -n 10 python -m bench.draft_decode [--rounds 4] [--threads 1]

Part 1, the pipeline. The phone scenes of bench/scenes.py (4032x3024, faces of 300-800 px),
the same photos stored a quarter turn round with EXIF orientation 6 (as phones store portrait
shots; the labels stay upright, so recall checks that boxes come back in upright
coordinates), and phone-sized group photos with faces of 100-200 px, whose classifier crops
need the full decode. Each photo goes through FaceGenderPipeline.analyze with draft=False (the
old path) and draft=True in turn, `rounds` times, alternating which goes first. Per stage: mean
ms per photo, old -> new, and the ratio of the sums. Answers: the new path's faces matched to
the old path's (IoU >= 0.5), how many keep their label, the largest difference in P(label).

Part 2, where a small face's crop comes from. LFW faces of 36-89 px on one 4032x3024 photo,
each pasted at most at the size it has in its source photo (so all of its pixels are real
detail). Each face's classifier crop is cut, with the same box, from the full decode and
from the 1/2, 1/4 and 1/8 drafts: label agreement with the full decode and P(female)
differences, by the size of the crop region in the draft, and which decode the rule of
function.pipeline.crop_reductions cuts each from when detection ran on that draft.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import random
import time
from collections import Counter, defaultdict

from PIL import Image

from bench.scenes import Scene, background, benchmark_scenes, crowd, lfw_face_photos, matched, paste_face
from function.boxes import Box, iou
from function.images import UploadedImage
from function.pipeline import Analysis, FaceGenderPipeline, crop_reductions
from function.preprocess import crop_face, to_input
from function.settings import Settings

STAGES = ("decode", "detect", "classify", "total", "cpu")
PHONE_SIZE = (4032, 3024)
EXIF_ORIENTATION = 0x0112
GROUP_FACE_WIDTHS = (100, 200)
SMALL_FACE_WIDTHS = (36, 89)  # 89 px: the narrowest LFW source face, so none is enlarged
DRAFT_REDUCTIONS = (2, 4, 8)


def turned_jpeg(scene: Scene) -> bytes:
    """The scene stored as a phone stores a portrait shot: pixels a quarter turn round, EXIF
    orientation 6 telling the viewer to turn them back."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    buffer = io.BytesIO()
    scene.image.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def phone_sets() -> dict[str, list[tuple[Scene, bytes]]]:
    phone = [scene for scene, _ in benchmark_scenes({"phone"})]
    photos = lfw_face_photos(60, random.Random(0))
    rng = random.Random("draft-phone-group")
    groups = [
        crowd("phone group", PHONE_SIZE, photos, [rng.randint(*GROUP_FACE_WIDTHS) for _ in range(12)], rng)
        for _ in range(3)
    ]
    return {
        "phone": [(scene, scene.jpeg()) for scene in phone],
        "phone, EXIF 6": [(scene, turned_jpeg(scene)) for scene in phone],
        "phone group, 100-200 px faces": [(scene, scene.jpeg()) for scene in groups],
    }


def timed_analysis(pipeline: FaceGenderPipeline, data: bytes, max_side: int, draft: bool) -> Analysis:
    cpu = time.process_time()
    analysis = pipeline.analyze(data, "hog", 1, max_side, draft=draft)
    analysis.timings_ms["cpu"] = (time.process_time() - cpu) * 1000
    return analysis


def compare_answers(old: Analysis, new: Analysis) -> tuple[int, int, float]:
    """(faces of the old answer matched in the new one, of those with the same label, the
    largest difference in the old label's probability)."""
    matches = same = 0
    largest = 0.0
    free = list(new.faces)
    for face in old.faces:
        twin = max(free, key=lambda f: iou(f.box, face.box), default=None)
        if twin is None or iou(twin.box, face.box) < 0.5:
            continue
        free.remove(twin)
        matches += 1
        same += twin.gender == face.gender
        largest = max(largest, abs(twin.scores[face.gender] - face.scores[face.gender]))
    return matches, same, largest


def finer_crops(pipeline: FaceGenderPipeline, data: bytes, max_side: int, analysis: Analysis) -> int:
    """How many of the draft path's faces had their crops cut from a finer decode."""
    reduction = UploadedImage(data, pipeline.settings.max_pixels).reduction_for(max_side)
    sources = crop_reductions([face.box for face in analysis.faces], reduction, pipeline.classifier.spec)
    return sum(source < reduction for source in sources)


def answer_cells(pipeline: FaceGenderPipeline, max_side: int, first: list[tuple[Scene, bytes, dict]]) -> list[str]:
    """Recall, agreement and finer crops of one run of each photo through both paths."""
    recall = {draft: sum(matched(scene.faces, [f.box for f in answers[draft].faces]) for scene, _, answers in first)
              for draft in (False, True)}
    truth = sum(len(scene.faces) for scene, _, _ in first)
    kept = same = 0
    largest = 0.0
    for _, _, answers in first:
        matches, labels, difference = compare_answers(answers[False], answers[True])
        kept, same, largest = kept + matches, same + labels, max(largest, difference)
    old_faces = sum(len(answers[False].faces) for _, _, answers in first)
    new_faces = sum(len(answers[True].faces) for _, _, answers in first)
    finer = sum(finer_crops(pipeline, data, max_side, answers[True]) for _, data, answers in first)
    return [f"{recall[False]}/{truth} / {recall[True]}/{truth}", f"{kept}/{old_faces}", f"{same}/{kept}",
            f"{largest:.4f}", f"{finer}/{new_faces}"]


def pipeline_table(pipeline: FaceGenderPipeline, rounds: int, max_side: int) -> None:
    print("| photos | rounds | recall old / new | faces kept | same label | max abs P diff | crops from a finer decode "
          "| decode ms | detect ms | classify ms | total ms | CPU ms |")
    print("| --- " * 12 + "|")
    for name, photos in phone_sets().items():
        sums = {draft: defaultdict(float) for draft in (False, True)}
        first = []
        for round_ in range(rounds):
            for scene, data in photos:
                order = (False, True) if round_ % 2 == 0 else (True, False)
                answers = {draft: timed_analysis(pipeline, data, max_side, draft) for draft in order}
                for draft, analysis in answers.items():
                    for stage in STAGES:
                        sums[draft][stage] += analysis.timings_ms[stage]
                if round_ == 0:
                    first.append((scene, data, answers))
        runs = rounds * len(photos)
        stage_cells = [
            f"{sums[False][s] / runs:.0f} → {sums[True][s] / runs:.0f} ({sums[True][s] / sums[False][s]:.2f}x)"
            for s in STAGES
        ]
        cells = [f"{name} ({len(photos)})", str(rounds), *answer_cells(pipeline, max_side, first), *stage_cells]
        print("| " + " | ".join(cells) + " |", flush=True)


def small_faces_photo(count_photos: int) -> tuple[bytes, list[Box]]:
    """One phone-sized JPEG with a grid of small LFW faces, and their boxes."""
    rng = random.Random("draft-small-faces")
    photos = lfw_face_photos(count_photos, rng)
    canvas = background(PHONE_SIZE, rng)
    cell = 2 * SMALL_FACE_WIDTHS[1] + 12  # a face and its context fit in a cell
    boxes = []
    for top in range(0, PHONE_SIZE[1] - cell + 1, cell):
        for left in range(0, PHONE_SIZE[0] - cell + 1, cell):
            width = rng.randint(*SMALL_FACE_WIDTHS)
            boxes.append(paste_face(canvas, rng.choice(photos), width, (left + cell // 2, top + cell // 2)))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), boxes


def crop_source_table(pipeline: FaceGenderPipeline, max_pixels: int) -> None:
    data, boxes = small_faces_photo(120)
    upload = UploadedImage(data, max_pixels)
    spec = pipeline.classifier.spec
    female = spec.labels.index("female")

    def p_female(reduction: int) -> list[float]:
        image = upload.decode(reduction)
        crops = [crop_face(image, box.scaled(1 / reduction), spec) for box in boxes]
        return [float(row[female]) for row in pipeline.classifier.probabilities(to_input(crops, spec))]

    full = p_female(1)
    print(f"\n{len(boxes)} faces of {SMALL_FACE_WIDTHS[0]}-{SMALL_FACE_WIDTHS[1]} px on one "
          f"{PHONE_SIZE[0]}x{PHONE_SIZE[1]} JPEG; crop regions (box + {spec.margin:.0%} margin each side) "
          f"against the classifier's {spec.input_size} px input")
    print("| crop cut from | crop region there | faces | same label as full decode "
          "| mean abs P diff | max abs P diff | the rule, detection on this draft, cuts from |")
    print("| --- " * 7 + "|")
    for reduction in DRAFT_REDUCTIONS:
        draft = p_female(reduction)
        sources = crop_reductions(boxes, reduction, spec)
        limits = (0, 16, 32, 48, 64, spec.input_size)
        by_region = defaultdict(list)
        for index, box in enumerate(boxes):
            region = min(box.width, box.height) * (1 + 2 * spec.margin) / reduction
            bucket = next(limit for limit in limits[1:] if region < limit)
            by_region[bucket].append(index)
        for bucket in sorted(by_region):
            chosen = by_region[bucket]
            low = limits[limits.index(bucket) - 1]
            span = f"{low}-{bucket} px" if low else f"under {bucket} px"
            same = sum((draft[i] >= 0.5) == (full[i] >= 0.5) for i in chosen)
            differences = [abs(draft[i] - full[i]) for i in chosen]
            rule = ", ".join(f"1/{r}: {n}" for r, n in sorted(Counter(sources[i] for i in chosen).items()))
            print(f"| 1/{reduction} draft | {span} | {len(chosen)} | {same}/{len(chosen)} "
                  f"| {sum(differences) / len(chosen):.4f} | {max(differences):.4f} | {rule} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="detection threads (default 1: Lambda's one vCPU)")
    args = parser.parse_args()
    settings = dataclasses.replace(Settings.from_env(), detect_threads=args.threads)
    pipeline = FaceGenderPipeline(settings)
    pipeline.warm_up()
    print(f"detection threads: {args.threads}; hog, upsample 1, max_side {settings.default_max_side}; "
          "cells: mean per photo, old -> new (sum new / sum old)")
    pipeline_table(pipeline, args.rounds, settings.default_max_side)
    crop_source_table(pipeline, settings.max_pixels)


if __name__ == "__main__":
    main()
