"""alft_cli.validate: every option of train/eval/sample checked up front, each failure one line naming its key."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli.cli import conf_dir
from alft_cli.errors import UserError
from alft_cli.validate import check_eval, check_sample, check_train

FIXED = {"output_dir": "/tmp/alft-validate", "seed": 0, "use_cpu": True}


def _cfg(command: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name=command, overrides=overrides)


def _check(command: str, overrides: list[str]):
    cfg = _cfg(command, overrides)
    if command == "train":
        return check_train(cfg, **FIXED)
    return check_eval(cfg) if command == "eval" else check_sample(cfg)


@pytest.mark.parametrize(("command", "overrides", "message"), [
    ("train", ["trainer.max_steps=abc"], r"^trainer.max_steps='abc' must be an integer$"),
    ("train", ["trainer.max_steps=0"], r"^trainer.max_steps=0 must be >= 1"),
    ("train", ["trainer.temperature=0"], r"^trainer.temperature=0 must be > 0"),
    ("train", ["trainer.beta=-1"], r"^trainer.beta=-1 must be >= 0"),
    ("train", ["trainer.learning_rate=abc"], r"^trainer.learning_rate='abc' must be a number$"),
    ("train", ["+trainer.foo=1"], r"^trainer.foo is not a CoherenceGRPOConfig option"),
    ("train", ["trainer._target_=trl.GRPOConfig"], r"^trainer._target_='trl.GRPOConfig' must be"),
    ("train", ["trainer.num_generations=3"], r"^trainer: generation_batch_size \(16\) must be divisible"),
    ("train", ["trainer.num_generations=8"], r"does not hold whole problems of 4 variants × 8 generations"),
    ("train", ["trainer.scale_rewards=group"], r"^trainer.scale_rewards='group': answer-level objectives need"),
    ("train", ["+trainer.multi_objective_aggregation=normalize_then_sum"], r"^trainer.multi_objective_aggregation="),
    ("train", ["objective.params.smoothing=-1"], r"^objective.params: coherence: smoothing must be"),
    ("train", ["+objective.params.foo=1"], r"^objective.params.foo is not a parameter of coherence"),
    ("train", ["transforms=[bogus]"], r"^transforms: unknown transform 'bogus'"),
    ("train", ["transforms=identity"], r"^transforms='identity' must be a non-empty list"),
    ("train", ["objective.answer_weight=nan"], r"^objective.answer_weight=nan must be a finite number"),
    ("train", ["+objective.foo=1"], r"^objective.foo is not an objective option"),
    ("train", ["objective=correctness", "+objective.answer_weight=1"], r"^objective.answer_weight: correctness"),
    ("train", ["heldout.limit=-1"], r"^heldout.limit=-1 must be an integer >= 0"),
    ("train", ["dataset.split_by=bogus"], r"^dataset.split_by='bogus' is not one of"),
    ("eval", ["dataset.heldout_share=1.5"], r"^dataset.heldout_share=1.5 must be between 0 and 1"),
    ("train", ["heldout.batch_size=0"], r"^heldout.batch_size=0 must be an integer >= 1"),
    ("eval", ["eval.n=abc"], r"^eval.n='abc' must be an integer >= 1$"),
    ("eval", ["eval.k=4"], r"^eval.k=\[4\] needs eval.n >= 4"),
    ("eval", ["eval.k=[1,x]"], r"^eval.k='x' must be an integer"),
    ("eval", ["eval.limit=-1"], r"^eval.limit=-1 must be an integer >= 1 or null \(all problems\)"),
    ("eval", ["eval.limit=0"], r"^eval.limit=0 must be an integer >= 1 or null"),
    ("eval", ["eval.temperature=-1"], r"^eval.temperature=-1 must be a finite number >= 0"),
    ("eval", ["eval.top_p=0"], r"^eval.top_p=0 must be a finite number > 0 and <= 1"),
    ("eval", ["transforms=[bogus]"], r"^transforms: unknown transform"),
    ("eval", ["eval.split=test"], r"^eval.split='test' is not one of: train, heldout"),
    ("eval", ["eval.n=2"], r"^eval.n=2 with eval.temperature=0"),
    ("eval", ["model.dtype=fp16"], r"^model.dtype='fp16' is not one of: float32, bfloat16, float16, auto$"),
    ("train", ["model.dtype=half"], r"^model.dtype='half' is not one of"),
    ("sample", ["model.dtype=int8"], r"^model.dtype='int8' is not one of"),
    ("sample", ["sample.n=abc"], r"^sample.n='abc' must be an integer >= 1$"),
    ("sample", ["sample.limit=0"], r"^sample.limit=0 must be an integer >= 1 or null"),
    ("sample", ["transforms=[]"], r"^transforms=\[\] must be a non-empty list"),
    ("sample", ["sample.max_new_tokens=0"], r"^sample.max_new_tokens=0 must be an integer >= 1"),
])
def test_bad_options_are_one_line_errors_naming_the_key(command, overrides, message):
    with pytest.raises(UserError, match=message) as info:
        _check(command, overrides)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("G", [16, 32])
def test_unbounded_minimax_table_is_refused_where_it_explodes(G):
    geometry = [f"trainer.num_generations={G}", f"trainer.per_device_train_batch_size={G}"]
    _, args = _check("train", ["objective=entropy_correctness", *geometry])  # bounded by default: fine
    assert args.num_generations == G
    with pytest.raises(UserError, match=rf"^objective.params.table_bound=null with estimator=minimax at .*={G}"):
        _check("train", ["objective=entropy_correctness", "objective.params.table_bound=null", *geometry])
    _check("train", ["objective=entropy_correctness", "objective.params.table_bound=null",
                     "trainer.num_generations=8", "trainer.per_device_train_batch_size=8"])  # small G: allowed


def test_good_options_pass_and_give_what_the_commands_use():
    _, args = _check("train", ["objective=coherence_correctness"])
    assert args.num_variants == 4
    assert args.reward_weights == [0.5, 1.0] and args.output_dir == FIXED["output_dir"]
    _, args = _check("train", ["objective=correctness", "objective.correctness_weight=2.0"])
    assert args.reward_weights == [2.0] and args.num_variants == 1
    assert _check("train", ["trainer.max_steps=-1"])[1].max_steps == -1  # -1: train for num_train_epochs
    assert _check("eval", ["eval.k=[1,4]", "eval.n=4", "eval.temperature=1.0", "eval.limit=null"]) == [1, 4]
    assert _check("eval", ["eval.completions_file=x.jsonl", "eval.k=8"]) == [8]  # no sampling: n is not read
    _check("sample", ["sample.limit=null"])
