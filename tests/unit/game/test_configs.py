"""conf/objective/*.yaml: one per objective, the documented layout, and each builds its objective."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
    cfg = yaml.safe_load(text)
    assert {"name", "params", "correctness_weight", "answer_weight"} <= set(cfg)
    assert set(cfg) - {"name", "params", "correctness_weight", "answer_weight"} <= {"transforms"}
    obj = get_objective(cfg["name"], **cfg["params"])
    assert obj.name == cfg["name"]
    groups = [["1", "2", "2", None]] * (len(cfg.get("transforms", [])) or 1)
    correct = [[1.0, 0.0, 0.0, 0.0]] * len(groups)
    rewards = obj.rewards(groups, correct, cfg["correctness_weight"], cfg["answer_weight"])
    assert len(rewards) == len(groups) and all(len(r) == 4 for r in rewards)
    assert min(rewards[0]) == rewards[0][3]  # the unparsed sample is lowest
    if "transforms" in cfg:
        assert obj.multi_variant and len(cfg["transforms"]) >= 2
