"""The installed `alft` console script end to end on the tiny model: train → eval → sample, sweeps, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
ALFT = shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"
TINY = ["model=tiny", "dataset.train_size=16", "heldout.limit=4", "heldout.max_new_tokens=8",
        "trainer.max_steps=2", "trainer.max_completion_length=8"]


def alft(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([ALFT, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if check and proc.returncode != 0:
        raise AssertionError(f"alft {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("train") / "run"
    alft("train", *TINY, f"hydra.run.dir={run}", cwd=run.parent)
    return run


def test_train_writes_model_config_and_metrics(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["steps"] == 2
    assert set(metrics) >= {"heldout_accuracy_before", "heldout_accuracy_after", "steps", "wall_seconds",
                            "peak_rss_gb"}
    assert 0 <= metrics["heldout_accuracy_after"] <= 1 and metrics["peak_rss_gb"] > 0
    config = yaml.safe_load((trained / "config.yaml").read_text())
    assert config["model"]["source"] == "tiny" and config["trainer"]["max_steps"] == 2
    assert (trained / "final_model" / "model.safetensors").is_file()
    logged = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "loss" in row] == [1, 2]


def test_eval_and_sample_on_the_training_run(trained, tmp_path):
    alft("eval", f"model={trained}", "eval.limit=3", "eval.n=2", "eval.k=[1,2]", "eval.temperature=1.0",
         "eval.max_new_tokens=8", f"hydra.run.dir={tmp_path / 'eval'}", cwd=tmp_path)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_problems"] == 3 and 0 <= metrics["pass@1"] <= metrics["pass@2"] <= 1
    assert metrics["protocol"]["model"].endswith("final_model")
    rows = [json.loads(line) for line in (tmp_path / "eval" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and set(rows[0]) >= {"id", "completion", "answer", "correct"}

    alft("sample", f"model={trained}", "sample.limit=2", "sample.n=3", "sample.max_new_tokens=8",
         f"hydra.run.dir={tmp_path / 'sample'}", cwd=tmp_path)
    samples = [json.loads(line) for line in (tmp_path / "sample" / "samples.jsonl").read_text().splitlines()]
    hists = [json.loads(line) for line in (tmp_path / "sample" / "histograms.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and len(hists) == 2
    assert all(sum(h["counts"].values()) == 3 for h in hists)


def test_multirun_makes_one_job_directory_per_value_and_summarises_the_seeds(tmp_path):
    proc = alft("train", "-m", "trainer.learning_rate=1e-5,2e-5", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}",
                cwd=tmp_path)
    jobs = sorted((p for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    configs = [yaml.safe_load((j / "config.yaml").read_text()) for j in jobs]
    assert [(c["trainer"]["learning_rate"], c["seed"]) for c in configs] == [(1e-5, 0), (1e-5, 1), (2e-5, 0), (2e-5, 1)]
    metrics = [json.loads((j / "metrics.json").read_text()) for j in jobs]
    assert all(m["steps"] == 2 for m in metrics)
    # the sweep directory: one row per learning rate, mean over its two seeds
    settings = json.loads((tmp_path / "metrics.json").read_text())["settings"]
    assert [(s["setting"], s["seeds"]) for s in settings] == [("trainer.learning_rate=1e-05", [0, 1]),
                                                              ("trainer.learning_rate=2e-05", [0, 1])]  # as Hydra writes them
    for setting, pair in zip(settings, (metrics[:2], metrics[2:])):
        after = [m["heldout_accuracy_after"] for m in pair]
        assert setting["heldout_accuracy_after"]["mean"] == pytest.approx(sum(after) / 2)
    assert "| trainer.learning_rate=1e-05 | 0, 1 |" in (tmp_path / "report.md").read_text()
    assert f"sweep summary: {tmp_path / 'report.md'}" in proc.stdout

    # evaluating the four models: one row per model, then one per training setting over its two seeds
    evals = tmp_path / "evals"
    alft("eval", "-m", f"model={','.join(str(j) for j in jobs)}", "eval.limit=2", "eval.n=2", "eval.k=[1,2]",
         "eval.temperature=1.0", "eval.max_new_tokens=8", f"hydra.sweep.dir={evals}", cwd=tmp_path)
    summary = json.loads((evals / "metrics.json").read_text())
    assert len(summary["models"]) == 4
    by_setting = {s["setting"]: s for s in summary["settings"]}
    assert list(by_setting) == ["trainer.learning_rate=1e-05", "trainer.learning_rate=2e-05"]
    per_model = [summary["models"][m]["pass@1"] for m in sorted(summary["models"], key=lambda m: jobs.index(
        next(j for j in jobs if str(j) in m)))]
    assert by_setting["trainer.learning_rate=1e-05"]["seeds"] == [0, 1]
    assert by_setting["trainer.learning_rate=1e-05"]["pass@1"]["mean"] == pytest.approx(sum(per_model[:2]) / 2)
    assert "## Over training seeds" in (evals / "report.md").read_text()


def test_gpu_recipe_runs_two_steps_on_local_gsm8k(tmp_path, shared_data):
    alft("train", "experiment=gsm8k_correctness", *TINY, "logger=none", "dataset.heldout_size=4",
         f"dataset.path={shared_data / 'gsm8k' / 'train.jsonl'}", "trainer.per_device_train_batch_size=8",
         "trainer.gradient_accumulation_steps=1", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 2


@pytest.mark.parametrize("command", ["train", "eval", "sample"])
def test_help_and_cfg_job(command, tmp_path):
    help_text = alft(command, "--help", cwd=tmp_path).stdout
    assert f"alft {command}" in help_text and "model: " in help_text and "Examples:" in help_text
    job = yaml.safe_load(alft(command, "--cfg", "job", cwd=tmp_path).stdout)
    assert job["seed"] == 0 and "dataset" in job


def test_top_level_help_lists_commands(tmp_path):
    out = alft("--help", cwd=tmp_path).stdout
    for command in ("train", "eval", "sample"):
        assert f"alft {command} " in out


def _error(tmp_path: Path, *args: str) -> str:
    proc = alft(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("alft: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


def test_unknown_option_lists_choices(tmp_path):
    line = _error(tmp_path, "train", "objective=nope")
    assert "unknown objective 'nope'" in line and "correctness" in line


def test_missing_dataset_file(tmp_path):
    line = _error(tmp_path, "train", "model=tiny", "dataset=jsonl", f"dataset.path={tmp_path / 'no.jsonl'}")
    assert "dataset file not found" in line and "no.jsonl" in line


def test_row_without_question_field_is_named(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "1+1?", "answer": "2"}\n{"prompt": "2+2?", "answer": "4"}\n')
    line = _error(tmp_path, "eval", "model=tiny", "dataset=jsonl", f"dataset.path={data}", "dataset.heldout_size=1")
    assert "line 2" in line and "'question'" in line


def test_hub_id_offline_fails_fast(tmp_path):
    start = time.time()
    line = _error(tmp_path, "eval", "model=nobody/no-such-model")
    assert time.time() - start < 30
    assert "offline" in line and "local directory" in line


def test_wandb_logger_works_offline(tmp_path):
    pytest.importorskip("wandb")
    proc = subprocess.run([ALFT, "train", *TINY, "logger=wandb", "logger.project=alft-offline-test",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    [run_file] = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    data = run_file.read_bytes()
    assert b"alft-offline-test" in data and b"rewards/answer_level/mean" in data
