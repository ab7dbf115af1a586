"""Sweep summaries: jobs grouped by the overrides that differ (the training seed aside), mean ± SD over seeds."""

from __future__ import annotations

import json
import statistics

import pytest

from alft_cli.callbacks import training_run
from alft_cli.report import TRAIN_COLUMNS, seed_summary, seed_table, write_train_sweep

KEYS = [k for k, _ in TRAIN_COLUMNS]


def _metrics(before: float | None, after: float | None, wall: float = 100.0) -> dict:
    change = None if None in (before, after) else after - before
    return {"heldout_accuracy_before": before, "heldout_accuracy_after": after, "change": change, "wall_seconds": wall}


JOBS = [
    (["trainer.learning_rate=1e-5", "model=tiny"], 0, _metrics(0.40, 0.50, 90.0)),
    (["trainer.learning_rate=1e-5", "model=tiny"], 1, _metrics(0.40, 0.44, 110.0)),
    (["trainer.learning_rate=1e-5", "model=tiny"], 2, _metrics(0.40, 0.47, 100.0)),
    (["trainer.learning_rate=2e-5", "model=tiny"], 0, _metrics(0.40, 0.30)),
]


def test_jobs_are_grouped_by_setting_with_mean_and_sd_over_seeds():
    rows = seed_summary(JOBS, KEYS)
    assert [r["setting"] for r in rows] == ["trainer.learning_rate=1e-5", "trainer.learning_rate=2e-5"]
    first, second = rows
    assert first["seeds"] == [0, 1, 2] and second["seeds"] == [0]
    assert first["heldout_accuracy_after"] == {"mean": pytest.approx(0.47), "sd": pytest.approx(0.03), "n": 3}
    assert first["change"]["mean"] == pytest.approx(0.07)
    assert first["change"]["sd"] == pytest.approx(statistics.stdev([0.10, 0.04, 0.07]))
    assert second["change"] == {"mean": pytest.approx(-0.10), "sd": None, "n": 1}  # one seed: no SD


def test_a_seed_only_sweep_is_one_setting_and_skipped_passes_are_no_numbers():
    [row] = seed_summary([([], 0, _metrics(None, None)), ([], 1, _metrics(None, None))], KEYS)
    assert row["setting"] == "every job" and row["seeds"] == [0, 1]
    assert row["heldout_accuracy_after"] == {"mean": None, "sd": None, "n": 0}  # heldout.limit=0
    assert row["change"]["n"] == 0 and row["wall_seconds"]["n"] == 2
    assert "| every job | 0, 1 | – | – | – | 100 ± 0 |" in seed_table([row], TRAIN_COLUMNS)


def test_the_report_and_metrics_json_of_a_training_sweep(tmp_path):
    table = write_train_sweep(tmp_path, seed_summary(JOBS, KEYS), "multirun/train/x")
    assert "| trainer.learning_rate=1e-5 | 0, 1, 2 | 0.400 ± 0.000 | 0.470 ± 0.030 | +0.070 ± 0.030 | 100 ± 10 |" in table
    assert "| trainer.learning_rate=2e-5 | 0 | 0.400 | 0.300 | -0.100 | 100 |" in table
    assert table in (tmp_path / "report.md").read_text()
    settings = json.loads((tmp_path / "metrics.json").read_text())["settings"]
    assert [s["seeds"] for s in settings] == [[0, 1, 2], [0]]


def test_a_training_run_is_found_by_its_model_path_and_no_model_is_no_run(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "final_model").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "config.yaml").write_text("seed: 3\n")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("- seed=3\n- trainer.learning_rate=1e-5\n")
    assert training_run(str(run)) == training_run(str(run / "final_model")) == (["trainer.learning_rate=1e-5"], 3)
    monkeypatch.chdir(run)  # an eval sweep over completion files, started inside a training run
    assert training_run(None) is None and training_run("") is None
    assert training_run(str(tmp_path)) is None
