"""conf/objective/*.yaml and their one reader, `ObjectiveConfig`: every key read, weights only in TRL's reward_weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from alft_cli.errors import UserError
from alft_cli.game import OBJECTIVES
from alft_cli.validate import ObjectiveConfig

CONF = Path(__file__).resolve().parents[2] / "conf" / "objective"
FILES = sorted(CONF.glob("*.yaml"))


def _objective(text: str) -> tuple[dict, list | None]:
    """The `objective` node of a config file and the `transforms` it sets (`_global_` files set both)."""
    raw = yaml.safe_load(text)
    if text.startswith("# @package _global_"):
        return raw["objective"], raw.get("transforms")
    return raw, None


def _read(text_or_dict, seed: int = 7) -> ObjectiveConfig:
    raw = _objective(text_or_dict)[0] if isinstance(text_or_dict, str) else text_or_dict
    # resolved as Hydra does, inside the run's config: `${seed}` is the run's seed
    return ObjectiveConfig.read(OmegaConf.create({"seed": seed, "objective": raw}).objective)


def test_every_objective_has_a_config():
    assert {p.stem for p in FILES} >= set(OBJECTIVES) | {"coherence_correctness", "entropy_correctness"}
    assert "constraint" not in {p.stem for p in FILES}  # safety and fairness are separate objectives


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_config_is_read_whole_and_builds_its_objective(path):
    text = path.read_text()
    assert text.startswith("# ")  # one-line description first
    node, transforms = _objective(text)
    raw = OmegaConf.to_container(OmegaConf.create({"seed": 7, "objective": node}), resolve=True)["objective"]
    ocfg = _read(text)
    obj = ocfg.build()
    weights = dict(ocfg.components())
    if raw["name"] == "correctness":
        assert obj is None and set(raw) == {"name", "correctness_weight"} and weights == {"correctness": 1.0}
        return
    assert obj.name == raw["name"] and dict(ocfg.params) == raw["params"]
    assert weights["answer_level"] == raw["answer_weight"]
    assert weights.get("correctness", 0.0) == raw["correctness_weight"]
    if raw["name"] == "random":
        assert obj.seed == 7
    assert "transforms" not in raw  # the prompts are the top-level `transforms`
    if transforms is not None:
        assert obj.multi_variant and len(transforms) >= 2


def test_correctness_honours_its_weight():
    ocfg = _read({"name": "correctness", "correctness_weight": 2.0})
    assert ocfg.components() == [("correctness", 2.0)]


def test_mixture_weights_are_trl_reward_weights():
    ocfg = _read({"name": "coherence", "params": {}, "answer_weight": 0.5, "correctness_weight": 1.5})
    assert ocfg.components() == [("answer_level", 0.5), ("correctness", 1.5)]
    assert _read({"name": "entropy", "answer_weight": 2.0}).components() == [("answer_level", 2.0)]


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "correctness", "params": {"estimator": "plugin"}}, r"objective.params.estimator: correctness takes no"),
    ({"name": "correctness", "answer_weight": 0.0, "correctness_weight": 1.0}, r"^objective.answer_weight:"),
    ({"name": "correctness", "correctness_weight": 0.0}, "without a reward"),
    ({"name": "entropy", "weight": 1.0}, r"^objective.weight is not an objective option"),
    ({"name": "constraint"}, r"objective.name='constraint' is not one of: .*safety, fairness"),
    ({"name": "safety", "params": {"kind": "safety", "cost": {}}}, r"^objective.params.kind is not a parameter of safety"),
    ({"name": "majority", "params": {"estimator": "plugin"}}, r"^objective.params.estimator is not a parameter"),
    ({"name": "coherence", "params": {"smoothing": -1}}, r"^objective.params: coherence: smoothing"),
    ({"name": "entropy", "answer_weight": float("nan")}, r"^objective.answer_weight=nan must be a finite number"),
    ({"name": "entropy", "answer_weight": "abc"}, r"^objective.answer_weight='abc'"),
    ({"name": "entropy", "correctness_weight": -1}, r"^objective.correctness_weight=-1"),
    ({"name": "entropy", "answer_weight": 0, "correctness_weight": 0}, "both 0"),
    ({"name": "coherence", "transforms": ["identity"]}, r"^objective.transforms is not an objective option"),
])
def test_reader_rejects_what_it_does_not_use_or_understand(raw, message):
    with pytest.raises(UserError, match=message) as info:
        _read(raw)
    assert "\n" not in str(info.value)
