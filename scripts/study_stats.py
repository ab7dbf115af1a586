"""Statistics of the pre-registered study (issue 12), pure numpy/scipy: no model, no files.

- `one_sided_welch`, `permutation_p`: one-sided tests of H1: mean(a) − mean(b) > −margin on per-seed means
  (margin 0: superiority; margin > 0: non-inferiority with that margin);
- `holm`: Holm–Bonferroni adjusted p-values;
- `hierarchical_bootstrap`: percentile CI of an arm's pass@1, or of the difference of two arms, resampling
  seeds (per arm), then problems (one draw shared by both arms: paired), then samples within a problem;
- `pooled_sd`, `mde`, `seeds_needed`: the seed rule of the plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

EXACT_POOLED_MAX = 40  # up to this many pooled values the permutation p is exact (2 halves of 2^20 subset sums)
PERMUTATION_DRAWS = 200_000  # Monte-Carlo relabelings beyond that


def one_sided_welch(a: Sequence[float], b: Sequence[float], margin: float = 0.0) -> tuple[float, float, float]:
    """(t, Welch df, p) of H1: mean(a) − mean(b) > −margin; NaNs with fewer than 2 values per side."""
    x, y = np.asarray(a, float) + margin, np.asarray(b, float)
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan, math.nan
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if va + vb == 0:  # no spread at all: the sign of the difference decides
        diff = x.mean() - y.mean()
        return math.copysign(math.inf, diff) if diff else 0.0, math.nan, 0.0 if diff > 0 else 1.0
    res = stats.ttest_ind(x, y, equal_var=False, alternative="greater")
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    return float(res.statistic), float(df), float(res.pvalue)


def permutation_p(a: Sequence[float], b: Sequence[float], margin: float = 0.0, seed: int = 0) -> tuple[float, bool]:
    """(p, exact) of the permutation test of H1: mean(a) − mean(b) > −margin (a shifted by +margin first).

    p is the share of relabelings of the pooled values whose difference of means is >= the observed one:
    exact for up to EXACT_POOLED_MAX pooled values, else a seeded Monte-Carlo estimate (PERMUTATION_DRAWS).
    """
    x, y = np.asarray(a, float) + margin, np.asarray(b, float)
    if len(x) < 1 or len(y) < 1:
        return math.nan, False
    if len(x) + len(y) <= EXACT_POOLED_MAX:
        return _exact_subset_sum_p(np.concatenate([x, y]), len(x), float(x.sum())), True
    res = stats.permutation_test((x, y), lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
                                 permutation_type="independent", alternative="greater", vectorized=True,
                                 n_resamples=PERMUTATION_DRAWS, rng=np.random.default_rng(seed))
    return float(res.pvalue), False


def _subset_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum, size) of every subset of values (2^len of them)."""
    sums, sizes = np.zeros(1), np.zeros(1, dtype=np.int64)
    for v in values:
        sums, sizes = np.concatenate([sums, sums + v]), np.concatenate([sizes, sizes + 1])
    return sums, sizes


def _exact_subset_sum_p(pooled: np.ndarray, n: int, observed: float) -> float:
    """Share of the size-n subsets of pooled whose sum is >= observed (the sum of the first group).

    With the group sizes fixed, the difference of means grows with the first group's sum, so this is the
    permutation p over all C(N, n) relabelings. Meet in the middle: the subset sums of each half of pooled,
    grouped by size, are paired by a sorted search. Sums within a tolerance of observed count as ties.
    """
    tol = 1e-9 * max(1.0, float(np.abs(pooled).sum()))
    half = len(pooled) // 2
    left, left_size = _subset_sums(pooled[:half])
    right, right_size = _subset_sums(pooled[half:])
    hits = 0
    for k in range(max(0, n - (len(pooled) - half)), min(n, half) + 1):
        r = np.sort(right[right_size == n - k])
        hits += int((len(r) - np.searchsorted(r, observed - tol - left[left_size == k], side="left")).sum())
    return hits / math.comb(len(pooled), n)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order; NaN stays NaN and does not count as a test)."""
    p = np.asarray(pvalues, float)
    ok = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), math.nan)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * p[idx]))
        out[idx] = running
    return out.tolist()


def hierarchical_bootstrap(arms: Sequence[tuple[np.ndarray, np.ndarray]], weights: Sequence[float],
                           n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, np.ndarray]:
    """Percentile CI of Σ_i w_i · pass@1(arm i), each arm given as (n, c) arrays of shape (seeds, problems).

    Problems are the columns, the same problems in the same order for every arm. Each replicate draws the
    seeds of every arm with replacement, then one set of problems with replacement shared by all arms
    (paired across arms), then each (seed, problem)'s correct count c* ~ Binomial(n, c/n); pass@1 is the
    mean over seeds of the mean over problems of c*/n. weights (1,) give one arm's CI, (1, −1) a contrast.
    Returns (low, high, replicates).
    """
    if len(arms) != len(weights) or not arms:
        raise ValueError("hierarchical_bootstrap needs one weight per arm")
    problems = {np.shape(n)[1] for n, _ in arms}
    if len(problems) != 1 or 0 in problems:
        raise ValueError(f"every arm needs the same, non-empty problem columns; got {sorted(problems)}")
    rng = np.random.default_rng(seed)
    n_problems = problems.pop()
    total = np.zeros(n_boot)
    picks = rng.integers(0, n_problems, size=(n_boot, n_problems))
    for (n, c), w in zip(arms, weights):
        n, c = np.asarray(n, float), np.asarray(c, float)
        if np.any(n < 1) or np.any(c < 0) or np.any(c > n):
            raise ValueError("need 1 <= n and 0 <= c <= n for every seed and problem")
        for b in range(n_boot):
            rows = rng.integers(0, n.shape[0], size=n.shape[0])
            nn, pp = n[rows][:, picks[b]], (c / n)[rows][:, picks[b]]
            total[b] += w * float((rng.binomial(nn.astype(int), pp) / nn).mean())
    lo, hi = np.quantile(total, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), total


def pooled_sd(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """(pooled sample SD, degrees of freedom) of several groups' values; groups below 2 values are skipped."""
    used = [np.asarray(g, float) for g in groups if len(g) >= 2]
    df = sum(len(g) - 1 for g in used)
    if not df:
        return math.nan, 0
    return float(math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in used) / df)), df


def mde(sigma: float, n: int, alpha: float, power: float = 0.8) -> float:
    """Minimum detectable difference of two arms' means with n seeds each, one-sided test at level alpha:
    (t_{1−α} + t_{power}) · σ · sqrt(2/n), t with 2n − 2 degrees of freedom."""
    if n < 2:
        return math.inf
    df = 2 * n - 2
    return float((stats.t.ppf(1 - alpha, df) + stats.t.ppf(power, df)) * sigma * math.sqrt(2 / n))


def count_seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


RULE_SEEDS, MOST_SEEDS = 6, 16  # the seed rule: seeds 0–5 size the study, 16 at most (study2/PLAN.md)
STOP_SD = 0.06  # σ above this at MOST_SEEDS: report the minimum detectable effect and stop


def seeds_needed(sigma: float, effect: float, alpha: float, have: int | None = None, start: int = RULE_SEEDS,
                 most: int = MOST_SEEDS, power: float = 0.8) -> tuple[int, str]:
    """The plan's seed rule (study2/PLAN.md): (seeds per label-free arm, why).

    Fewer than `start` seeds so far (`have`): `start`. Then, from σ of the first `start` seeds, the normal
    approximation n = ⌈2 (z_{1−α} + z_power)² σ² / effect²⌉: `start` when n <= start, else min(n, most) (at
    `most` the report gives the minimum detectable effect and the study stops).
    """
    if math.isnan(sigma) or (have is not None and have < start):
        return start, f"{count_seeds(have or 0)} so far: run the plan's first {start}"
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    n = math.ceil(2 * z**2 * sigma**2 / effect**2)
    why = f"σ = {sigma:.3f} over the first {start} seeds needs n = {n} for Δ = {effect}"
    if n <= start:
        return start, f"{why}: {start} seeds"
    if n > most:
        return most, f"{why} > {most}: {most} seeds, the most, then report the minimum detectable effect and stop"
    return n, f"{why}: {n} seeds"
