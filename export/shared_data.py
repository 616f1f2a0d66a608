"""Where `../shared/data` (LFW, UTKFace, FairFace, the external sets, the seed checkpoint) is:
beside the repository, whatever the working directory."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED_CHECKPOINT = SHARED_DATA / "seed-model" / "CE_Simple_checkpoint_state_mobilenetsmall_color.pt"
