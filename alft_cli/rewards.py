"""TRL reward functions: the group-correct answer-level reward and the gold correctness reward.

TRL calls a reward function with the *local* completions of each process, and one problem's group can
be split across processes (TRL shards a generation batch by rank). `AnswerLevelReward` therefore
gathers (uid, variant, answer) from every process, groups by problem id — never by position — checks
each group is complete, asks the game core for the Target and rewards, and returns the local slice.
All maths lives in `alft_cli.game` (docs/method.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from alft_cli.answers import Verdict, check_answer, extract_answer, judge_answer


def completion_text(completion: Any) -> str:
    """Text of a TRL completion (a string, or a list of chat messages)."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, dict))


def gather_by_rank(items: list) -> tuple[list[list], int]:
    """Every process's list, in rank order, and this process's rank (no communication when alone)."""
    from accelerate.state import PartialState

    state = PartialState()
    if state.num_processes == 1:
        return [items], 0
    from accelerate.utils import gather_object

    return gather_object([items]), state.process_index


class CorrectnessReward:
    """1 if the extracted answer matches the gold answer, else 0 (unparsed answers get 0)."""

    __name__ = "correctness"

    def __init__(self, style: str = "gsm8k", strict: bool = False):
        self.style, self.strict = style, strict

    def __call__(self, completions: Sequence[Any], gold: Sequence[str], uid: Sequence[str] | None = None,
                 log_metric: Callable[[str, float], None] | None = None, **_: Any) -> list[float]:
        answers = [extract_answer(completion_text(c), self.style, strict=self.strict) for c in completions]
        if log_metric is not None and uid is not None:  # the answer statistics every objective logs
            per_rank, _rank = gather_by_rank(list(zip(uid, answers, gold)))
            groups: dict[str, list[list[str | None]]] = defaultdict(lambda: [[]])
            golds = {}
            for u, a, g in (row for items in per_rank for row in items):
                groups[u][0].append(a)
                golds[u] = g
            for name, value in answer_stats(groups, golds, self.style).items():
                log_metric(f"answers/{name}", value)
        return [float(check_answer(a, g, self.style)) for a, g in zip(answers, gold)]


class AnswerLevelReward:
    """Answer-level reward r_q(ans(y)) of a game-core objective, computed on complete gathered groups.

    ``variants`` are the run's variant labels (``alft_cli.data.variant_labels``), in group order; each row's
    ``variant`` column names one (absent: the first).
    """

    __name__ = "answer_level"

    def __init__(
        self,
        objective: Any,
        num_generations: int,
        variants: Sequence[str] = ("identity",),
        style: str = "gsm8k",
        strict: bool = False,
        gather: Callable[[list], tuple[list[list], int]] = gather_by_rank,
    ):
        self.objective, self.G = objective, num_generations
        self.variants = {label: j for j, label in enumerate(variants)}  # variant label -> its group index
        self.m = len(self.variants)
        self.style, self.strict, self.gather = style, strict, gather
        self.last_groups: dict[str, list[list[str | None]]] = {}

    def __call__(
        self,
        completions: Sequence[Any],
        uid: Sequence[str],
        variant: Sequence[str] | None = None,
        gold: Sequence[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        first = next(iter(self.variants))
        variant = list(variant) if variant is not None else [first] * len(completions)
        answers = [extract_answer(completion_text(c), self.style, strict=self.strict) for c in completions]
        local = list(zip(uid, variant, answers, gold if gold is not None else [None] * len(answers)))
        per_rank, rank = self.gather(local)
        rank_offset = sum(len(items) for items in per_rank[:rank])
        groups, golds, slots = self._group([row for items in per_rank for row in items])
        rewards_by_uid = {u: self.objective.rewards(g) for u, g in groups.items()}
        flat = [rewards_by_uid[u][j][i] for (u, j, i) in slots]
        if log_metric is not None:
            for name, value in self.batch_stats(groups, golds).items():
                log_metric(f"answers/{name}", value)
        self.last_groups = groups
        return flat[rank_offset : rank_offset + len(local)]

    def _group(self, rows: list[tuple]) -> tuple[dict, dict, list]:
        """Group gathered rows by problem id and variant; check each group holds m variants × G answers."""
        groups: dict[str, list[list[str | None]]] = defaultdict(lambda: [[] for _ in range(self.m)])
        golds: dict[str, str | None] = {}
        slots = []
        for u, label, answer, gold in rows:
            if label not in self.variants:
                raise ValueError(f"problem {u!r}: variant {label!r} is not one of {', '.join(self.variants)}")
            j = self.variants[label]
            slots.append((u, j, len(groups[u][j])))
            groups[u][j].append(answer)
            golds[u] = gold
        for u, per_variant in groups.items():
            sizes = [len(v) for v in per_variant]
            if any(s != self.G for s in sizes):
                raise ValueError(
                    f"incomplete group for problem {u!r}: {sizes} answers per variant, expected {self.G} for each "
                    f"of {self.m} variants (generation batch must hold whole problems)"
                )
        return dict(groups), golds, slots

    def batch_stats(self, groups: dict, golds: dict) -> dict[str, float]:
        """Per-step diagnostics averaged over problems (answer_stats with this objective's Target)."""
        return answer_stats(groups, golds, self.style, self.objective)


def answer_stats(groups: dict, golds: dict, style: str, objective: Any = None) -> dict[str, float]:
    """Per-step diagnostics averaged over problems; gold-based ones only where golds exist, and whether the
    Target's mode is correct only with an objective. majority_accuracy (the pooled vote) and
    target_mode_correct (the Target's mode) split ties (``alft_cli.game.groups``), like eval's maj@k."""
    from alft_cli.game.groups import counts, group_stats, modes, split_vote

    totals: dict[str, float] = defaultdict(float)
    with_gold = 0
    for u, g in groups.items():
        for key, value in group_stats(g).items():
            totals[key] += float(value)
        gold = golds.get(u)
        if gold is None:
            continue
        with_gold += 1
        pooled = [a for variant in g for a in variant]
        verdicts = [judge_answer(a, gold, style) for a in pooled]
        totals["accuracy"] += verdicts.count(Verdict.CORRECT) / len(pooled)
        totals["undecided_rate"] += verdicts.count(Verdict.UNDECIDED) / len(pooled)
        correct = {a for a, v in zip(pooled, verdicts) if a is not None and v == Verdict.CORRECT}
        totals["majority_accuracy"] += split_vote(modes(counts(pooled)), correct)
        if objective is not None:
            totals["target_mode_correct"] += split_vote(modes(objective.target(g)[0]), correct)
    n = max(len(groups), 1)
    gold_keys = [k for k in _GOLD_KEYS if objective is not None or k != "target_mode_correct"]
    stats = {k: v / n for k, v in totals.items() if k not in _GOLD_KEYS}
    stats.update({k: totals[k] / with_gold for k in gold_keys if with_gold})
    return stats


_GOLD_KEYS = ("accuracy", "majority_accuracy", "target_mode_correct", "undecided_rate")

