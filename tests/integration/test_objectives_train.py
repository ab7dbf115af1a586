"""A few GRPO steps on the tiny model for each answer-level objective, through run_train in-process."""

from __future__ import annotations

import json
import math

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli.cli import conf_dir
from alft_cli.train import run_train

pytestmark = pytest.mark.slow
TINY = ["model=tiny", "dataset.train_size=16", "heldout.limit=2", "heldout.max_new_tokens=4",
        "trainer.max_steps=2", "trainer.max_completion_length=8"]


def _train(tmp_path, monkeypatch, overrides):
    monkeypatch.chdir(tmp_path)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=TINY + overrides)
    metrics = run_train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    return metrics, [r for r in rows if "loss" in r]


@pytest.mark.parametrize("objective", ["coherence", "entropy", "sharpen", "majority", "random"])
def test_objective_trains_and_logs_answer_statistics(objective, tmp_path, monkeypatch):
    metrics, steps = _train(tmp_path, monkeypatch, [f"objective={objective}"])
    assert metrics["steps"] == 2 and len(steps) == 2
    for row in steps:
        assert math.isfinite(row["rewards/answer_level/mean"])
        for key in ("answers/answer_entropy", "answers/n_distinct", "answers/majority_share",
                    "answers/unparsed_rate", "answers/accuracy", "answers/majority_accuracy"):
            assert key in row and math.isfinite(row[key]), key
        assert ("answers/agreement" in row) == (objective == "coherence")  # only across variants
        assert "rewards/correctness/mean" not in row  # label-free: gold only in the metrics


def test_coherence_sees_every_variant_of_a_problem(tmp_path, monkeypatch):
    _, steps = _train(tmp_path, monkeypatch, ["objective=coherence", "transforms=[identity,paraphrase]",
                                              "trainer.num_generations=4"])
    assert all(0.0 <= row["answers/agreement"] <= 1.0 for row in steps)


def test_mixture_logs_both_components(tmp_path, monkeypatch):
    _, steps = _train(tmp_path, monkeypatch, ["objective=coherence", "objective.correctness_weight=1.0"])
    assert all("rewards/correctness/mean" in r and "rewards/answer_level/mean" in r for r in steps)
