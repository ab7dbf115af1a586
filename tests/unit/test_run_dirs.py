"""Run directories: one per run (even within a second), never another run's unless resuming, never one another
process is running in; `resume=`; Ctrl-C."""

from __future__ import annotations

import multiprocessing
import os

import pytest
import yaml
from omegaconf import OmegaConf

from alft_cli import runs
from alft_cli.cli import conf_dir, refuse_busy_run_dir
from alft_cli.errors import UserError
from alft_cli.runs import check_run_dir, interrupted_message, resume_overrides, run_dir_lock, unique_dir


def _claim(path: str) -> str:
    return unique_dir(path)


def test_processes_claiming_the_same_second_get_directories_of_their_own(tmp_path):
    target = str(tmp_path / "outputs" / "train" / "2030-01-02" / "03-04-05")
    with multiprocessing.get_context("fork").Pool(3, maxtasksperchild=1) as pool:  # one claim per process
        dirs = pool.map(_claim, [target] * 3, chunksize=1)
    assert sorted(dirs) == [target, f"{target}_2", f"{target}_3"]
    assert unique_dir(target) == f"{target}_4" == unique_dir(target)  # one directory per process and pattern


def test_default_run_dir_pattern_goes_through_the_resolver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs, "_claimed", {})
    pattern = yaml.safe_load((conf_dir() / "hydra" / "default.yaml").read_text())["run"]["dir"]
    OmegaConf.register_new_resolver(runs.UNIQUE_DIR_RESOLVER, unique_dir, replace=True)
    cfg = OmegaConf.create({"dir": pattern.replace("${now:%Y-%m-%d}", "d").replace("${now:%H-%M-%S}", "t")
                            .replace("${hydra:job.name}", "train")})
    (tmp_path / "outputs" / "train" / "d" / "t").mkdir(parents=True)  # another run started this second
    assert cfg.dir == "outputs/train/d/t_2" and (tmp_path / "outputs/train/d/t_2").is_dir()
    # (every process of a distributed launch shares one directory: tests/unit/test_scale.py)


def _cfg(resume=None):
    return OmegaConf.create({"trainer": {"resume_from_checkpoint": resume}})


def test_a_run_directory_holding_another_run_is_refused(tmp_path):
    out = tmp_path / "run"
    (out / ".hydra").mkdir(parents=True)
    (out / "train.log").write_text("")
    (out / "stdout.log").write_text("")
    check_run_dir("train", _cfg(), out)  # Hydra's own files and logs of this launch: fresh
    (out / "config.yaml").write_text("")
    (out / "metrics.json").write_text("{}")
    for command in ("train", "eval", "sample"):
        with pytest.raises(UserError, match=f"run directory {out} already holds another run "
                                            r"\(config.yaml, metrics.json\).*choose a new hydra.run.dir"):
            check_run_dir(command, _cfg(), out)
    check_run_dir("train", _cfg("true"), out)  # resuming
    (out / "0-tiny").mkdir()
    (out / "0-tiny" / "completions.meta.json").write_text("{}")
    check_run_dir("eval", _cfg(), out)  # an eval over its own completions cache
    with pytest.raises(UserError, match="already holds another run"):
        check_run_dir("sample", _cfg(), out)


def _hold_lock(out, held, release) -> None:
    with run_dir_lock(out):
        held.set()
        release.wait(60)


def test_a_run_directory_in_use_by_a_live_process_is_refused(tmp_path):
    """A second `alft train resume=…` beside the first would truncate its log and interleave checkpoints."""
    out = tmp_path / "run"
    ctx = multiprocessing.get_context("fork")
    for ending in ("ends", "is killed"):
        held, release = ctx.Event(), ctx.Event()
        holder = ctx.Process(target=_hold_lock, args=(out, held, release))
        holder.start()
        assert held.wait(30)
        in_use = rf"^run directory {out} is in use by another alft process \(pid {holder.pid}\); wait for it"
        with pytest.raises(UserError, match=in_use), run_dir_lock(out):
            raise AssertionError("entered a directory in use")
        with pytest.raises(UserError, match=in_use):  # alft's command line, before Hydra writes into it
            refuse_busy_run_dir(["model=tiny", f"hydra.run.dir={out}"])
        refuse_busy_run_dir(["-m", f"hydra.run.dir={out}"])  # a sweep does not use hydra.run.dir
        if ending == "ends":
            release.set()
        else:
            holder.kill()  # SIGKILL: the OS drops the lock with the process
        holder.join(30)
        with run_dir_lock(out):  # free again
            assert (out / runs.LOCK_FILE).read_text() == f"{os.getpid()}\n"
    check_run_dir("train", _cfg(), out)  # the lock file alone is no other run


def test_resume_reapplies_the_runs_own_overrides(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["model=tiny", "trainer.max_steps=4", f"hydra.run.dir={run}", "+objective.params.x=1"]))
    assert resume_overrides("train", [f"resume={run}", "trainer.max_steps=8"]) == [
        "model=tiny", "+objective.params.x=1", "trainer.max_steps=8", f"hydra.run.dir={run}",
        "trainer.resume_from_checkpoint=true"]
    assert resume_overrides("eval", [f"resume={run}"])[-1] == f"hydra.run.dir={run}"
    assert resume_overrides("train", ["model=tiny"]) == ["model=tiny"]
    with pytest.raises(UserError, match="alft sample does not resume"):
        resume_overrides("sample", [f"resume={run}"])
    with pytest.raises(UserError, match="not a run directory of alft"):
        resume_overrides("train", [f"resume={tmp_path}"])


def test_interrupted_message_says_what_is_kept(tmp_path):
    assert "holds no complete checkpoint" in interrupted_message("train", tmp_path)
    checkpoint = tmp_path / "checkpoint-3"
    checkpoint.mkdir()
    for name in ("model.safetensors", "trainer_state.json"):
        (checkpoint / name).write_text("{}")
    assert interrupted_message("train", tmp_path) == (
        f"alft: interrupted; checkpoints in {tmp_path} are intact; resume with: alft train resume={tmp_path}")
    (tmp_path / "completions.partial.jsonl").write_text("")
    assert interrupted_message("eval", tmp_path).endswith(f"resume with: alft eval resume={tmp_path}")
    assert interrupted_message("sample", tmp_path).startswith("alft: interrupted;")
