"""scripts/bench_gpu.py on the tiny shape (CPU): the recipe's geometry, scaled down, both trainers alternating."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_gpu.py"


def test_bench_gpu_tiny_prints_each_trainer_and_ends_with_the_ratio(shared_data):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--shape", "tiny", "--rounds", "1", "--steps", "2",
         "--data", str(shared_data / "gsm8k" / "train.jsonl"), "--set", "trainer.max_completion_length=4",
         "trainer.num_generations=2", "trainer.per_device_train_batch_size=8", "trainer.gradient_accumulation_steps=1"],
        capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    for kind in ("coherence", "plain"):
        line = next(x for x in lines if x.startswith(f"tiny {kind}:"))
        assert re.search(r"[\d.]+ s/step, \d+ completion tokens/s, GPU memory n/a \(CPU\)", line), line
        shares = re.search(r"generation ([\d.]+)%, reward ([\d.]+)%$", line)
        assert (shares is not None) == (kind == "coherence"), line  # plain TRL logs no shares
        assert shares is None or 0 < float(shares[1]) + float(shares[2]) < 100
    assert any(x.startswith("tiny: 8 completions x 4 tokens per step, fp32 on CPU") for x in lines), lines
    assert lines[-1].startswith("median step-time ratio coherence/plain (tiny; 1 rounds):")
    assert float(lines[-1].split()[-1]) > 0
