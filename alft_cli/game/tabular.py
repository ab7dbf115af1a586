"""Exact and stochastic simulators of the answer-level game on an enumerable trace space.

A ``TraceSpace`` lists traces y with their answers ans(y) and, per prompt variant, π_ref over traces.
A ``Game`` fixes the objective, β and the correctness mixture. On top:
- ``trace_optimum``: brute-force ALFT optimum over traces (KKT of max Ψ(ν_π) - β Σ KL(π_j ‖ π_ref,j),
  solved in trace space; it knows answers only through ν_π = A π);
- ``lift``: π* = π_ref · ν*/ν_ref (the lifting lemma), ``lifting_terms`` the KL chain rule;
- ``best_response`` / ``dynamics``: Target best response + Policy best response or Hedge (mirror
  ascent) steps, with ``exploitability`` = what the Policy gains by best-responding to the Target's
  best response (0 exactly at an equilibrium; for concave Ψ an upper bound on suboptimality);
- ``simulate_grpo`` / ``grpo_fixed_point``: GRPO on the traces, stochastic and its exact expectation.

GRPO here calls ``Objective.rewards`` on sampled groups, the code the trainer uses. The policy is a
softmax over traces per variant; one step samples ``groups_per_step`` groups of G per variant, computes
group advantages and ascends Σ_i A_i ∇log π(y_i) / G - β ∇KL(π ‖ π_ref) (exact KL gradient). At a fixed
point of the expected update π ∝ π_ref · exp(E[A | ans] / β), so the estimator's bias moves the learned
marginal away from ν*. Baselines: ``rloo`` A_i = r_i - mean_{k≠i} r_k (= G/(G-1)·(r_i - mean)) keeps
the reward scale; ``mean`` A_i = r_i - mean (TRL's scale_rewards="none") shrinks it by (G-1)/G, i.e.
acts as β·G/(G-1); ``independent`` scores the baseline without the sample (see group_advantages).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import gammaln, logsumexp, xlogy

from .base import Objective
from .solvers import kl, solve_fixed_point

BASELINES = ("rloo", "mean", "independent")
_SIM_TAG = 0x51A  # tags the simulator's RNG stream (distinct from an objective's default_rng(seed))


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
    """Objective + KL weight β + optional correctness mixture (the weights of training's reward functions)."""

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


def _score(game: Game, groups: list[list]) -> list[list[float]]:
    """What training's reward functions sum: answer_weight · r_q + correctness_weight · gold (TRL's
    ``reward_weights``); unparsed samples are never credited."""
    correct = (
        None if game.R is None else [[float(game.R[z]) if z is not None else 0.0 for z in g] for g in groups]
    )
    answer = game.objective.rewards(groups, correct)
    if not game.correctness_weight:
        return [[game.answer_weight * a for a in row] for row in answer]
    if correct is None:
        raise ValueError("simulate: correctness_weight != 0 needs R (answer -> gold)")
    return [[game.answer_weight * a + game.correctness_weight * c for a, c in zip(row, gold)]
            for row, gold in zip(answer, correct)]


def group_advantages(game: Game, groups: list[list], baseline: str = "rloo") -> list[np.ndarray]:
    """Advantages of every sample, per variant, without std scaling (zero for a group of one).

    ``independent``: the baseline of sample i is the mean reward of the other samples of its group
    scored *without* sample i, hence independent of y_i; ``rloo``/``mean`` use the rewards scored with
    it, which correlate with y_i when rewards depend on the group.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline {baseline!r} not allowed; allowed: {', '.join(BASELINES)}")
    rewards = _score(game, groups)
    out = []
    for j, (group, r) in enumerate(zip(groups, rewards)):
        r, G = np.asarray(r, dtype=float), len(group)
        if G < 2:
            out.append(np.zeros(G))
        elif baseline == "independent":
            base = [
                np.mean(_score(game, [*groups[:j], group[:i] + group[i + 1 :], *groups[j + 1 :]])[j])
                for i in range(G)
            ]
            out.append(r - np.array(base))
        else:
            centred = r - r.mean()
            out.append(centred * G / (G - 1) if baseline == "rloo" else centred)
    return out


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Time-averaged answer marginals per variant (arrays over ``labels``)."""

    marginals: tuple[np.ndarray, ...]
    labels: tuple[str, ...]

    def l1(self, nus: list[np.ndarray]) -> float:
        """Mean over variants of ‖ν_sim - ν‖₁."""
        return float(np.mean([np.abs(a - b).sum() for a, b in zip(self.marginals, nus)]))


def simulate_grpo(
    game: Game,
    space: TraceSpace,
    G: int,
    steps: int,
    lr: float = 1.0,
    groups_per_step: int = 4,
    baseline: str = "rloo",
    seed: int = 0,
    burn_in: float = 0.5,
) -> SimulationResult:
    """Stochastic GRPO; returns the marginals averaged over the steps after ``burn_in``·steps."""
    rng = np.random.default_rng([seed, _SIM_TAG])
    answers = np.array(space.answers, dtype=object)
    a = space.matrix
    log_refs = [np.log(ref) for ref in space.refs]
    theta = [x.copy() for x in log_refs]
    total = [np.zeros(len(space.labels)) for _ in space.refs]
    start = int(burn_in * steps)
    for t in range(steps):
        pis = [np.exp(th - th.max()) for th in theta]
        pis = [p / p.sum() for p in pis]
        grads = [np.zeros_like(p) for p in pis]
        for _ in range(groups_per_step):
            idx = [np.minimum(np.searchsorted(np.cumsum(p), rng.random(G)), len(p) - 1) for p in pis]
            groups = [list(answers[i]) for i in idx]
            for j, (i, adv) in enumerate(zip(idx, group_advantages(game, groups, baseline))):
                np.add.at(grads[j], i, adv / (groups_per_step * G))
        for j, (p, lref) in enumerate(zip(pis, log_refs)):
            log_ratio = np.log(p) - lref
            theta[j] = theta[j] + lr * (grads[j] - game.beta * p * (log_ratio - p @ log_ratio))
        if t >= start:
            total = [s + a @ p for s, p in zip(total, pis)]
    return SimulationResult(tuple(s / (steps - start) for s in total), space.labels)


def _compositions(G: int, K: int) -> np.ndarray:
    """All count vectors of K non-negative integers summing to G (stars and bars)."""
    rows = []
    for bars in combinations(range(G + K - 1), K - 1):
        edges = (-1, *bars, G + K - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(K)])
    return np.array(rows)


def expected_advantage(
    game: Game, labels: tuple[str, ...], G: int, baseline: str = "rloo"
) -> Callable[[np.ndarray], np.ndarray]:
    """ν ↦ E[A_i | ans_i = z] for one variant, exact: sums over all group compositions.

    The rewards of every composition are computed once (deterministic objectives only); the returned
    function reweights them by the multinomial probability of the other G - 1 samples.
    """
    K = len(labels)
    comps = _compositions(G, K)
    adv = np.full(comps.shape, np.nan)
    for c, n in enumerate(comps):
        group = [z for z, k in zip(labels, n) for _ in range(k)]
        first = np.minimum(np.concatenate([[0], np.cumsum(n)[:-1]]), G - 1)
        adv[c] = np.where(n > 0, group_advantages(game, [group], baseline)[0][first], np.nan)

    def mean_advantage(nu: np.ndarray) -> np.ndarray:
        out = np.zeros(K)
        for k in range(K):
            rows = comps[:, k] > 0
            others = comps[rows] - np.eye(K, dtype=int)[k]
            logp = gammaln(G) - gammaln(others + 1).sum(axis=1) + xlogy(others, nu).sum(axis=1)
            out[k] = float(np.exp(logp) @ adv[rows, k])
        return out

    return mean_advantage


def grpo_fixed_point(game: Game, space: TraceSpace, G: int, baseline: str = "rloo") -> np.ndarray:
    """Answer marginal at the fixed point of the expected GRPO update (single variant, exact)."""
    if len(space.refs) != 1:
        raise ValueError("grpo_fixed_point: single-variant spaces only")
    mean_advantage = expected_advantage(game, space.labels, G, baseline)
    nu_ref = space.marginals(space.refs)[0]
    return solve_fixed_point(lambda xs: [mean_advantage(xs[0])], [nu_ref], game.beta)[0]
