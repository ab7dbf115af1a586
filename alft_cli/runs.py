"""Run-directory plumbing shared by the commands: paths, seeds, config/metrics files, RSS (no torch at import)."""

from __future__ import annotations

import json
import os
import random
import resource
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


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


def peak_rss_gb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
