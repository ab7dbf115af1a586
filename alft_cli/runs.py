"""Run-directory plumbing shared by the commands: paths, seeds, config/metrics files, RSS (no torch at import)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alft_cli.errors import UserError


def run_dir() -> Path:
    """The Hydra run (or multirun job) directory; the working directory outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def is_main_process() -> bool:
    """Rank 0 of a distributed run (also before accelerate's state exists), or a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_config(cfg: DictConfig, out: Path) -> None:
    """The resolved config of this run, as `config.yaml` in its directory."""
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))


UNIQUE_DIR_RESOLVER = "alft_unique_dir"
_claimed: dict[str, str] = {}


def unique_dir(path: str) -> str:
    """`path`, or `path_2`, `path_3`, …: the first this process creates (an atomic mkdir), so that runs started
    in the same second get directories of their own (the `alft_unique_dir` resolver of conf/hydra/default.yaml).
    The same `path` gives the same directory for the rest of the process."""
    if path not in _claimed:
        base = Path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        for i in itertools.count(1):
            candidate = base if i == 1 else base.with_name(f"{base.name}_{i}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            _claimed[path] = str(candidate)
            break
    return _claimed[path]


LOCK_FILE = ".alft.lock"  # in a run directory: held by the alft process running there


@contextlib.contextmanager
def run_dir_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run directory `out` while the block runs; refuse one that another live alft
    process holds (two trainings in one directory would interleave its checkpoints and truncate its log). An
    advisory `flock` on `out/.alft.lock` that the OS releases when its holder exits, however it exits."""
    if not is_main_process():
        yield
        return
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            raise UserError(f"run directory {out} is in use by another alft process"
                            f"{f' (pid {holder})' if holder.isdigit() else ''}; wait for it to end or stop it "
                            "before resuming, or choose a new hydra.run.dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_run_dir(command: str, cfg: DictConfig, out: Path) -> None:
    """Refuse a run directory that holds another run's files (anything but Hydra's `.hydra/`, logs and the lock)
    unless this run resumes it: `alft train` with `trainer.resume_from_checkpoint`, `alft eval` over its
    completions cache."""
    if not is_main_process() or not out.is_dir():
        return
    found = sorted(p.name for p in out.iterdir() if p.name not in (".hydra", LOCK_FILE) and p.suffix != ".log")
    if not found:
        return
    if command == "train" and cfg.trainer.get("resume_from_checkpoint") not in (None, False, "false"):
        return
    if command == "eval" and ((out / "completions.meta.json").is_file() or any(out.glob("*/completions.meta.json"))):
        return
    how = {"train": f"resume it with `alft train resume={out}` or ",
           "eval": "an eval resumes only over its own completions cache; "}.get(command, "")
    raise UserError(f"run directory {out} already holds another run ({', '.join(found[:3])}"
                    f"{', …' if len(found) > 3 else ''}); {how}choose a new hydra.run.dir")


RESUMABLE = ("train", "eval")


def resume_overrides(command: str, args: list[str]) -> list[str]:
    """`resume=<run dir>` becomes that run's own overrides (its `.hydra/overrides.yaml`; `args` override them
    key by key) with `hydra.run.dir=<run dir>` and, for `alft train`, `trainer.resume_from_checkpoint=true`."""
    given = [a for a in args if a.startswith("resume=")]
    if not given:
        return args
    run = Path(given[-1].partition("=")[2]).expanduser()
    if command not in RESUMABLE:
        raise UserError(f"alft {command} does not resume (resume= works with: {', '.join(RESUMABLE)})")
    file = run / ".hydra" / "overrides.yaml"
    if not file.is_file():
        raise UserError(f"resume={run}: not a run directory of alft (no {file.relative_to(run)})")
    import yaml

    rest = [a for a in args if not a.startswith("resume=")]
    replaced = {_override_key(a) for a in rest} | {"hydra.run.dir", "trainer.resume_from_checkpoint"}
    saved = [str(o) for o in yaml.safe_load(file.read_text()) or [] if _override_key(str(o)) not in replaced]
    extra = ["trainer.resume_from_checkpoint=true"] if command == "train" else []
    return [*saved, *rest, f"hydra.run.dir={run}", *extra]


def _override_key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def interrupted_message(command: str, out: Path) -> str:
    """The one line `alft` prints when Ctrl-C stops a command: what is kept and how to go on."""
    if command == "train":
        from alft_cli.models import newest_checkpoint

        checkpoint = newest_checkpoint(out, "trainer_state.json")
        if checkpoint is None:
            return (f"alft: interrupted; {out} holds no complete checkpoint (save some with "
                    "trainer.save_strategy=steps trainer.save_steps=N)")
        return f"alft: interrupted; checkpoints in {out} are intact; resume with: alft train resume={out}"
    if command == "eval" and any(out.glob("**/completions.partial.jsonl")):
        return f"alft: interrupted; finished prompts are saved in {out}; resume with: alft eval resume={out}"
    return f"alft: interrupted; alft {command} in {out} did not finish"


def peak_rss_gb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
