"""Test environment: offline hubs, no W&B, a private model cache; shared helpers for config tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALFT_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_MODE="disabled",
                      TOKENIZERS_PARALLELISM="false")
    os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="alft-hf-"))
    os.environ.setdefault("ALFT_CACHE", tempfile.mkdtemp(prefix="alft-cache-"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "gsm8k" / "train.jsonl").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set ALFT_SHARED_DATA)")
    return SHARED_DATA
