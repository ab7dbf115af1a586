"""Interrupted runs: kill -9 or Ctrl-C mid-training, resume, and the final weights are those of an
uninterrupted run; a truncated newest checkpoint is skipped; Ctrl-C is one line and exit status 130."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from alft_cli.models import is_complete
from tests.integration.test_cli import ALFT, alft

pytestmark = pytest.mark.slow
STEPS = 4
ARGS = ["model=tiny", "dataset.train_size=16", "heldout.limit=2", "heldout.max_new_tokens=4",
        f"trainer.max_steps={STEPS}", "trainer.max_completion_length=16", "trainer.save_strategy=steps",
        "trainer.save_steps=1"]


def _start(command: str, *args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([ALFT, command, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.fixture(autouse=True)
def ctrl_c_reaches_children():
    """A shell starts background jobs (this test run, say) with SIGINT ignored, and children inherit that;
    a handled SIGINT is reset to the default on exec, so `alft` gets KeyboardInterrupt as in a terminal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _wait_for(proc: subprocess.Popen, ready, what: str) -> None:
    deadline = time.time() + 600
    while not ready():
        assert proc.poll() is None, f"the run exited before {what}: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, f"no {what} within 10 minutes"
        time.sleep(0.01)


def _weights(run: Path) -> dict:
    return load_file(run / "final_model" / "model.safetensors")


def _assert_same_weights(run: Path, reference: Path) -> None:
    mine, ref = _weights(run), _weights(reference)
    assert mine.keys() == ref.keys()
    assert all((mine[k] == ref[k]).all() for k in ref), "resumed weights differ from the uninterrupted run"


def _assert_each_step_logged_once(run: Path) -> None:
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "loss" in row] == list(range(1, STEPS + 1))
    assert json.loads((run / "metrics.json").read_text())["steps"] == STEPS


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    alft("train", *ARGS, f"hydra.run.dir={run}", cwd=run.parent)
    return run


def test_sigkill_then_resume_skips_a_truncated_checkpoint_and_matches_an_uninterrupted_run(reference, tmp_path):
    run = tmp_path / "run"
    proc = _start("train", *ARGS, f"hydra.run.dir={run}", cwd=tmp_path)
    _wait_for(proc, lambda: (run / "checkpoint-2" / "trainer_state.json").is_file(), "checkpoint-2")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "metrics.json").exists(), "the run finished before it could be killed"
    newest = max((p for p in run.glob("checkpoint-*") if (p / "trainer_state.json").is_file()),
                 key=lambda p: int(p.name.split("-")[1]))
    (newest / "model.safetensors").unlink()  # as a full disk leaves it: resume from the one before
    shutil.copytree(run / "checkpoint-1", run / "checkpoint-final")  # not a step number: ignored

    alft("train", f"resume={run}", cwd=tmp_path)
    _assert_each_step_logged_once(run)
    _assert_same_weights(run, reference)


def test_ctrl_c_is_one_line_keeps_checkpoints_and_resumes_to_the_same_weights(reference, tmp_path):
    run = tmp_path / "run"
    proc = _start("train", *ARGS, f"hydra.run.dir={run}", cwd=tmp_path)
    # complete as alft judges it: trainer_state.json exists from the moment the trainer opens it, and a Ctrl-C
    # while it is still empty rightly leaves "no complete checkpoint"
    _wait_for(proc, lambda: is_complete(run / "checkpoint-1", "trainer_state.json"), "checkpoint-1")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground process group
    stderr = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and not (run / "metrics.json").exists()
    [line] = [line for line in stderr.splitlines() if line.startswith("alft:")]
    assert line == f"alft: interrupted; checkpoints in {run} are intact; resume with: alft train resume={run}"

    alft("train", f"resume={run}", cwd=tmp_path)
    _assert_each_step_logged_once(run)
    _assert_same_weights(run, reference)


def test_ctrl_c_during_eval_keeps_finished_prompts_and_resumes(tmp_path):
    run = tmp_path / "eval"
    args = ["model=tiny", "eval.limit=12", "eval.chunk=1", "eval.max_new_tokens=24", f"hydra.run.dir={run}"]
    proc = _start("eval", *args, cwd=tmp_path)
    cache = run / "completions.partial.jsonl"
    _wait_for(proc, lambda: cache.is_file() and cache.read_text().count("\n") >= 1, "a finished prompt")
    os.killpg(proc.pid, signal.SIGINT)
    stderr = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
    [line] = [line for line in stderr.splitlines() if line.startswith("alft:")]
    assert line == f"alft: interrupted; finished prompts are saved in {run}; resume with: alft eval resume={run}"
    assert not (run / "metrics.json").exists()
    alft("eval", f"resume={run}", cwd=tmp_path)
    assert json.loads((run / "metrics.json").read_text())["n_problems"] == 12


def test_ctrl_c_during_sample_is_one_line(tmp_path):
    run = tmp_path / "sample"
    proc = _start("sample", "model=tiny", "sample.limit=40", "sample.max_new_tokens=32", f"hydra.run.dir={run}",
                  cwd=tmp_path)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    # mid-generation (a SIGINT that lands in a finalizer during start-up is swallowed by Python itself)
    _wait_for(proc, lambda: "generating:" in "".join(stderr), "generation")
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=300)
    reader.join(timeout=60)
    text = "".join(stderr)
    assert proc.returncode == 130 and "Traceback" not in text, text[-2000:]
    assert [line for line in text.splitlines() if line.startswith("alft:")] == [
        f"alft: interrupted; alft sample in {run} did not finish"]
