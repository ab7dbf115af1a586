"""GRPO on an enumerable trace space: a stochastic simulation and its exact expected fixed point.

Both call ``Objective.rewards`` on sampled groups, the code the trainer uses. The policy is a softmax
over traces per variant; one step samples ``groups_per_step`` groups of G per variant, computes
group advantages and ascends Σ_i A_i ∇log π(y_i) / G - β ∇KL(π ‖ π_ref) (exact KL gradient).
At a fixed point of the expected update π ∝ π_ref · exp(E[A | ans] / β), so the estimator's bias
E[A | z] - (r(z) - E r) moves the learned marginal away from ν*.

Baselines: ``rloo`` A_i = r_i - mean_{k≠i} r_k (= G/(G-1) (r_i - mean)), which keeps the reward scale;
``mean`` A_i = r_i - mean (TRL's scale_rewards="none"), which shrinks it by (G-1)/G, i.e. acts as
β·G/(G-1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import gammaln, xlogy

from .solvers import solve_fixed_point
from .tabular import Game, TraceSpace

BASELINES = ("rloo", "mean", "independent")
_SIM_TAG = 0x51A


def _score(game: Game, groups: list[list]) -> list[list[float]]:
    correct = (
        None if game.R is None else [[float(game.R[z]) if z is not None else 0.0 for z in g] for g in groups]
    )
    return game.objective.rewards(groups, correct, game.correctness_weight, game.answer_weight)


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
