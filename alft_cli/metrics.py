"""Evaluation metrics over sampled answers (pure numpy/stdlib): pass@k, maj@k, diversity, CIs.

Answers are canonical strings from ``alft_cli.answers.extract_answer`` (equal answers are equal
strings) or ``None`` when no answer could be parsed. ``None`` is never correct and never wins a vote.
``summarize`` turns per-problem samples into the ``metrics.json`` dict that ``alft eval`` writes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from alft_cli.game import groups

Answer = str | None

# maj@k is exact up to this many samples per problem; above it (rare: float64 binomial weights and
# the O(k·(n + A)) DP grow with n) it is a Monte-Carlo estimate over MAJ_MC_DRAWS seeded subsets.
MAJ_EXACT_MAX_N = 256
MAJ_MC_DRAWS = 20_000
TIE_RULES = ("split",)


@dataclass(frozen=True)
class ProblemSamples:
    """The n sampled answers of one problem and whether each is correct."""

    id: str
    answers: tuple[Answer, ...]
    correct: tuple[bool, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "answers", tuple(self.answers))
        object.__setattr__(self, "correct", tuple(bool(c) for c in self.correct))
        if len(self.answers) != len(self.correct):
            raise ValueError(f"problem {self.id!r}: {len(self.answers)} answers but {len(self.correct)} labels")
        if any(a is None and c for a, c in zip(self.answers, self.correct)):
            raise ValueError(f"problem {self.id!r}: an unparsed (None) answer is labelled correct")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k)/C(n, k), as the stable product 1 - Π_{i=n-c+1}^{n} (1 - k/i)."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass_at_k needs k <= n, got k={k} > n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _correctness(answers: Sequence[Answer], gold_correct: Callable[[str], bool] | Mapping[str, bool]) -> dict:
    """Correctness of each distinct parsed answer (a Mapping's missing answers count as wrong)."""
    distinct = {a for a in answers if a is not None}
    if isinstance(gold_correct, Mapping):
        return {a: bool(gold_correct.get(a, False)) for a in distinct}
    return {a: bool(gold_correct(a)) for a in distinct}


def maj_at_k(
    answers: Sequence[Answer],
    gold_correct: Callable[[str], bool] | Mapping[str, bool],
    k: int,
    tie_break: str = "split",
) -> float:
    """Expected accuracy of a majority vote over a uniformly random size-k subset of the samples.

    Exact over all C(n, k) subsets for n <= MAJ_EXACT_MAX_N. ``None`` answers never win: a subset
    of only ``None`` is wrong. Ties (``tie_break="split"``, the project's one rule, alft_cli.game.groups):
    the tied answers share the vote evenly, so a subset scores the fraction of its tied top answers that
    are correct — the expected accuracy of a uniformly random tie-break, deterministic and unbiased.

    Algorithm: answers enter only through their counts m_a. For each possible winning count t,
    a DP over answers tracks (subset size s, number of answers drawn exactly t times j) with the
    binomial weights Π C(m_a, x_a) (every x_a <= t) and the same weights times the number of
    correct answers at t; ``None`` samples fill the rest of the subset. Cost: about k·(n + A) numpy
    updates of (k+1) × (k/t+1) arrays, milliseconds for n = k = 64.
    """
    if tie_break not in TIE_RULES:
        raise ValueError(f"tie_break={tie_break!r}; allowed: {', '.join(TIE_RULES)}")
    n = len(answers)
    if not 1 <= k <= n:
        raise ValueError(f"maj_at_k needs 1 <= k <= n, got k={k}, n={n}")
    correct = _correctness(answers, gold_correct)
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return 0.0
    if n > MAJ_EXACT_MAX_N:
        return _maj_at_k_mc(answers, correct, k, seed=0)
    m_none = n - sum(counts.values())
    items = [(m, correct[a]) for a, m in counts.items()]
    none_weights = np.array([math.comb(m_none, x) for x in range(k + 1)], dtype=float)
    total = 0.0
    for t in range(1, min(k, max(counts.values())) + 1):
        jmax = min(len(items), k // t)
        weight = np.zeros((k + 1, jmax + 1))  # [s, j]: Σ Π C(m_a, x_a)
        scored = np.zeros((k + 1, jmax + 1))  # same, times #correct answers drawn exactly t times
        weight[0, 0] = 1.0
        for m, is_correct in items:
            new_w, new_s = np.zeros_like(weight), np.zeros_like(scored)
            for x in range(min(m, t - 1) + 1):
                c = math.comb(m, x)
                new_w[x:] += c * weight[: k + 1 - x]
                new_s[x:] += c * scored[: k + 1 - x]
            if m >= t:
                c = math.comb(m, t)
                new_w[t:, 1:] += c * weight[: k + 1 - t, :-1]
                new_s[t:, 1:] += c * (scored[: k + 1 - t, :-1] + (weight[: k + 1 - t, :-1] if is_correct else 0))
            weight, scored = new_w, new_s
        # a subset of size k = s answers + (k - s) None samples; the winners are the j answers at t
        fill = none_weights[::-1, None]  # C(m_none, k - s) for s = 0..k
        total += float((fill * scored[:, 1:] / np.arange(1, jmax + 1)).sum())
    return total / math.comb(n, k)


def _maj_at_k_mc(answers: Sequence[Answer], correct: Mapping[str, bool], k: int, seed: int) -> float:
    """Monte-Carlo maj@k (split ties) over MAJ_MC_DRAWS seeded random size-k subsets."""
    labels = sorted(correct)
    index = {a: i for i, a in enumerate(labels)}
    codes = np.array([index[a] if a is not None else len(labels) for a in answers])
    is_correct = np.array([correct[a] for a in labels] + [False], dtype=float)
    rng = np.random.default_rng(seed)
    total = 0.0
    for start in range(0, MAJ_MC_DRAWS, 1000):
        draws = min(1000, MAJ_MC_DRAWS - start)
        picks = np.argpartition(rng.random((draws, len(answers))), k - 1, axis=1)[:, :k]
        hist = np.zeros((draws, len(labels) + 1))
        np.add.at(hist, (np.arange(draws)[:, None], codes[picks]), 1)
        hist[:, -1] = 0  # None never wins
        top = hist.max(axis=1, keepdims=True)
        winners = (hist == top) & (top > 0)
        total += float(((winners @ is_correct) / np.maximum(winners.sum(axis=1), 1)).sum())
    return total / MAJ_MC_DRAWS


def answer_entropy(answers: Sequence[Answer]) -> float:
    """Shannon entropy (nats) of the empirical distribution of the parsed answers; ``None`` ignored, 0 if none."""
    return groups.entropy(groups.counts(answers))


def distinct_answers(answers: Sequence[Answer]) -> int:
    """Number of distinct parsed (non-None) answers."""
    return len({a for a in answers if a is not None})


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) CI of the mean of ``values`` (one value per problem)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_ci of an empty list")
    if not 0 < alpha < 1 or n_boot < 1:
        raise ValueError(f"bootstrap_ci needs 0 < alpha < 1 and n_boot >= 1, got alpha={alpha}, n_boot={n_boot}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def summarize(problems: Sequence[ProblemSamples], ks: Sequence[int]) -> dict:
    """The metrics.json dict: means over problems of pass@k and maj@k (with bootstrap CIs), the mean
    per-problem answer entropy and distinct-answer count, and the pooled unparsed rate."""
    if not problems:
        raise ValueError("summarize needs at least one problem")
    ks = sorted(set(ks) | {1})
    for p in problems:
        if not p.answers or max(ks) > len(p.answers):
            raise ValueError(f"problem {p.id!r} has {len(p.answers)} samples; eval.k needs 1 <= k <= that")
    out: dict = {"n_problems": len(problems)}
    for k in ks:
        for name, per_problem in (
            (f"pass@{k}", [pass_at_k(len(p.answers), sum(p.correct), k) for p in problems]),
            (f"maj@{k}", [maj_at_k(p.answers, _labels(p), k) for p in problems]),
        ):
            out[name] = float(np.mean(per_problem))
            out[f"{name}_ci"] = list(bootstrap_ci(per_problem))
    out["answer_entropy"] = float(np.mean([answer_entropy(p.answers) for p in problems]))
    out["distinct_answers"] = float(np.mean([distinct_answers(p.answers) for p in problems]))
    n_none = sum(a is None for p in problems for a in p.answers)
    out["unparsed_rate"] = n_none / sum(len(p.answers) for p in problems)
    return out


def _labels(p: ProblemSamples) -> dict[str, bool]:
    """answer -> correct for one problem; ValueError if equal answers carry different labels."""
    labels: dict[str, bool] = {}
    for a, c in zip(p.answers, p.correct):
        if a is not None and labels.setdefault(a, c) != c:
            raise ValueError(f"problem {p.id!r}: answer {a!r} is labelled both correct and incorrect")
    return labels
