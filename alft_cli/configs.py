"""Where the Hydra configs live (`conf/`), and their groups' options."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def conf_dir() -> Path:
    """`conf/` next to the package (source checkout, editable install) or shipped inside it (wheel)."""
    source = Path(__file__).resolve().parent.parent / "conf"
    if (source / "train.yaml").is_file():
        return source
    return Path(str(importlib.resources.files("alft_cli.conf")))


def group_choices(group: str) -> list[str]:
    """The options of a config group: `conf/<group>/*.yaml` without the suffix, sorted."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
