"""The TRL surface CoherenceGRPOTrainer relies on, and the variant-block sampler's layout."""

from __future__ import annotations

import inspect
from collections import Counter

import trl
from trl import GRPOTrainer

from alft_cli.trainer import OVERRIDDEN_HOOKS, CoherenceGRPOTrainer, VariantBlockSampler


def test_trl_is_the_tested_minor_version():
    assert trl.__version__.startswith("1.16."), f"alft is tested with TRL 1.16, found {trl.__version__}"


def test_overridden_hooks_still_exist_in_trl():
    for hook in OVERRIDDEN_HOOKS:
        assert hasattr(GRPOTrainer, hook), f"TRL's GRPOTrainer no longer has {hook}"
        ours = inspect.signature(getattr(CoherenceGRPOTrainer, hook))
        theirs = inspect.signature(getattr(GRPOTrainer, hook))
        assert list(ours.parameters) == list(theirs.parameters), hook
    # Attributes the sampler hook reads from the trainer.
    source = inspect.getsource(GRPOTrainer._get_train_sampler)
    for attr in ("num_generations", "generation_batch_size", "num_iterations", "steps_per_generation",
                 "shuffle_dataset"):
        assert attr in source, attr
    assert "log_metric" in inspect.getsource(GRPOTrainer._calculate_rewards)


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
