"""Target projections: consensus of several answer distributions, and the safety KL projection.

Arrays are (m, K): one row per variant over a common sorted answer list.
- geometric  c ∝ Π_j ν_j^{1/m}  = argmin_c Σ_j KL(c ‖ ν_j)  (I-projection onto the coherent set)
- arithmetic c = (1/m) Σ_j ν_j   = argmin_c Σ_j KL(ν_j ‖ c)  (M-projection)
- power      c ∝ ((1/m) Σ_j ν_j)^γ   (γ = 1 arithmetic; γ → ∞ the pooled mode)
Safety: q = argmin_{q : E_q[g] ≤ δ} KL(ν ‖ q) (the M-projection, the one Ψ = -KL(ν ‖ C) needs).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp

CONSENSUS = ("geometric", "arithmetic", "power", "majority")


def smoothed(counts: np.ndarray, sizes: np.ndarray, alpha: float) -> np.ndarray:
    """Additive (Lidstone) smoothing: (n_j(z) + α) / (G_j + α K) over the K answers of the prompt."""
    k = counts.shape[1]
    return (counts + alpha) / (np.asarray(sizes, dtype=float)[:, None] + alpha * k)


def _normalised_logs(logs: np.ndarray) -> np.ndarray:
    """logs - logsumexp(logs) over the finite entries (-inf stays -inf)."""
    finite = np.isfinite(logs)
    out = np.full(len(logs), -np.inf)
    out[finite] = logs[finite] - logsumexp(logs[finite])
    return out


def log_consensus(hists: np.ndarray, kind: str, gamma: float = 1.0) -> np.ndarray:
    """log c for the consensus ``kind`` (-inf where c = 0); computed in log space, so γ may be large."""
    if kind not in CONSENSUS:
        raise ValueError(f"consensus: unknown kind {kind!r}; allowed: {', '.join(CONSENSUS)}")
    with np.errstate(divide="ignore"):
        if kind == "geometric":
            logs = np.log(hists).mean(axis=0)
            if not np.isfinite(logs).any():
                raise ValueError(
                    "geometric consensus: no answer has positive probability under every variant"
                )
        elif kind == "majority":
            pooled = hists.sum(axis=0)
            logs = np.where(np.isclose(pooled, pooled.max(), rtol=0, atol=1e-12) & (pooled > 0), 0.0, -np.inf)
        else:
            logs = (1.0 if kind == "arithmetic" else gamma) * np.log(hists.mean(axis=0))
    return _normalised_logs(logs)


def consensus(hists: np.ndarray, kind: str, gamma: float = 1.0) -> np.ndarray:
    """The Target's consensus distribution; ``majority`` is uniform over the pooled modes."""
    return np.exp(log_consensus(hists, kind, gamma))


def geometric(hists: np.ndarray) -> np.ndarray:
    """Normalised geometric mean of the rows (zero wherever any row is zero)."""
    return consensus(hists, "geometric")


def safety_projection(nu: np.ndarray, cost: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
    """M-projection of ν onto {q : E_q[g] ≤ δ}: q = ν / (1 + μ (g - δ)), μ ≥ 0.

    μ = 0 when ν already satisfies the bound. Otherwise μ solves Σ ν/(1 + μ(g - δ)) = 1 (then
    E_q[g] = δ). If every observed answer has g ≥ δ, the missing mass goes to an unobserved answer
    with g = 0: μ = 1/δ and q = δ ν / g is a sub-probability on the observed answers.
    For a 0/1 g this rescales the unsafe answers to total mass δ and the safe ones to 1 - δ.
    """
    nu = np.asarray(nu, dtype=float)
    support = nu > 0
    d = np.asarray(cost, dtype=float) - delta
    if float(nu @ d) <= 1e-15:
        return nu.copy(), 0.0
    below = d[support] < 0
    if not below.any():
        mu = 1.0 / delta
    else:
        mu_max = 1.0 / float(np.max(-d[support][below]))
        nus, ds = nu[support], d[support]

        def slope(m: float) -> float:
            return float(-np.sum(nus * ds / (1 + m * ds) ** 2))

        hi = mu_max * (1 - 1e-12)
        lo = brentq(slope, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps) if slope(hi) > 0 else 0.0
        mu = brentq(
            lambda m: float(np.sum(nus / (1 + m * ds))) - 1.0,
            lo,
            hi,
            xtol=1e-300,
            rtol=4 * np.finfo(float).eps,
        )
    q = np.where(support, nu / (1 + mu * d), 0.0)
    return q, float(mu)
