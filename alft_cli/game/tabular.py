"""Exact simulator of the answer-level game on an enumerable trace space.

A ``TraceSpace`` lists traces y with their answers ans(y) and, per prompt variant, π_ref over traces.
A ``Game`` fixes the objective, β and the correctness mixture. On top:
- ``trace_optimum``: brute-force ALFT optimum over traces (KKT of max Ψ(ν_π) - β Σ KL(π_j ‖ π_ref,j),
  solved in trace space; it knows answers only through ν_π = A π);
- ``lift``: π* = π_ref · ν*/ν_ref (the lifting lemma), ``lifting_terms`` the KL chain rule;
- ``best_response`` / ``dynamics``: Target best response + Policy best response or Hedge (mirror
  ascent) steps, with ``exploitability`` = what the Policy gains by best-responding to the Target's
  best response (0 exactly at an equilibrium; for concave Ψ an upper bound on suboptimality).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from .base import Objective
from .solvers import kl, solve_fixed_point


@dataclass(frozen=True, eq=False)
class TraceSpace:
    """Traces with their answers and one reference policy over traces per prompt variant."""

    answers: tuple[str, ...]
    refs: tuple[np.ndarray, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.answers)))

    @property
    def matrix(self) -> np.ndarray:
        """A[k, y] = 1[ans(y) = labels[k]]."""
        return np.array([[float(a == z) for a in self.answers] for z in self.labels])

    def marginals(self, pis: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Answer marginals ν_π = A π, one per variant."""
        a = self.matrix
        return [a @ pi for pi in pis]

    def nu_ref(self) -> list[dict[str, float]]:
        return [{z: float(v) for z, v in zip(self.labels, nu)} for nu in self.marginals(self.refs)]

    @staticmethod
    def random(
        n_traces: int = 12, n_answers: int = 4, variants: int = 1, seed: int = 0, concentration: float = 1.0
    ) -> TraceSpace:
        """Random space: every answer has at least one trace, π_ref ~ Dirichlet(concentration)."""
        rng = np.random.default_rng(seed)
        labels = [chr(ord("A") + k) for k in range(n_answers)]
        answers = [labels[i % n_answers] for i in range(n_traces)]
        rng.shuffle(answers)
        refs = tuple(rng.dirichlet(np.full(n_traces, concentration)) for _ in range(variants))
        return TraceSpace(tuple(answers), refs)


@dataclass(frozen=True, eq=False)
class Game:
    """Objective + KL weight β + optional correctness mixture (same meaning as ``Objective.rewards``)."""

    objective: Objective
    beta: float
    R: Mapping[str, float] | None = None
    correctness_weight: float = 0.0
    answer_weight: float = 1.0

    def _R(self, labels: Sequence[str], m: int) -> list[np.ndarray] | None:
        return None if self.R is None else [np.array([float(self.R[z]) for z in labels])] * m

    def field(self, nus: list[np.ndarray], labels: Sequence[str]) -> list[np.ndarray]:
        """Total per-answer reward when the Target best-responds to the marginals ``nus``."""
        R = self._R(labels, len(nus))
        out = [self.answer_weight * f for f in self.objective.reward_field(nus, labels, R)]
        if self.correctness_weight:
            out = [f + self.correctness_weight * r for f, r in zip(out, R)]
        return out

    def value(self, nus: list[np.ndarray], labels: Sequence[str]) -> float | None:
        """answer_weight · Ψ + correctness_weight · Σ_j ⟨R, ν_j⟩ (None if the game has no potential)."""
        R = self._R(labels, len(nus))
        psi = self.objective.potential(nus, labels, R)
        if psi is None:
            return None
        gold = sum(float(r @ nu) for r, nu in zip(R, nus)) if self.correctness_weight else 0.0
        return self.answer_weight * psi + self.correctness_weight * gold

    def answer_optimum(self, space: TraceSpace) -> list[np.ndarray]:
        """ν* from ``Objective.optimum``, as arrays over ``space.labels``."""
        out = self.objective.optimum(
            space.nu_ref(),
            self.beta,
            R=self.R,
            correctness_weight=self.correctness_weight,
            answer_weight=self.answer_weight,
        )
        return [np.array([d.get(z, 0.0) for z in space.labels]) for d in out]


def lift(space: TraceSpace, nus: Sequence[np.ndarray]) -> list[np.ndarray]:
    """π_j(y) = π_ref,j(y) · ν_j(ans y) / ν_ref,j(ans y)."""
    a = space.matrix
    return [
        ref * (a.T @ (nu / np.where(nref > 0, nref, 1.0)))
        for ref, nu, nref in zip(space.refs, nus, space.marginals(space.refs))
    ]


def lifting_terms(space: TraceSpace, pi: np.ndarray, j: int = 0) -> tuple[float, float, float]:
    """(KL(π ‖ π_ref), KL(ν_π ‖ ν_ref), E_{z∼ν_π} KL(π(·|z) ‖ π_ref(·|z))) for variant j."""
    a, ref = space.matrix, space.refs[j]
    nu, nu_ref = a @ pi, a @ ref
    within = sum(nu[k] * kl(pi * a[k] / nu[k], ref * a[k] / nu_ref[k]) for k in range(len(nu)) if nu[k] > 0)
    return kl(pi, ref), kl(nu, nu_ref), float(within)


def _trace_field(game: Game, space: TraceSpace):
    a, labels = space.matrix, space.labels
    return lambda pis: [a.T @ f for f in game.field(space.marginals(pis), labels)]


def trace_optimum(game: Game, space: TraceSpace) -> list[np.ndarray]:
    """Brute force over traces: the KKT point of max Ψ(A π) - β Σ_j KL(π_j ‖ π_ref,j) (Newton, 1e-13)."""
    return solve_fixed_point(_trace_field(game, space), list(space.refs), game.beta)


def _best_response_logs(game: Game, space: TraceSpace, pis: Sequence[np.ndarray]) -> list[np.ndarray]:
    out = []
    for ref, f in zip(space.refs, _trace_field(game, space)(list(pis))):
        logits = np.log(ref) + f / game.beta
        out.append(logits - logsumexp(logits))
    return out


def best_response(game: Game, space: TraceSpace, pis: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Policy best response to the Target's best response to ``pis``: π ∝ π_ref · e^{r/β}."""
    return [np.exp(v) for v in _best_response_logs(game, space, pis)]


def exploitability(game: Game, space: TraceSpace, pis: Sequence[np.ndarray]) -> float:
    """max_π' U(π'; q) - U(π; q), U = ⟨r_q, ν⟩ - β KL(· ‖ π_ref), q = Target best response to π."""
    gap = 0.0
    for pi, ref, f in zip(pis, space.refs, _trace_field(game, space)(list(pis))):
        best = game.beta * logsumexp(np.log(ref) + f / game.beta)
        gap += best - (float(pi @ f) - game.beta * kl(pi, ref))
    return float(gap)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Exploitability per step of the iterate and of the running average, and the final policies."""

    exploitability: np.ndarray
    average_exploitability: np.ndarray
    policies: tuple[np.ndarray, ...]
    average: tuple[np.ndarray, ...]


def dynamics(game: Game, space: TraceSpace, steps: int, step: float = 1.0) -> Trajectory:
    """Target best response each round; Policy log π ← (1-θ) log π + θ (log π_ref + r/β).

    θ = ``step`` = 1 is best-response dynamics; θ < 1 is Hedge / entropic mirror ascent on the
    regularised payoff with learning rate θ/β (a no-regret algorithm).
    """
    logs = [np.log(ref) for ref in space.refs]
    pis = [ref.copy() for ref in space.refs]
    total = [np.zeros_like(ref) for ref in space.refs]
    gaps, avg_gaps = [], []
    for t in range(steps):
        logs = [(1 - step) * v + step * b for v, b in zip(logs, _best_response_logs(game, space, pis))]
        logs = [v - logsumexp(v) for v in logs]
        pis = [np.exp(v) for v in logs]
        total = [s + p for s, p in zip(total, pis)]
        gaps.append(exploitability(game, space, pis))
        avg_gaps.append(exploitability(game, space, [s / (t + 1) for s in total]))
    return Trajectory(np.array(gaps), np.array(avg_gaps), tuple(pis), tuple(s / steps for s in total))
