"""Estimators of answer-level group statistics from G samples of one prompt.

A sample whose answer z occurs n times in its group (its own sample included) sees
N = n ~ 1 + Bin(G - 1, p), p = ν(z). Log rewards use a table r̂(n) ≈ log p:
  - ``plugin``:  r̂(n) = log(n / G), p-weighted bias ≈ 0.5/G (→ 0.58/G for large G);
  - ``minimax``: the table minimising sup_p |p · (E r̂(N) - log p)| (a linear program per G, cached);
    its bias is ≈ 0.32/G², but its entries grow exponentially with G (|r̂| ≈ 3, 4.5, 139, 2.5e5 at
    G = 4, 8, 16, 32), so ``max_abs`` bounds them (trading bias for variance).
Polynomial rewards are estimated without bias by U-statistics: with M other samples of which N share
the answer, E[C(N, d) / C(M, d)] = p^d exactly; ``leave_one_out`` is the degree-1 case.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.optimize import linprog
from scipy.special import comb, gammaln, xlog1py, xlogy

LOG_METHODS = ("plugin", "minimax")
DEFAULT_MAX_ABS = 1.0e6  # numerical safety bound for the minimax LP; inactive for G <= 32


def own_count_pmf(G: int, p: np.ndarray | float) -> np.ndarray:
    """P(N = n) for n = 1..G, N = 1 + Bin(G - 1, p); shape (len(p), G)."""
    p = np.atleast_1d(np.asarray(p, dtype=float))[:, None]
    k = np.arange(G)[None, :]
    logc = gammaln(G) - gammaln(k + 1) - gammaln(G - k)
    return np.exp(logc + xlogy(k, p) + xlog1py(G - 1 - k, -p))


def log_bias(table: list[float] | np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """Exact bias E[r̂(N)] - log p of a log table (exact binomial sums), for each p."""
    table = np.asarray(table, dtype=float)
    p = np.atleast_1d(np.asarray(p, dtype=float))
    return own_count_pmf(len(table), p) @ table - np.log(p)


def _grid(n: int) -> np.ndarray:
    """Grid on (0, 1], dense near 0 where p·log p is least smooth."""
    t = np.linspace(0.0, 1.0, n + 1)[1:]
    return np.unique(np.concatenate([t**2, np.geomspace(1e-9, t[0] ** 2, 50)]))


FINE_GRID = _grid(40_000)


def weighted_bias(table: list[float] | np.ndarray, grid: np.ndarray = FINE_GRID) -> float:
    """sup_p |p · bias(p)| of a log table, evaluated on a fine grid of p."""
    return float(np.max(np.abs(grid * log_bias(table, grid))))


@cache
def _minimax(G: int, max_abs: float) -> tuple[float, ...]:
    """Solve min_r max_p |p·(E r(N) - log p)| by LP on a grid, refined by exchange of worst points."""
    p = _grid(1500)
    fine = _grid(20_000)
    c = np.zeros(G + 1)
    c[-1] = 1.0
    bounds = [(-max_abs, max_abs)] * G + [(0.0, None)]
    best: tuple[float, np.ndarray] | None = None
    for _ in range(5):
        w = p[:, None] * own_count_pmf(G, p)
        ones = np.ones((len(p), 1))
        a_ub = np.vstack([np.hstack([w, -ones]), np.hstack([-w, -ones])])
        y = p * np.log(p)
        res = linprog(c, A_ub=a_ub, b_ub=np.concatenate([y, -y]), bounds=bounds, method="highs")
        if res.status != 0:
            raise RuntimeError(f"minimax LP for G={G} failed: {res.message}")
        table = res.x[:G]
        err = np.abs(fine * log_bias(table, fine))
        if best is None or err.max() < best[0]:
            best = (float(err.max()), table)
        if err.max() <= res.x[-1] * 1.01:
            break
        p = np.unique(np.concatenate([p, fine[np.argsort(err)[-200:]]]))
    return tuple(float(v) for v in best[1])


def log_table(G: int, method: str = "plugin", max_abs: float | None = None) -> list[float]:
    """Reward value used for log ν(z) when z occurs n = 1..G times in a group of G."""
    if not isinstance(G, (int, np.integer)) or G < 1:
        raise ValueError(f"log_table: G must be a positive integer, got {G!r}")
    if method not in LOG_METHODS:
        raise ValueError(f"log_table: unknown method {method!r}; allowed: {', '.join(LOG_METHODS)}")
    if max_abs is not None and not max_abs > 0:
        raise ValueError(f"log_table: max_abs must be > 0, got {max_abs!r}")
    return list(cached_table(int(G), method, DEFAULT_MAX_ABS if max_abs is None else float(max_abs)))


@cache
def cached_table(G: int, method: str, max_abs: float) -> tuple[float, ...]:
    """The (validated, immutable) table behind ``log_table``; cached per (G, method, max_abs)."""
    if method == "plugin":
        return tuple(float(np.log(n / G)) for n in range(1, G + 1))
    return _minimax(G, max_abs)


def u_statistic(count: int, others: int, degree: int = 1) -> float:
    """C(count, degree) / C(others, degree): unbiased for p^degree when count ~ Bin(others, p)."""
    if others < degree:
        raise ValueError(f"u_statistic: need at least {degree} other samples, got {others}")
    return float(comb(count, degree, exact=True) / comb(others, degree, exact=True))


def own_share(n: int, G: int, estimator: str) -> float:
    """Estimate of ν(z) for a sample whose answer occurs n times in its group of G.

    ``leave_one_out`` is the unbiased U-statistic (n-1)/(G-1); with G = 1 nothing else was sampled
    and it falls back to the plug-in n/G.
    """
    if estimator == "leave_one_out" and G > 1:
        return u_statistic(n - 1, G - 1, 1)
    return n / G
