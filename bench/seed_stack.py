"""The seed demo's serving stack, rebuilt as the baseline for benchmarks: PyTorch eager with
the seed's checkpoint, `import face_recognition` as is (all four dlib models), and one face
at a time, as the Flask demo did. Needs the dev setup (torch) and ../shared."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

from export.shared_data import SEED_CHECKPOINT



class SeedStack:
    def __init__(self, checkpoint: Path = SEED_CHECKPOINT):
        import face_recognition  # noqa: F401  (the seed imported it whole, loading every model)
        import torch

        from export.seed_model import load_seed

        self._face_recognition = face_recognition
        self._torch = torch
        self.model = load_seed(checkpoint)
        self.labels = ("male", "female")

    def predict(self, data: bytes, upsample: int = 1) -> tuple[list[dict], dict[str, float]]:
        """Faces as {"box": (left, top, right, bottom), "gender"}, and per-stage milliseconds."""
        start = time.perf_counter()
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        decoded = time.perf_counter()
        locations = self._face_recognition.face_locations(pixels, number_of_times_to_upsample=upsample)
        detected = time.perf_counter()
        faces = []
        for top, right, bottom, left in locations:
            crop = Image.fromarray(pixels[top:bottom, left:right]).resize((80, 80), Image.BILINEAR)
            tensor = self._torch.from_numpy(np.asarray(crop, dtype=np.float32).transpose(2, 0, 1)[None].copy())
            with self._torch.no_grad():
                label = self.labels[int(self.model(tensor).argmax(1))]
            faces.append({"box": (left, top, right, bottom), "gender": label})
        classified = time.perf_counter()
        timings = {
            "decode": (decoded - start) * 1000,
            "detect": (detected - decoded) * 1000,
            "classify": (classified - detected) * 1000,
            "total": (classified - start) * 1000,
        }
        return faces, timings


def seed_stack_or_reason() -> tuple[SeedStack | None, str]:
    """The seed stack, or None and why it cannot be built here (no torch, no ../shared)."""
    if not SEED_CHECKPOINT.is_file():
        return None, f"{SEED_CHECKPOINT} is absent"
    try:
        import torch  # noqa: F401
    except ImportError:
        return None, "torch is not installed (the dev setup has it)"
    return SeedStack(), ""
