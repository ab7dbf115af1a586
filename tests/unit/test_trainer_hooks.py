"""The TRL surface CoherenceGRPOTrainer relies on, and the variant-block sampler's layout."""

from __future__ import annotations

import inspect
from collections import Counter

import trl
from trl import GRPOTrainer

from alft_cli.trainer import OVERRIDDEN_HOOKS, CoherenceGRPOConfig, CoherenceGRPOTrainer, VariantBlockSampler


def test_trl_is_the_tested_minor_version():
    assert trl.__version__.startswith("1.16."), f"alft is tested with TRL 1.16, found {trl.__version__}"


def test_overridden_hooks_still_exist_in_trl():
    for hook in OVERRIDDEN_HOOKS:
        assert hasattr(GRPOTrainer, hook), f"TRL's GRPOTrainer no longer has {hook}"
        ours = inspect.signature(getattr(CoherenceGRPOTrainer, hook))
        theirs = inspect.signature(getattr(GRPOTrainer, hook))
        assert list(ours.parameters) == list(theirs.parameters), hook
    # The log hook reads TRL's per-generation-batch mean completion length (alft_cli.telemetry).
    assert '_metrics[mode]["completions/mean_length"].append' in inspect.getsource(GRPOTrainer._generate)


def _args(tmp_path, **kwargs) -> CoherenceGRPOConfig:
    base = {"output_dir": str(tmp_path), "use_cpu": True, "bf16": False, "activation_checkpointing": False,
            "max_completion_length": 4, "report_to": [], "seed": 0, "beta": 0.1, "scale_rewards": "none"}
    return CoherenceGRPOConfig(**{**base, **kwargs})


def test_dataloader_generation_batches_hold_every_variant_of_a_problem(tmp_path):
    """Behavioural: the batches TRL's own dataloader hands to generation, not the sampler alone."""
    import datasets
    from omegaconf import OmegaConf

    from alft_cli.cli import conf_dir
    from alft_cli.models import load_model_and_tokenizer, resolve_model
    from alft_cli.rewards import CorrectnessReward

    m, G = 3, 2
    model, tokenizer = load_model_and_tokenizer(resolve_model(OmegaConf.load(conf_dir() / "model" / "tiny.yaml")))
    args = _args(tmp_path, num_variants=m, num_generations=G, per_device_train_batch_size=6,
                 gradient_accumulation_steps=2, num_iterations=2)  # generation batch: 12 rows = 2 problems
    rows = [{"prompt": [{"role": "user", "content": f"{p}+{j}?"}], "uid": f"p{p}", "variant": j, "gold": "1"}
            for p in range(5) for j in range(m)]
    trainer = CoherenceGRPOTrainer(model=model, args=args, reward_funcs=[CorrectnessReward()],
                                   train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer)
    batches = list(trainer.get_train_dataloader())
    assert len(batches) == 2 * args.steps_per_generation * args.num_iterations  # 5 problems -> 2 whole batches
    seen = set()
    for batch in batches:
        keys = [(row["uid"], row["variant"]) for row in batch]
        assert len(keys) == args.generation_batch_size
        counts = Counter(keys)
        problems = {uid for uid, _ in keys}
        assert len(problems) == 2 and set(counts.values()) == {G}
        assert set(counts) == {(uid, j) for uid in problems for j in range(m)}  # every variant of each problem
        assert all(len(set(keys[k:k + G])) == 1 for k in range(0, len(keys), G))  # TRL's groups by position
        seen |= problems
    assert len(seen) == 4


def test_trainer_refuses_what_would_silently_break_the_variant_blocks(tmp_path):
    import datasets
    import pytest
    from trl import GRPOConfig

    from alft_cli.errors import UserError
    from alft_cli.game import get_objective
    from alft_cli.rewards import AnswerLevelReward, CorrectnessReward

    rows = [{"prompt": "1+1?", "uid": "a", "variant": 0, "gold": "2"}] * 4
    with pytest.raises(TypeError, match="IterableDataset"):
        CoherenceGRPOTrainer(model=None, args=_args(tmp_path, num_generations=2, per_device_train_batch_size=2),
                             reward_funcs=[CorrectnessReward()],
                             train_dataset=datasets.Dataset.from_list(rows).to_iterable_dataset())
    with pytest.raises(TypeError, match="CoherenceGRPOConfig"):
        CoherenceGRPOTrainer(model=None, args=GRPOConfig(output_dir=str(tmp_path), use_cpu=True),
                             reward_funcs=[CorrectnessReward()])
    answer_level = AnswerLevelReward(get_objective("entropy"), num_generations=2)
    for bad, key in [({"scale_rewards": "group"}, "scale_rewards"),
                     ({"multi_objective_aggregation": "normalize_then_sum"}, "multi_objective_aggregation")]:
        args = _args(tmp_path, num_generations=2, per_device_train_batch_size=2, **bad)
        with pytest.raises(UserError, match=f"trainer.{key}="):
            CoherenceGRPOTrainer(model=None, args=args, reward_funcs=[answer_level])


def test_sampler_keeps_all_variants_of_a_problem_in_one_generation_batch():
    m, G, problems_per_batch = 3, 4, 2
    sampler = VariantBlockSampler(n_rows=5 * m, num_variants=m, num_generations=G,
                                  rows_per_batch=problems_per_batch * m, repeat_count=2, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == 2 * problems_per_batch * m * G * 2  # 5 problems -> 2 full batches
    batch = problems_per_batch * m * G
    for start in range(0, len(order), batch * 2):
        first, second = order[start:start + batch], order[start + batch:start + 2 * batch]
        assert first == second  # repeat_count: the same generation batch is reused
        counts = Counter(first)
        assert set(counts.values()) == {G}
        problems = {row // m for row in counts}
        assert len(problems) == problems_per_batch
        assert set(counts) == {p * m + j for p in problems for j in range(m)}
        for k in range(0, batch, G):  # TRL's advantage groups (by position) are single (problem, variant)s
            assert len(set(first[k:k + G])) == 1


def test_sampler_with_one_variant_matches_trl_repeat_sampler():
    from trl.trainer.utils import RepeatSampler

    ours = VariantBlockSampler(n_rows=7, num_variants=1, num_generations=2, rows_per_batch=3, repeat_count=2,
                               seed=3)
    theirs = RepeatSampler(list(range(7)), mini_repeat_count=2, batch_size=3, repeat_count=2, seed=3)
    assert list(ours) == list(theirs)


def test_sampler_rejects_batches_that_split_a_problem():
    import pytest

    with pytest.raises(ValueError, match="multiple of num_variants"):
        VariantBlockSampler(n_rows=8, num_variants=2, num_generations=4, rows_per_batch=3)
