"""Service settings, read once from environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# the int8 copy of gender-mobilenet-v2.onnx (its speed and accuracy against the float file: MODEL_CARD.md)
DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "gender-mobilenet-v2-int8.onnx"
# The defaults of FACES_MAX_BODY_BYTES (Lambda's payload limit) and FACES_MAX_PIXELS (a
# decompression-bomb guard); template.yaml repeats them, tests/test_template_defaults.py checks it.
MAX_BODY_BYTES = 6 * 1024 * 1024
MAX_PIXELS = 40_000_000
# The defaults of FACES_UPSAMPLE and FACES_MAX_SIDE.
DEFAULT_UPSAMPLE = 1
DEFAULT_MAX_SIDE = 1600
# The options' ranges, inclusive: the API's query parameters, the batch command's flags, the page.
UPSAMPLE_RANGE = (0, 2)
MAX_SIDE_RANGE = (64, 8192)
# The min_confidence of a model whose file states none: with two labels (inference.LABELS) a
# face's confidence is never below it, so every face is answered.
ALWAYS_ANSWER = 0.5
# A face whose confidence is below the threshold is uncertain; ALWAYS_ANSWER answers every face.
MIN_CONFIDENCE_RANGE = (ALWAYS_ANSWER, 1.0)
RANGES = {"upsample": UPSAMPLE_RANGE, "max_side": MAX_SIDE_RANGE, "min_confidence": MIN_CONFIDENCE_RANGE}


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _min_confidence() -> float | None:
    """FACES_MIN_CONFIDENCE, or None when unset (the model's own default then applies)."""
    value = os.environ.get("FACES_MIN_CONFIDENCE", "").strip()
    if not value:
        return None
    threshold = float(value)
    low, high = MIN_CONFIDENCE_RANGE
    if not low <= threshold <= high:
        raise ValueError(f"FACES_MIN_CONFIDENCE must be between {low} and {high}, not {value}")
    return threshold


@dataclass(frozen=True)
class Settings:
    model_path: Path
    max_body_bytes: int
    max_pixels: int
    default_upsample: int
    default_max_side: int
    ort_threads: int
    detect_threads: int
    cors_origins: tuple[str, ...]
    min_confidence: float | None = None  # None: the model's default

    @classmethod
    def from_env(cls) -> "Settings":
        origins = os.environ.get("FACES_CORS_ORIGINS", "*")
        return cls(
            model_path=Path(os.environ.get("FACES_MODEL_PATH", DEFAULT_MODEL_PATH)),
            max_body_bytes=_int("FACES_MAX_BODY_BYTES", MAX_BODY_BYTES),
            max_pixels=_int("FACES_MAX_PIXELS", MAX_PIXELS),
            default_upsample=_int("FACES_UPSAMPLE", DEFAULT_UPSAMPLE),
            default_max_side=_int("FACES_MAX_SIDE", DEFAULT_MAX_SIDE),
            ort_threads=_int("FACES_ORT_THREADS", 1),
            detect_threads=_int("FACES_DETECT_THREADS", os.cpu_count() or 1),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            min_confidence=_min_confidence(),
        )
