"""Objectives across prompt variants (coherence, pairwise, fairness) and the safety constraint.

Coherence (variants T_1(x)…T_m(x), marginals ν_1…ν_m, Target = consensus c, reward log c(z) - log ν̂_j(z)):
- arithmetic / power γ: a potential game, Ψ = Σ_j H(ν_j) - γ m H(ν̄) (γ = 1: -Σ_j KL(ν_j ‖ ν̄)),
  concave for γ ≤ 1 + β; ν* by a convex solve.
- geometric: the reward field is not a gradient (no Ψ exists); the game still has a unique
  equilibrium, ν*_j ∝ ref_j^{β/(1+β)} · c_ref^{1/(1+β)}, c_ref = geometric consensus of the refs.
- majority: Ψ = max_z Σ_j ν_j(z), reward 1[z = pooled mode] (TTRL with votes pooled over variants).
Pairwise: Ψ = Σ_{j<k} ⟨ν_j, ν_k⟩ + (w/2) Σ_j ⟨ν_j, ν_j⟩, reward Σ_{k≠j} ν̂_k(z) + w ν̂_j(z).
Safety: Ψ = -min_{q: E_q g ≤ δ} KL(ν ‖ q), reward log q(z) - log ν̂(z) = -log(1 + μ(g(z) - δ));
Fairness = arithmetic coherence (the M-projection onto {ν_1 = … = ν_m}).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.optimize import brentq

from .base import Estimated, LogEstimated, Objective
from .consensus import CONSENSUS, log_consensus, safety_projection, smoothed
from .groups import check_groups, counts, histogram, union_answers
from .objectives import _entropy, _safe_log
from .solvers import best_fixed_point, from_logs, solve_fixed_point, tilt


def _count_matrix(groups: list[list[str | None]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    labels = union_answers(groups)
    index = {z: k for k, z in enumerate(labels)}
    mat = np.zeros((len(groups), len(labels)))
    for j, group in enumerate(groups):
        for z in group:
            if z is not None:
                mat[j, index[z]] += 1
    return labels, mat, np.array([len(g) for g in groups], dtype=float)


def _starts(refs: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Starting points for non-concave solves: the refs, and the refs pushed towards each answer."""
    k = len(refs[0])
    return [refs] + [[tilt(r, 6.0 * np.eye(k)[z], 1.0) for r in refs] for z in range(k)]


class _Consensus(LogEstimated):
    """Target = a consensus of the variants' smoothed histograms, reward log c(z) - log ν̂_j(z)."""

    multi_variant = True
    consensus: str = "arithmetic"
    gamma: float = 1.0

    def __init__(self, *, smoothing: float = 0.5, **common):
        super().__init__(**common)
        if not (isinstance(smoothing, (int, float)) and math.isfinite(smoothing) and smoothing >= 0):
            raise ValueError(f"{self.name}: smoothing must be finite and >= 0, got {smoothing!r}")
        self.smoothing = float(smoothing)

    def _sample_log_consensus(self, mat: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        if self.consensus == "majority":
            return log_consensus(mat, "majority")
        return log_consensus(smoothed(mat, sizes, self.smoothing), self.consensus, self.gamma)

    def target(self, groups):
        groups = check_groups(groups)
        labels, mat, sizes = _count_matrix(groups)
        if not labels:
            return [{} for _ in groups]
        c = np.exp(self._sample_log_consensus(mat, sizes))
        return [{z: float(v) for z, v in zip(labels, c)} for _ in groups]

    def _answer_rewards(self, groups):
        labels, mat, sizes = _count_matrix(groups)
        if not labels:
            return [[None] * len(g) for g in groups]
        logc = dict(zip(labels, self._sample_log_consensus(mat, sizes)))
        out = []
        for group in groups:
            n, G = counts(group), len(group)
            if self.consensus == "majority":
                out.append([None if z is None else math.exp(logc[z]) for z in group])
            else:
                out.append([None if z is None else logc[z] - self.log_share(n[z], G) for z in group])
        return out

    def reward_field(self, nus, labels, R):
        logc = log_consensus(np.vstack(nus), self.consensus, self.gamma)
        if self.consensus == "majority":
            return [np.exp(logc) for _ in nus]
        return [logc - _safe_log(nu) for nu in nus]

    def potential(self, nus, labels, R):
        if self.consensus == "geometric":
            return None
        if self.consensus == "majority":
            return float(np.sum(nus, axis=0).max())
        pooled = np.mean(nus, axis=0)
        return float(sum(_entropy(nu) for nu in nus) - self.gamma * len(nus) * _entropy(pooled))

    def _optimum(self, refs, labels, beta, R):
        if self.consensus == "geometric":  # the equilibrium ν_j ∝ ref_j^{β/(1+β)} c_ref^{1/(1+β)}
            logc = log_consensus(np.vstack(refs), "geometric")
            common = np.isfinite(logc)
            logc = np.where(common, logc, 0.0)
            return [from_logs((beta * _safe_log(r) + logc) / (1 + beta), common) for r in refs]
        if self.consensus == "majority":
            # value of tilting every variant towards z: Σ_j β log(1 + ν_j(z)(e^{1/β} - 1)); keep the best z
            with np.errstate(divide="ignore"):
                gain = np.sum([np.logaddexp(np.log1p(-r), np.log(r) + 1 / beta) for r in refs], axis=0)
            e = np.eye(len(labels))[int(np.argmax(gain))]
            return [tilt(r, e, beta) for r in refs]

        def field(xs):
            return self.reward_field(xs, labels, None)

        if self.gamma <= 1 + beta:
            return solve_fixed_point(field, refs, beta)
        return best_fixed_point(field, lambda xs: self.potential(xs, labels, None), refs, beta, _starts(refs))


class Coherence(_Consensus):
    """Consistency of the answer distribution across task-preserving prompt transformations."""

    name = "coherence"

    def __init__(self, *, consensus: str = "geometric", gamma: float = 2.0, **common):
        if consensus not in CONSENSUS:
            raise ValueError(f"{self.name}: consensus {consensus!r} not allowed; allowed: {', '.join(CONSENSUS)}")
        if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"{self.name}: gamma must be finite and >= 0, got {gamma!r}")
        super().__init__(**common)
        if consensus == "geometric" and self.smoothing == 0:
            raise ValueError(f"{self.name}: geometric consensus needs smoothing > 0 (answers missing from a variant)")
        self.consensus = consensus
        self.gamma = 1.0 if consensus == "arithmetic" else float(gamma)


class Pairwise(Estimated):
    """Agreement between variants: reward Σ_{k≠j} ν̂_k(z) (+ w · leave-one-out ν̂_j(z))."""

    name = "pairwise"
    multi_variant = True

    def __init__(self, *, self_weight: float = 0.0, **common):
        super().__init__(**common)
        if not (isinstance(self_weight, (int, float)) and math.isfinite(self_weight) and self_weight >= 0):
            raise ValueError(f"pairwise: self_weight must be finite and >= 0, got {self_weight!r}")
        self.self_weight = float(self_weight)

    def target(self, groups):
        groups = check_groups(groups)
        labels, mat, sizes = _count_matrix(groups)
        shares = mat / np.maximum(sizes, 1)[:, None]
        out = []
        for j in range(len(groups)):
            w = shares.sum(axis=0) - (1 - self.self_weight) * shares[j]
            out.append({z: float(v / w.sum()) for z, v in zip(labels, w) if v > 0} if w.sum() > 0 else {})
        return out

    def _answer_rewards(self, groups):
        hists = [(counts(g), len(g)) for g in groups]
        out = []
        for j, group in enumerate(groups):
            n, G = hists[j]
            others = [(c, size) for k, (c, size) in enumerate(hists) if k != j]
            out.append(
                [
                    None
                    if z is None
                    else sum(c[z] / size for c, size in others)
                    + self.self_weight * self.own_share(n[z], G)
                    for z in group
                ]
            )
        return out

    def reward_field(self, nus, labels, R):
        total = np.sum(nus, axis=0)
        return [total - (1 - self.self_weight) * nu for nu in nus]

    def potential(self, nus, labels, R):
        total = np.sum(nus, axis=0)
        sq = sum(float(nu @ nu) for nu in nus)
        return 0.5 * (float(total @ total) - sq) + 0.5 * self.self_weight * sq

    def _optimum(self, refs, labels, beta, R):
        def field(xs):
            return self.reward_field(xs, labels, None)

        if beta > len(refs) - 1 + self.self_weight:  # sufficient for concavity (Hessian bound)
            return solve_fixed_point(field, refs, beta)
        return best_fixed_point(field, lambda xs: self.potential(xs, labels, None), refs, beta, _starts(refs))


class SafetyConstraint(Objective):
    """Safety: E_ν[g] ≤ δ by a KL penalty (λ = answer weight); Target = M-projection onto the set."""

    name = "safety"

    def __init__(self, *, cost: Mapping[str, float], delta: float = 0.1, **common):
        super().__init__(**common)
        if not isinstance(cost, Mapping) or not all(
            isinstance(z, str) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
            for z, v in cost.items()
        ):
            raise ValueError("safety: cost must map str answers to finite costs g >= 0 (unlisted: 0)")
        if not (isinstance(delta, (int, float)) and 0 < delta <= 1):
            raise ValueError(f"safety: delta must be in (0, 1], got {delta!r}")
        self.cost, self.delta = {z: float(v) for z, v in cost.items()}, float(delta)

    def _g(self, labels) -> np.ndarray:
        return np.array([self.cost.get(z, 0.0) for z in labels])

    def target(self, groups):
        out = []
        for group in check_groups(groups):
            hist = histogram(group)
            labels = list(hist)
            if not labels:
                out.append({})
                continue
            q, _ = safety_projection(np.array([hist[z] for z in labels]), self._g(labels), self.delta)
            out.append({z: float(v) for z, v in zip(labels, q)})
        return out

    def _variant_rewards(self, group):
        hist = histogram(group)
        labels = list(hist)
        if not labels:
            return [None] * len(group)
        r = dict(zip(labels, self._field(np.array([hist[z] for z in labels]), labels, None)))
        return [None if z is None else r[z] for z in group]

    def _field(self, nu, labels, R):
        g = self._g(labels)
        _, mu = safety_projection(nu, g, self.delta)
        return -np.log1p(mu * (g - self.delta))

    def _psi(self, nu, labels, R):
        return float(nu @ self._field(nu, labels, R))

    def _optimum1(self, ref, labels, beta, R):
        d = self._g(labels) - self.delta
        support = ref > 0
        if float(ref @ d) <= 0:
            return ref.copy()
        if not np.any(d[support] < 0):
            raise ValueError("safety: no answer of nu_ref has cost < delta; the safe set is empty")
        mu_max = 1.0 / float(np.max(-d[support]))

        def nu(mu: float) -> np.ndarray:
            return from_logs(_safe_log(ref) - np.log1p(mu * d) / beta, support)

        def excess(mu: float) -> float:  # Σ q - 1 for q = M-projection of ν(μ) with multiplier μ
            return float(np.sum(nu(mu) / (1 + mu * d))) - 1.0

        grid = mu_max * -np.expm1(-np.linspace(1e-4, 30, 400))
        values = np.array([excess(m) for m in grid])
        if not (values[0] < 0 < values.max()):
            raise RuntimeError("safety: could not bracket the multiplier of the optimum")
        k = int(np.argmax(values > 0))  # first sign change after the trivial root μ = 0
        mu = brentq(excess, grid[k - 1], grid[k], xtol=1e-300, rtol=4 * np.finfo(float).eps)
        return nu(mu)


class FairnessConstraint(_Consensus):
    """Fairness: equal answer marginals across variants by a KL penalty; arithmetic consensus."""

    name = "fairness"
