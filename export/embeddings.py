"""dlib's face-recognition embeddings (128-D ResNet of face_recognition_models) of each photo's
labelled face, computed once and cached: they tell who is who (export.identities) and carry
gender for the teacher (export.teacher)."""

from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path

import dlib
import numpy as np
from export.data import Sample, bordered, open_rgb, photo_file
from function.boxes import Box

_models = None  # per worker process: (5-point landmark predictor, face encoder)


def embedding_photo(sample: Sample) -> str:
    """The photo whose embedding stands for this sample: both LFW versions of a photo share the
    deep-funneled one (same person, same picture)."""
    return sample.path.replace("lfw/original150/", "lfw/deepfunneled/")


def _embed(args: tuple[str, str, bool, tuple[int, int, int, int]]) -> tuple[str, np.ndarray]:
    """What face_recognition.face_encodings(model="small") computes, for one known box."""
    root, rel, pad_tight_crop, (left, top, right, bottom) = args
    file = photo_file(Path(root), rel)
    image, pad = bordered(open_rgb(file)) if pad_tight_crop else (open_rgb(file), 0)
    global _models
    if _models is None:
        import face_recognition_models as files  # warns about pkg_resources: only where embeddings are made

        _models = (dlib.shape_predictor(files.pose_predictor_five_point_model_location()),
                   dlib.face_recognition_model_v1(files.face_recognition_model_location()))
    landmarks, encoder = _models
    pixels = np.asarray(image)
    shape = landmarks(pixels, dlib.rectangle(left + pad, top + pad, right + pad, bottom + pad))
    return rel, np.asarray(encoder.compute_face_descriptor(pixels, shape), np.float32)


def embed_all(data: Path, samples: list[Sample], boxes: dict[str, Box], cache: Path, processes: int = 2) -> dict[str, np.ndarray]:
    """Embedding per photo (keyed by embedding_photo), cached in an .npz; a rerun embeds only what is missing."""
    found = dict(np.load(cache)) if cache.exists() else {}
    todo = {}
    for s in samples:
        rel = embedding_photo(s)
        if rel not in found and rel not in todo:
            b = boxes[rel]
            todo[rel] = (str(data), rel, s.origin.tight_crops, (b.left, b.top, b.right, b.bottom))
    if todo:
        print(f"embedding {len(todo)} faces with {processes} processes", flush=True)
        with get_context("spawn").Pool(processes) as pool:  # spawn: see data.detect_all
            for i, (rel, encoding) in enumerate(pool.imap_unordered(_embed, todo.values(), chunksize=16), 1):
                found[rel] = encoding
                if i % 500 == 0 or i == len(todo):  # a long run keeps what it has made
                    print(f"  {i}/{len(todo)}", flush=True)
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(cache, **found)
    return found
