"""Single-distribution objectives: correctness, entropy, gini, sharpen, majority, match, random.

Each variant of a prompt is an independent group. Closed forms for ν* = argmax Ψ - β KL(ν ‖ ref)
(β here is already divided by the answer weight; see base.py):
  correctness  Ψ = ⟨R, ν⟩       r = R            ν* ∝ ref · e^{R/β}
  entropy      Ψ = H(ν)         r = -log ν       ν* ∝ ref^{β/(1+β)}
  gini         Ψ = 1 - Σ ν²     r = -2 ν         ν* = (β/2) W((2/β) ref s)   (s: normalisation)
  sharpen      Ψ = -H(ν)        r = log ν        β > 1: ν* ∝ ref^{β/(β-1)};  β ≤ 1: δ at the mode of ref
  majority     Ψ = max_z ν(z)   r = 1[z = mode]  ν* ∝ ref · e^{1[z = mode(ref)]/β}  (not δ_mode)
  match        Ψ = -KL(ν ‖ p)   r = log p - log ν  ν* ∝ (p · ref^β)^{1/(1+β)}
  random       Ψ = 0            r ~ Bernoulli/uniform, independent of the answer   ν* = ref
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from .base import Estimated, LogEstimated, Objective
from .groups import Groups, check_groups, counts, modes
from .solvers import from_logs, gini_optimum, tilt

_RANDOM_TAG = 0x5EED


def _safe_log(nu: np.ndarray) -> np.ndarray:
    return np.log(np.where(nu > 0, nu, 1.0))


def _entropy(nu: np.ndarray) -> float:
    return float(-np.sum(nu * _safe_log(nu)))


def _power(ref: np.ndarray, exponent: float) -> np.ndarray:
    support = ref > 0
    return from_logs(exponent * _safe_log(ref), support)


def _mode_index(nu: np.ndarray) -> int:
    """Index of the largest entry (the first, i.e. smallest answer, among exact ties)."""
    return int(np.argmax(nu))


class Correctness(Objective):
    """Gold reward only: r = correct (0/1 from the answer checker). Needs ``correct`` / ``R``."""

    name = "correctness"

    def __init__(self):
        super().__init__(unparsed_penalty=0.0)

    def rewards(self, groups: Groups, correct: Sequence[Sequence[float]] | None = None) -> list[list[float]]:
        """correct per sample; unparsed samples get 0."""
        groups = check_groups(groups)
        if correct is None:
            raise ValueError("correctness: rewards need correct (gold 0/1 per sample)")
        if len(correct) != len(groups) or any(len(c) != len(g) for c, g in zip(correct, groups)):
            raise ValueError("rewards: correct must have the same shape as groups")
        out = []
        for j, (c, g) in enumerate(zip(correct, groups)):
            row = [float(v) for v in c]
            if not all(math.isfinite(v) for v in row):
                raise ValueError(f"rewards: correct[{j}] has non-finite values")
            out.append([0.0 if z is None else v for z, v in zip(g, row)])  # unparsed is never credited
        return out

    def _field(self, nu, labels, R):
        if R is None:
            raise ValueError("correctness: the reward field needs R")
        return np.asarray(R, dtype=float)

    def _psi(self, nu, labels, R):
        return float(nu @ self._field(nu, labels, R))

    def _optimum1(self, ref, labels, beta, R):
        return tilt(ref, R, beta)


class SignedEntropy(LogEstimated):
    """Ψ = sign · H(ν), reward -sign · log ν̂(z); stationary point ν* ∝ ref^{β/(β+sign)} when β + sign > 0,
    else all mass on the mode of ref."""

    sign: ClassVar[float] = 1.0

    def _variant_rewards(self, group):
        c, G = counts(group), len(group)
        return [None if z is None else -self.sign * self.log_share(c[z], G) for z in group]

    def _field(self, nu, labels, R):
        return -self.sign * _safe_log(nu)

    def _psi(self, nu, labels, R):
        return self.sign * _entropy(nu)

    def _optimum1(self, ref, labels, beta, R):
        if beta + self.sign > 0:
            return _power(ref, beta / (beta + self.sign))
        out = np.zeros(len(ref))
        out[_mode_index(ref)] = 1.0
        return out


class Entropy(SignedEntropy):
    """Diversity: Ψ = H(ν), reward -log ν̂(z) (log estimator: plugin or minimax)."""

    name = "entropy"
    sign = 1.0


class Sharpen(SignedEntropy):
    """Self-consistency: Ψ = -H(ν), reward +log ν̂(z). Interior optimum only for β > 1."""

    name = "sharpen"
    sign = -1.0


class Gini(Estimated):
    """Diversity: Ψ = 1 - Σ ν², reward -2 ν̂(z) with ν̂ the leave-one-out U-statistic (unbiased)."""

    name = "gini"

    def _variant_rewards(self, group):
        c, G = counts(group), len(group)
        return [None if z is None else -2.0 * self.own_share(c[z], G) for z in group]

    def _field(self, nu, labels, R):
        return -2.0 * nu

    def _psi(self, nu, labels, R):
        return float(1.0 - nu @ nu)

    def _optimum1(self, ref, labels, beta, R):
        return gini_optimum(ref, beta)


class Majority(Objective):
    """TTRL: Ψ = max_z ν(z), reward 1 for the group's mode (1/k each for k tied modes), else 0."""

    name = "majority"

    def _variant_rewards(self, group):
        top = modes(counts(group))
        return [None if z is None else (1.0 / len(top) if z in top else 0.0) for z in group]

    def target(self, groups):
        out = []
        for group in check_groups(groups):
            top = modes(counts(group))
            out.append({z: 1.0 / len(top) for z in top})
        return out

    def _field(self, nu, labels, R):
        top = np.isclose(nu, nu.max(), rtol=0, atol=1e-12)
        return top / top.sum()

    def _psi(self, nu, labels, R):
        return float(nu.max())

    def _optimum1(self, ref, labels, beta, R):
        return tilt(ref, np.eye(len(ref))[_mode_index(ref)], beta)


class Match(LogEstimated):
    """Distribution matching: Ψ = -KL(ν ‖ p), reward log p(z) - log ν̂(z).

    Answers outside ``p`` (or with p = 0) get p = ``floor`` (p need not then sum to 1: a constant).
    """

    name = "match"

    def __init__(self, *, p: Mapping[str, float], floor: float = 1e-6, **common):
        super().__init__(**common)
        if not isinstance(p, Mapping) or not p:
            raise ValueError("match: p must be a non-empty mapping answer -> probability")
        if not all(
            isinstance(z, str) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
            for z, v in p.items()
        ):
            raise ValueError("match: p must map str answers to finite probabilities >= 0")
        if not (isinstance(floor, (int, float)) and 0 < floor < 1):
            raise ValueError(f"match: floor must be in (0, 1), got {floor!r}")
        total = float(sum(p.values()))
        self.p = {z: float(v) / total for z, v in p.items()}
        self.floor = float(floor)

    def log_p(self, z: str) -> float:
        """log p(z), floored."""
        return math.log(max(self.p.get(z, 0.0), self.floor))

    def _variant_rewards(self, group):
        c, G = counts(group), len(group)
        return [None if z is None else self.log_p(z) - self.log_share(c[z], G) for z in group]

    def _field(self, nu, labels, R):
        return np.array([self.log_p(z) for z in labels]) - _safe_log(nu)

    def _psi(self, nu, labels, R):
        return float(nu @ self._field(nu, labels, R))

    def _optimum1(self, ref, labels, beta, R):
        logp = np.array([self.log_p(z) for z in labels])
        return from_logs((logp + beta * _safe_log(ref)) / (1 + beta), ref > 0)


class Random(Objective):
    """Control: reward independent of the answer, Bernoulli(p) or Uniform(0, 1), seeded RNG."""

    name = "random"

    def __init__(
        self,
        *,
        distribution: str = "bernoulli",
        p: float = 0.5,
        seed: int = 0,
        **common,
    ):
        super().__init__(**common)
        if distribution not in ("bernoulli", "uniform"):
            raise ValueError(
                f"random: distribution {distribution!r} not allowed; allowed: bernoulli, uniform"
            )
        if not (isinstance(p, (int, float)) and 0 <= p <= 1):
            raise ValueError(f"random: p must be in [0, 1], got {p!r}")
        if not isinstance(seed, int):
            raise ValueError(f"random: seed must be an int, got {seed!r}")  # noqa: TRY004
        self.distribution, self.p, self.seed = distribution, float(p), seed
        # a tagged stream, so that it never coincides with a default_rng(seed) used to sample answers
        self._rng = np.random.default_rng([seed, _RANDOM_TAG])

    def _variant_rewards(self, group):
        u = self._rng.random(len(group))
        values = (u < self.p).astype(float) if self.distribution == "bernoulli" else u
        return [None if z is None else float(v) for z, v in zip(group, values)]

    def _field(self, nu, labels, R):
        return np.zeros(len(nu))

    def _psi(self, nu, labels, R):
        return 0.0

    def _optimum1(self, ref, labels, beta, R):
        return ref.copy()
