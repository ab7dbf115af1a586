"""`alft train` in-process on the tiny model: held-out passes on the trainer's device and model, `heldout.limit=0`
as JSON null, GPU memory / throughput keys on every logged step, and a GSM8K run without reasoning-gym."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli.cli import conf_dir

pytestmark = pytest.mark.slow
TINY = ["model=tiny", "dataset.train_size=8", "heldout.limit=3", "heldout.max_new_tokens=4", "heldout.batch_size=2",
        "trainer.max_steps=2", "trainer.max_completion_length=4"]


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_heldout_passes_use_the_trainers_model_and_device_and_steps_log_throughput(tmp_path, monkeypatch):
    from alft_cli import generation, heldout, telemetry
    from alft_cli.train import run_train

    calls, trainers = [], []
    real_generate, real_pass = generation.generate, heldout.heldout_accuracy

    def spy_generate(model, tokenizer, prompts, **kwargs):
        calls.append({**kwargs, "model": model, "device": model.device, "prompts": len(prompts)})
        return real_generate(model, tokenizer, prompts, **kwargs)

    def spy_pass(trainer, problems, cfg):
        trainers.append(trainer)
        return real_pass(trainer, problems, cfg)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(generation, "generate", spy_generate)
    monkeypatch.setattr("alft_cli.train.heldout_accuracy", spy_pass)
    # Pretend the trainer's device is a GPU whose peaks are 1.5 / 4.0 GiB (cuda_peaks_gb is the one reader).
    monkeypatch.setattr(telemetry, "cuda_peaks_gb", lambda device, reset=True: (1.5, 4.0))
    metrics = run_train(_compose(TINY))

    assert len(trainers) == 2 and trainers[0] is trainers[1]  # before and after: the same trainer
    trainer = trainers[0]
    assert len(calls) == 2 and all(c["prompts"] == 3 and c["batch_size"] == 2 for c in calls)
    for call in calls:  # the model the trainer trains, on the device it trains on, with a progress bar
        assert call["model"] is trainer.accelerator.unwrap_model(trainer.model_wrapped)
        assert call["device"] == trainer.accelerator.device
        assert call["progress"] == "held-out" and call["synced_gpus"] is False
    assert 0 <= metrics["heldout_accuracy_before"] <= 1 and 0 <= metrics["heldout_accuracy_after"] <= 1

    steps = [r for r in _jsonl(tmp_path / "train_log.jsonl") if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for row in steps:
        assert row["throughput/completion_tokens_per_s"] > 0
        assert (row["gpu/mem_allocated_gb"], row["gpu/mem_reserved_gb"]) == (1.5, 4.0)
        # generation and reward: parts of the step's wall-clock time, together less than all of it
        assert row["timing/generation_share"] > 0 and row["timing/reward_share"] > 0
        assert row["timing/generation_share"] + row["timing/reward_share"] < 1
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert (written["peak_gpu_mem_gb"], written["peak_gpu_reserved_gb"]) == (1.5, 4.0)
    # completion tokens of the run / training seconds: between the slowest and fastest logged step
    rates = [r["throughput/completion_tokens_per_s"] for r in steps]
    assert min(rates) * 0.99 <= written["completion_tokens_per_s"] <= max(rates) * 1.01
    for phase in ("generation", "reward"):
        shares = [r[f"timing/{phase}_share"] for r in steps]
        assert min(shares) * 0.99 <= written[f"{phase}_share"] <= max(shares) * 1.01


def test_heldout_size_zero_skips_the_passes_and_writes_null(tmp_path, monkeypatch):
    from alft_cli import generation
    from alft_cli.train import run_train

    def no_generate(*args, **kwargs):
        raise AssertionError("heldout.limit=0 must not generate")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(generation, "generate", no_generate)
    run_train(_compose([*TINY, "heldout.limit=0", "trainer.max_steps=1"]))
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    assert metrics["heldout_accuracy_before"] is None and metrics["heldout_accuracy_after"] is None
    assert metrics["n_heldout"] == 0 and metrics["steps"] == 1
    # a CPU run measures no GPU memory: null, and no gpu/* keys in the step logs
    assert metrics["peak_gpu_mem_gb"] is None and metrics["completion_tokens_per_s"] > 0
    assert not any(k.startswith("gpu/") for r in _jsonl(tmp_path / "train_log.jsonl") for k in r)


BLOCK_REASONING_GYM = """
import sys
sys.modules["reasoning_gym"] = None  # `import reasoning_gym` raises ImportError, as without the package
from alft_cli.cli import main
main(sys.argv[1:])
"""


def test_gsm8k_run_does_not_need_reasoning_gym(tmp_path, shared_data):
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_REASONING_GYM, "train", "experiment=gsm8k_correctness", *TINY, "logger=none",
         "trainer.max_steps=1", f"dataset.path={shared_data / 'gsm8k' / 'train.jsonl'}", "dataset.heldout_size=3",
         "trainer.per_device_train_batch_size=8", "trainer.gradient_accumulation_steps=1",
         f"hydra.run.dir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 1
