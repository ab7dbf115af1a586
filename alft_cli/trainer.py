"""CoherenceGRPOTrainer: TRL's GRPOTrainer with every variant of a problem in the same generation batch.

The answer-level reward itself is an ordinary TRL reward function (`alft_cli.rewards`). Four hooks are
overridden: `_get_train_sampler`, so that the m transformed prompts of one problem, each repeated G times,
land together in one generation batch and the consensus sees all m×G answers; `_generate` and
`_calculate_rewards`, only timed; and `log`, which adds GPU memory peaks, completion throughput and the
generation and reward shares of the time to every logged step (`alft_cli.telemetry`). Its options live
on `CoherenceGRPOConfig` (a `GRPOConfig` with `num_variants`), checked before TRL sees them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from datasets import IterableDataset
from torch.utils.data import Sampler
from trl import GRPOConfig, GRPOTrainer

from alft_cli.errors import UserError
from alft_cli.telemetry import StepTelemetry

OVERRIDDEN_HOOKS = ("_get_train_sampler", "_generate", "_calculate_rewards", "log")


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


@dataclass
class CoherenceGRPOConfig(GRPOConfig):
    """`GRPOConfig` plus the number of prompt variants per problem; nonsense values are refused here.

    Errors are `UserError`s naming the `trainer.` key; TRL's own checks run first (`super().__post_init__`).
    """

    num_variants: int = field(default=1, metadata={"help": "prompt variants per problem (m): a generation batch "
                                                           "holds whole problems of m × num_generations rows"})

    def __post_init__(self):
        if not (isinstance(self.num_variants, int) and self.num_variants >= 1):
            raise UserError(f"num_variants={self.num_variants!r} must be an integer >= 1")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise UserError(f"trainer.beta={self.beta} must be >= 0 (the KL weight; > 0 for answer-level objectives)")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise UserError(f"trainer.temperature={self.temperature} must be > 0 (GRPO samples its completions)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise UserError(f"trainer.max_steps={self.max_steps} must be >= 1 (or -1: trainer.num_train_epochs)")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"trainer.learning_rate={self.learning_rate} must be > 0")
        super().__post_init__()
        per_problem = self.num_variants * self.num_generations
        if self.generation_batch_size % per_problem:
            raise UserError(
                f"a generation batch of {self.generation_batch_size} completions (trainer.per_device_train_batch_size "
                f"× gradient_accumulation_steps × processes) does not hold whole problems of {self.num_variants} "
                f"variants × {self.num_generations} generations = {per_problem}; make it a multiple of {per_problem}")


def check_answer_level(args: GRPOConfig) -> None:
    """An answer-level reward needs unscaled advantages summed as TRL does by default: the README's β mapping
    (TRL's beta = the game's β) holds only then."""
    if args.scale_rewards != "none":
        raise UserError(f"trainer.scale_rewards={args.scale_rewards!r}: answer-level objectives need "
                        "scale_rewards=none (dividing by the group std changes β from group to group)")
    if args.multi_objective_aggregation != "sum_then_normalize":
        raise UserError(f"trainer.multi_objective_aggregation={args.multi_objective_aggregation!r}: answer-level "
                        "objectives need the default sum_then_normalize (weighted rewards summed before advantages)")


class CoherenceGRPOTrainer(GRPOTrainer):
    """GRPO whose generation batches hold whole problems (all variants × G completions)."""

    def __init__(self, model, reward_funcs=None, args: CoherenceGRPOConfig | None = None, train_dataset=None,
                 **kwargs):
        if not isinstance(args, CoherenceGRPOConfig):
            raise TypeError(f"CoherenceGRPOTrainer needs args=CoherenceGRPOConfig(...), got {type(args).__name__}")
        if isinstance(train_dataset, IterableDataset):
            raise TypeError("CoherenceGRPOTrainer needs a map-style datasets.Dataset: with an IterableDataset TRL "
                            "skips _get_train_sampler and a problem's variants would no longer share a batch")
        from alft_cli.rewards import AnswerLevelReward

        funcs = reward_funcs if isinstance(reward_funcs, list) else [reward_funcs]
        if any(isinstance(f, AnswerLevelReward) for f in funcs):
            check_answer_level(args)
        self.telemetry = StepTelemetry()
        super().__init__(model, reward_funcs, args, train_dataset, **kwargs)

    def _get_train_sampler(self, dataset=None) -> Sampler:
        dataset = self.train_dataset if dataset is None else dataset
        args = self.args
        return VariantBlockSampler(
            n_rows=len(dataset),
            num_variants=args.num_variants,
            num_generations=args.num_generations,
            rows_per_batch=args.generation_batch_size // args.num_generations,
            repeat_count=args.num_iterations * args.steps_per_generation,
            shuffle=args.shuffle_dataset,
            seed=args.seed,
        )

    def _generate(self, prompts: list):
        with self._timed("generation"):
            return super()._generate(prompts)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        with self._timed("reward"):
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    def _timed(self, phase: str) -> AbstractContextManager:
        """Time `phase` of a training step (TRL's evaluation loop generates and scores too: not counted)."""
        return self.telemetry.timed(phase, self.accelerator.device) if self.model.training else nullcontext()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Every logged training step also gets `gpu/mem_*_gb` peaks, `throughput/completion_tokens_per_s` and
        `timing/{generation,reward}_share`.

        Completion tokens since the last log: TRL's per-generation-batch mean length (over all processes) ×
        the generation batch size (completions of all processes).
        """
        if "loss" in logs:
            lengths = self._metrics["train"].get("completions/mean_length", [])
            tokens = sum(lengths) * self.args.generation_batch_size
            logs.update(self.telemetry.step_logs(self.accelerator.device, tokens, start_time))
        super().log(logs, start_time)
