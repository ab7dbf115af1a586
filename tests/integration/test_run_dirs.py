"""`alft` run directories end to end: one per run even within a second, another run's directory refused,
resuming without checkpoints refused, each as one `alft: error:` line before any model loads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_cli import _error, alft

pytestmark = pytest.mark.slow
SAMPLE = ["sample", "model=tiny", "sample.limit=1", "sample.n=1", "sample.max_new_tokens=2"]


def test_a_run_started_in_the_same_second_as_another_gets_its_own_directory(tmp_path):
    now = datetime.now()
    taken = [tmp_path / "outputs" / "sample" / f"{t:%Y-%m-%d}" / f"{t:%H-%M-%S}"
             for t in (now + timedelta(seconds=s) for s in range(180))]
    for d in taken:  # another run owns each of the next three minutes' directories
        d.mkdir(parents=True)
        (d / "metrics.json").write_text('{"mine": true}')
    alft(*SAMPLE, cwd=tmp_path)
    [metrics] = [p for p in (tmp_path / "outputs" / "sample").glob("*/*/metrics.json") if p.parent not in taken]
    assert metrics.parent.name.endswith("_2") and metrics.parent.with_name(metrics.parent.name[:-2]) in taken
    assert json.loads(metrics.read_text())["n_samples"] == 1
    assert all(json.loads((d / "metrics.json").read_text()) == {"mine": True} for d in taken)
    assert all(sorted(p.name for p in d.iterdir()) == ["metrics.json"] for d in taken)


@pytest.mark.parametrize("command", ["train", "eval", "sample"])
def test_another_runs_directory_is_refused(tmp_path, command):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("theirs\n")
    line = _error(tmp_path, command, "model=tiny", f"hydra.run.dir={run}")
    assert f"run directory {run} already holds another run (config.yaml)" in line
    assert (run / "config.yaml").read_text() == "theirs\n"


def test_resume_without_a_run_that_has_checkpoints_is_one_line(tmp_path):
    line = _error(tmp_path, "train", "model=tiny", "trainer.resume_from_checkpoint=true")
    assert "holds no complete checkpoint-N/" in line and "alft train resume=<run dir>" in line
    line = _error(tmp_path, "train", f"resume={tmp_path / 'nowhere'}")
    assert "not a run directory of alft" in line
    line = _error(tmp_path, "sample", f"resume={tmp_path}")
    assert "alft sample does not resume" in line


def test_eval_of_a_run_with_a_config_only_checkpoint_is_one_line(tmp_path: Path):
    (tmp_path / "run" / "checkpoint-final").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint-3").mkdir()
    (tmp_path / "run" / "checkpoint-3" / "config.json").write_text("{}")
    line = _error(tmp_path, "eval", f"model={tmp_path / 'run'}")
    assert "holds no model" in line


def _taken(root: Path, minutes: int = 3) -> list[Path]:
    """Another run's directory at each second of the next `minutes` under root/<date>/<time>."""
    now = datetime.now()
    taken = [root / f"{t:%Y-%m-%d}" / f"{t:%H-%M-%S}" for t in (now + timedelta(seconds=s) for s in range(60 * minutes))]
    for d in taken:
        (d / "0").mkdir(parents=True)
        (d / "0" / "metrics.json").write_text('{"mine": true}')
    return taken


def test_a_sweep_started_in_the_same_second_as_another_gets_its_own_directory(tmp_path):
    taken = _taken(tmp_path / "multirun" / "sample")
    alft(SAMPLE[0], "-m", *SAMPLE[1:], "seed=0,1", cwd=tmp_path)
    [sweep] = [p for p in (tmp_path / "multirun" / "sample").glob("*/*") if p not in taken]
    assert sweep.name.endswith("_2") and sweep.with_name(sweep.name[:-2]) in taken
    assert [json.loads((sweep / job / "metrics.json").read_text())["n_samples"] for job in "01"] == [1, 1]
    assert all(json.loads((d / "0" / "metrics.json").read_text()) == {"mine": True} for d in taken)
