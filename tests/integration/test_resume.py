"""A run killed with SIGKILL after a checkpoint resumes to the same final step, no step lost or repeated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.integration.test_cli import ALFT, alft

pytestmark = pytest.mark.slow
ARGS = ["model=tiny", "dataset.train_size=64", "heldout.size=2", "heldout.max_new_tokens=4",
        "trainer.max_steps=20", "trainer.max_completion_length=48", "trainer.save_strategy=steps",
        "trainer.save_steps=2", "trainer.save_total_limit=2"]


def test_sigkill_then_resume(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([ALFT, "train", *ARGS, f"hydra.run.dir={run}"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not list(run.glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        assert proc.poll() is None, "the training run exited before writing a checkpoint"
        time.sleep(0.01)
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "metrics.json").exists(), "the run finished before it could be killed"
    killed_at = max(int(p.name.split("-")[1]) for p in run.glob("checkpoint-*"))
    assert killed_at < 20

    alft("train", *ARGS, "trainer.resume_from_checkpoint=true", f"hydra.run.dir={run}", cwd=tmp_path)
    assert json.loads((run / "metrics.json").read_text())["steps"] == 20
    state = json.loads((run / "checkpoint-20" / "trainer_state.json").read_text())
    steps = [row["step"] for row in state["log_history"] if "loss" in row]
    assert steps == list(range(1, 21))
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "loss" in row] == list(range(1, 21))
