"""CoherenceGRPOTrainer: TRL's GRPOTrainer with every variant of a problem in the same generation batch.

The answer-level reward itself is an ordinary TRL reward function (`alft_cli.rewards`); the only hook
overridden here is `_get_train_sampler`, so that the m transformed prompts of one problem, each repeated
G times, land together in one generation batch and the consensus sees all m×G answers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler
from trl import GRPOTrainer

OVERRIDDEN_HOOKS = ("_get_train_sampler",)


class VariantBlockSampler(Sampler[int]):
    """Like TRL's RepeatSampler, but shuffles *problems* and keeps their m variant rows adjacent.

    The dataset is laid out problem-major: row `p * m + j` is variant j of problem p.
    """

    def __init__(self, n_rows: int, num_variants: int, num_generations: int, rows_per_batch: int,
                 repeat_count: int = 1, shuffle: bool = True, seed: int = 0):
        if n_rows % num_variants:
            raise ValueError(f"{n_rows} dataset rows are not a whole number of {num_variants}-variant problems")
        if rows_per_batch % num_variants:
            raise ValueError(
                f"a generation batch holds {rows_per_batch} prompts, not a multiple of the {num_variants} variants "
                "of a problem: make generation_batch_size a multiple of num_variants × num_generations"
            )
        self.n_problems = n_rows // num_variants
        self.m, self.G, self.repeat_count, self.shuffle = num_variants, num_generations, repeat_count, shuffle
        self.problems_per_batch = rows_per_batch // num_variants
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.n_problems, generator=self.generator).tolist() if self.shuffle else list(
            range(self.n_problems))
        k = self.problems_per_batch
        for start in range(0, len(order) - k + 1, k):
            chunk = order[start : start + k]
            for _ in range(self.repeat_count):
                for p in chunk:
                    for j in range(self.m):
                        yield from [p * self.m + j] * self.G

    def __len__(self) -> int:
        k = self.problems_per_batch
        return (self.n_problems // k) * k * self.m * self.G * self.repeat_count


class CoherenceGRPOTrainer(GRPOTrainer):
    """GRPO whose generation batches hold whole problems (all variants × G completions)."""

    def __init__(self, *args, num_variants: int = 1, **kwargs):
        self.num_variants = num_variants
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, dataset=None) -> Sampler:
        dataset = self.train_dataset if dataset is None else dataset
        return VariantBlockSampler(
            n_rows=len(dataset),
            num_variants=self.num_variants,
            num_generations=self.num_generations,
            rows_per_batch=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )
