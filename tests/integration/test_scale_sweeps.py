"""Sweeps through Hydra plugins on the tiny model: an Optuna search and jobs run by the submitit launcher.

Both plugins are optional extras (`alft[sweep]`, `alft[slurm]`); the tests skip when they are absent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
ALFT = shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"
TINY = ["model=tiny", "dataset.train_size=16", "heldout.limit=4", "heldout.max_new_tokens=8",
        "trainer.max_steps=1", "trainer.max_completion_length=8"]


def installed(module: str) -> bool:
    """Whether an optional Hydra plugin is importable (`hydra_plugins` itself may be missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def alft(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([ALFT, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"alft {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.mark.skipif(not installed("hydra_plugins.hydra_optuna_sweeper"),
                    reason="hydra-optuna-sweeper not installed (pip install 'alft[sweep]')")
def test_optuna_search_optimises_the_returned_metric(tmp_path):
    alft("train", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "optimized_metric=steps", *TINY,
         f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    result = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert result["best_value"] == 1.0  # metrics["steps"] of the best trial, returned by the app wrapper
    assert set(result["best_params"]) == {"trainer.learning_rate", "trainer.beta", "trainer.temperature"}
    rates = [yaml.safe_load((tmp_path / job / "config.yaml").read_text())["trainer"]["learning_rate"]
             for job in ("0", "1")]
    assert rates[0] != rates[1] and all(1e-6 <= r <= 1e-4 for r in rates)


@pytest.mark.skipif(not installed("hydra_plugins.hydra_submitit_launcher"),
                    reason="hydra-submitit-launcher not installed (pip install 'alft[slurm]')")
def test_submitit_runs_the_job_in_its_own_process(tmp_path):
    # submitit_local is the SLURM launcher's local twin: same pickling of the alft job, no cluster needed.
    alft("train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "seed=3", *TINY,
         f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert json.loads((tmp_path / "0" / "metrics.json").read_text())["steps"] == 1
    assert yaml.safe_load((tmp_path / "0" / "config.yaml").read_text())["seed"] == 3
    assert len(list((tmp_path / ".submitit").glob("*/*_result.pkl"))) == 1  # ran as a submitit job


@pytest.mark.skipif(not installed("hydra_plugins.hydra_submitit_launcher"),
                    reason="hydra-submitit-launcher not installed (pip install 'alft[slurm]')")
def test_a_submitit_job_runs_in_the_sweep_directory_its_launcher_claimed(tmp_path):
    """The default sweep directory is claimed once, by the launching process (`<time>_2` when another sweep
    holds `<time>`); the job, in its own process, runs in it instead of claiming another."""
    from tests.integration.test_run_dirs import _taken

    taken = _taken(tmp_path / "multirun" / "train")
    alft("train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "seed=3", *TINY,
         cwd=tmp_path)
    [sweep] = [p for p in (tmp_path / "multirun" / "train").glob("*/*") if p not in taken]
    assert sweep.name.endswith("_2") and sweep.with_name(sweep.name[:-2]) in taken
    assert json.loads((sweep / "0" / "metrics.json").read_text())["steps"] == 1
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 1
