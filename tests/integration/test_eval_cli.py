"""`alft eval` / `alft sample` through the console script on tiny models: outputs, tables, sweeps, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alft_cli.models import build_tiny_model

pytestmark = pytest.mark.slow
ALFT = shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"
PNG = b"\x89PNG\r\n\x1a\n"
SHORT = ["eval.limit=2", "eval.max_new_tokens=6", "model.dtype=float32"]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> list[Path]:
    """Two tiny model directories with different weights."""
    root = tmp_path_factory.mktemp("models")
    spec = {"vocab_size": 384, "hidden_size": 32, "num_layers": 2, "num_heads": 2}
    return [Path(shutil.copytree(build_tiny_model({**spec, "seed": s}), root / f"tiny{s}")) for s in (1, 2)]


def alft(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([ALFT, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if check and proc.returncode != 0:
        raise AssertionError(f"alft {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _table_rows(report: Path) -> list[str]:
    lines = report.read_text().split("## ")[0].splitlines()
    return [line for line in lines if line.startswith("| ") and not line.startswith("| model")]


def test_several_models_one_table_and_rescoring_reproduces_metrics(two_models, tmp_path):
    run = tmp_path / "eval"
    proc = alft("eval", f"eval.models=[tiny,{two_models[0]}]", *SHORT, "eval.n=2", "eval.k=[1,2]",
                "eval.temperature=1.0", "transforms=[identity,paraphrase]", f"hydra.run.dir={run}", cwd=tmp_path)
    top = json.loads((run / "metrics.json").read_text())
    assert set(top["models"]) == {"tiny", str(two_models[0])}
    rows = _table_rows(run / "report.md")
    assert [r.split(" | ")[0] for r in rows] == ["| tiny", f"| {two_models[0]}"]
    assert "| tiny | 2 |" in proc.stdout and (run / "pass_at_k.png").read_bytes().startswith(PNG)
    subs = sorted(p for p in run.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name.split("-")[0] for p in subs] == ["0", "1"]
    for sub in subs:
        metrics = json.loads((sub / "metrics.json").read_text())
        assert metrics == top["models"][metrics["protocol"]["model_label"]] and metrics["n_problems"] == 2
        assert 0 <= metrics["pass@1"] <= metrics["pass@2"] <= 1 and 0 <= metrics["agreement"] <= 1
        assert set(metrics["variants"]) == {"identity", "paraphrase"}
        protocol = metrics["protocol"]
        assert protocol["n"] == 2 and protocol["k"] == [1, 2] and protocol["temperature"] == 1.0
        assert protocol["checker_version"] and "{question}" in protocol["prompt_template"]
        samples = _jsonl(sub / "samples.jsonl")
        assert len(samples) == 2 * 2 * 2 and set(samples[0]) == {"id", "variant", "completion", "answer",
                                                                  "correct", "undecided", "gold"}
        report = (sub / "report.md").read_text()
        assert "## Protocol" in report and "checker_version: " in report and "## Transformations" in report
        for png in ("pass_at_k.png", "answer_histograms.png"):
            assert (sub / png).read_bytes().startswith(PNG) and f"]({png})" in report

    sub = subs[1]
    alft("eval", f"eval.completions_file={sub / 'samples.jsonl'}", "eval.k=[1,2]",
         f"hydra.run.dir={tmp_path / 'rescore'}", cwd=tmp_path)
    again = json.loads((tmp_path / "rescore" / "metrics.json").read_text())
    before = json.loads((sub / "metrics.json").read_text())
    same = {"protocol", "generation"}  # re-scoring generates nothing
    assert {k: v for k, v in again.items() if k not in same} == {k: v for k, v in before.items() if k not in same}
    assert before["generation"]["completions"] == 8 and "generation" not in again


def test_multirun_over_model_directories_writes_one_summary(two_models, tmp_path):
    alft("eval", "-m", f"model={two_models[0]},{two_models[1]}", *SHORT, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    rows = _table_rows(tmp_path / "report.md")
    assert [r.split(" | ")[0] for r in rows] == [f"| {m}" for m in two_models]
    summary = json.loads((tmp_path / "metrics.json").read_text())["models"]
    for job, model in zip(("0", "1"), two_models):
        metrics = json.loads((tmp_path / job / "metrics.json").read_text())
        assert metrics["protocol"]["model"] == str(model) and summary[str(model)] == metrics
        assert metrics["greedy_accuracy"] == metrics["pass@1"]


def test_sample_writes_variants_histograms_and_a_console_summary(tmp_path):
    proc = alft("sample", "model=tiny", "sample.limit=2", "sample.n=3", "sample.max_new_tokens=6",
                "transforms=[identity,paraphrase]", "sample.show=1", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    samples = _jsonl(tmp_path / "samples.jsonl")
    hists = _jsonl(tmp_path / "histograms.jsonl")
    assert len(samples) == 2 * 2 * 3 and set(samples[0]) == {"id", "variant", "prompt", "completion", "answer"}
    assert [h["variant"] for h in hists] == ["identity", "paraphrase"] * 2
    assert all(sum(h["counts"].values()) == 3 for h in hists)
    assert "answer histograms (1 of 4 prompts" in proc.stdout and f"{hists[0]['id']} [identity]" in proc.stdout


def test_vllm_backend_without_vllm_is_one_error_line(tmp_path):
    proc = alft("eval", "model=tiny", "eval.backend=vllm", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("alft: error:")]
    assert "eval.backend=vllm needs vLLM" in line and "eval.backend=hf" in line
