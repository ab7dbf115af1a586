"""Through the real `alft` command: a bad option is one `alft: error:` line, before any model or dataset loads.

The model and dataset named here do not exist, so loading either first would fail with *their* error;
the line must name the bad option instead (and the model cache stays empty).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ALFT = shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"
NOWHERE = ["model=hub", "model.name_or_path=/nonexistent/model", "dataset=jsonl",
           "dataset.path=/nonexistent/data.jsonl"]


@pytest.mark.parametrize(("command", "option", "message"), [
    ("train", "trainer.max_steps=abc", "alft: error: trainer.max_steps='abc' must be an integer"),
    ("eval", "eval.k=4", "alft: error: eval.k=[4] needs eval.n >= 4"),
])
def test_bad_option_fails_first_in_one_line(command, option, message, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = subprocess.run([ALFT, command, *NOWHERE, option, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "ALFT_CACHE": str(cache), "PYTHONWARNINGS": "ignore"})
    lines = [line for line in proc.stderr.splitlines() if line.startswith("alft: error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[0].startswith(message), lines[0]
    assert not any(cache.iterdir())  # no model was built or converted


def test_a_run_directory_in_use_is_refused_before_anything_loads(tmp_path):
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".alft.lock", "w") as lock:  # as a live `alft train` in that directory holds it
        lock.write("4242\n")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([ALFT, "train", *NOWHERE, f"hydra.run.dir={run}", "trainer.resume_from_checkpoint=true"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"alft: error: run directory {run} is in use by another alft process (pid 4242)" in proc.stderr
    assert [p.name for p in run.iterdir()] == [".alft.lock"]  # refused before Hydra wrote .hydra/ or its log
