"""Numerical solvers for answer-level optima and game equilibria (numpy / scipy only).

Every optimum of max_ν Ψ(ν) - β Σ_j KL(ν_j ‖ ref_j) and every equilibrium of the Target/Policy game
satisfies the fixed point ν_j ∝ ref_j · exp(r_j(ν) / β), r = the answer-level reward field (∇Ψ for
a potential Ψ). ``solve_fixed_point`` solves it to ~1e-13 by damped best responses followed by Newton's
method in log coordinates (finite-difference Jacobian: it only sets the convergence rate, the residual
is exact). For concave problems the fixed point is the global optimum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.special import lambertw, logsumexp

Field = Callable[[list[np.ndarray]], list[np.ndarray]]


def normalize(x: np.ndarray) -> np.ndarray:
    """x / sum(x)."""
    x = np.asarray(x, dtype=float)
    return x / x.sum()


def from_logs(logw: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Distribution ∝ exp(logw) on ``support`` (zero elsewhere)."""
    out = np.zeros(len(support))
    out[support] = np.exp(logw[support] - logsumexp(logw[support]))
    return out


def tilt(ref: np.ndarray, reward: np.ndarray, beta: float) -> np.ndarray:
    """ref · exp(reward / β), normalised: the KL-regularised best response to a fixed reward."""
    ref = np.asarray(ref, dtype=float)
    support = ref > 0
    logw = np.where(support, np.log(np.where(support, ref, 1.0)) + np.asarray(reward) / beta, 0.0)
    return from_logs(logw, support)


def kl(x: np.ndarray, ref: np.ndarray) -> float:
    """KL(x ‖ ref) with 0 log 0 = 0."""
    m = x > 0
    return float(np.sum(x[m] * (np.log(x[m]) - np.log(ref[m]))))


class _Blocks:
    """Packing of one log-vector per variant (restricted to the support of its reference)."""

    def __init__(self, refs: Sequence[np.ndarray]):
        self.refs = [np.asarray(r, dtype=float) for r in refs]
        self.supports = [r > 0 for r in self.refs]
        self.log_refs = [np.log(r[s]) for r, s in zip(self.refs, self.supports)]
        self.splits = np.cumsum([int(s.sum()) for s in self.supports])[:-1]

    def pack(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.log(np.maximum(x[s], 1e-300)) for x, s in zip(xs, self.supports)])

    def unpack(self, u: np.ndarray) -> list[np.ndarray]:
        out = []
        for uj, s in zip(np.split(u, self.splits), self.supports):
            x = np.zeros(len(s))
            x[s] = np.exp(uj - logsumexp(uj))
            out.append(x)
        return out

    def target(self, f: list[np.ndarray], beta: float) -> np.ndarray:
        """log ref + r / β, the (unnormalised) log best response to the reward field f."""
        return np.concatenate([lr + fj[s] / beta for lr, fj, s in zip(self.log_refs, f, self.supports)])

    def centre(self, v: np.ndarray) -> np.ndarray:
        return np.concatenate([b - b.mean() for b in np.split(v, self.splits)])


def solve_fixed_point(
    field: Field,
    refs: Sequence[np.ndarray],
    beta: float,
    start: Sequence[np.ndarray] | None = None,
    damping: float | None = None,
    warmup: int = 20,
    tol: float = 1e-13,
    max_newton: int = 60,
) -> list[np.ndarray]:
    """Solve ν_j ∝ ref_j · exp(field(ν)_j / β) on supp(ref_j); returns one array per variant."""
    blocks = _Blocks(refs)
    u = blocks.pack(start if start is not None else blocks.refs)
    eta = beta / (1.0 + beta) if damping is None else damping

    def residual(v: np.ndarray) -> np.ndarray:
        return blocks.centre(v - blocks.target(field(blocks.unpack(v)), beta))

    for _ in range(warmup):
        u = (1 - eta) * u + eta * blocks.target(field(blocks.unpack(u)), beta)
        u = blocks.pack(blocks.unpack(u))
    res = residual(u)
    for _ in range(max_newton):
        if np.max(np.abs(res)) < tol:
            return blocks.unpack(u)
        h = 1e-6
        jac = np.empty((len(u), len(u)))
        for i in range(len(u)):
            e = np.zeros(len(u))
            e[i] = h
            jac[:, i] = (residual(u + e) - residual(u - e)) / (2 * h)
        step = np.linalg.lstsq(jac, -res, rcond=None)[0]
        norm, t = np.linalg.norm(res), 1.0
        while t > 1e-6:
            cand = blocks.pack(blocks.unpack(u + t * step))
            cand_res = residual(cand)
            if np.linalg.norm(cand_res) < (1 - 1e-4 * t) * norm:
                break
            t /= 2
        else:  # Newton stalled: fall back to a damped best response
            cand = blocks.pack(
                blocks.unpack((1 - eta) * u + eta * blocks.target(field(blocks.unpack(u)), beta))
            )
            cand_res = residual(cand)
        u, res = cand, cand_res
    if np.max(np.abs(res)) < 1e3 * tol:
        return blocks.unpack(u)
    raise RuntimeError(f"fixed point not reached: residual {np.max(np.abs(res)):.2e}")


def best_fixed_point(
    field: Field,
    value: Callable[[list[np.ndarray]], float],
    refs: Sequence[np.ndarray],
    beta: float,
    starts: Sequence[Sequence[np.ndarray]],
) -> list[np.ndarray]:
    """Best (by ``value``) of the fixed points reached by mirror ascent + Newton from each start.

    For non-concave problems: every local maximum is a fixed point, so this returns the best local
    maximum found from the given starts (not a certificate of global optimality).
    """
    best, best_value = None, -np.inf
    for start in starts:
        try:
            xs = solve_fixed_point(
                field, refs, beta, start=start, damping=0.2 * beta / (1 + beta), warmup=400
            )
        except RuntimeError:
            continue
        v = value(xs) - beta * sum(kl(x, r) for x, r in zip(xs, refs))
        if v > best_value:
            best, best_value = xs, v
    if best is None:
        raise RuntimeError("no fixed point reached from any start")
    return best


def gini_optimum(ref: np.ndarray, beta: float, scale: float = 2.0) -> np.ndarray:
    """argmax_ν  -(scale/2)·Σ ν² - β KL(ν ‖ ref):  ν = (β/scale) · W((scale/β) · ref · s), Σ ν = 1.

    Stationarity -scale·ν - β log(ν/ref) = const gives ν e^{scale·ν/β} = ref·s; s > 0 by bisection.
    """
    ref = np.asarray(ref, dtype=float)
    support = ref > 0

    def nu(log_s: float) -> np.ndarray:
        out = np.zeros(len(ref))
        out[support] = (beta / scale) * lambertw((scale / beta) * ref[support] * np.exp(log_s)).real
        return out

    lo, hi = -1.0, 1.0
    while nu(lo).sum() > 1:
        lo *= 2
    while nu(hi).sum() < 1:
        hi *= 2
    log_s = brentq(lambda v: nu(v).sum() - 1.0, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return normalize(nu(log_s))
