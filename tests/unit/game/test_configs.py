"""conf/objective/*.yaml: one per objective, the documented layout, and each builds its objective."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from alft_cli.game import get_objective

CONF = Path(__file__).resolve().parents[3] / "conf" / "objective"
REQUIRED = [
    "correctness",
    "entropy",
    "gini",
    "sharpen",
    "majority",
    "match",
    "coherence",
    "pairwise",
    "constraint",
    "random",
    "coherence_correctness",
    "entropy_correctness",
]
FILES = sorted(CONF.glob("*.yaml"))


def test_every_objective_has_a_config():
    assert {p.stem for p in FILES} >= set(REQUIRED)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_config_layout_and_objective(path):
    text = path.read_text()
    assert text.startswith("# ")  # one-line description first
    # multi-variant objectives also set the run's top-level `transforms`, so they are global packages
    run = yaml.safe_load(text) if text.startswith("# @package _global_\n") else {"objective": yaml.safe_load(text)}
    assert set(run) <= {"objective", "transforms"}
    # resolved as Hydra does, inside the run's config: `${seed}` is the run's seed
    run = OmegaConf.to_container(OmegaConf.create({"seed": 7, **run}), resolve=True)
    cfg = run["objective"]
    assert set(cfg) == {"name", "params", "correctness_weight", "answer_weight"}
    obj = get_objective(cfg["name"], **cfg["params"])
    assert obj.name == cfg["name"]
    if cfg["name"] == "random":
        assert obj.seed == 7
    groups = [["1", "2", "2", None]] * (len(run.get("transforms", [])) or 1)
    correct = [[1.0, 0.0, 0.0, 0.0]] * len(groups)
    rewards = obj.rewards(groups, correct, cfg["correctness_weight"], cfg["answer_weight"])
    assert len(rewards) == len(groups) and all(len(r) == 4 for r in rewards)
    assert min(rewards[0]) == rewards[0][3]  # the unparsed sample is lowest
    if "transforms" in run:
        assert obj.multi_variant and len(run["transforms"]) >= 2
