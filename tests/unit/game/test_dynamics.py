"""Game dynamics on traces: best responses and Hedge reach the optimum; exploitability falls."""

from __future__ import annotations

import numpy as np
import pytest

from alft_cli.game import get_objective
from alft_cli.game.tabular import Game, dynamics, exploitability, lift

from .conftest import R_GOLD, trace_value

HEDGE = [
    ("entropy", {}, {}, 0.5, False),
    ("gini", {}, {}, 0.3, False),
    ("sharpen", {}, {}, 1.5, False),
    ("majority", {}, {}, 0.8, False),
    ("match", {"p": {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4}}, {}, 0.5, False),
    (
        "safety",
        {"cost": {"A": 1.0, "B": 0.5}, "delta": 0.2},
        {"R": R_GOLD, "correctness_weight": 1.0},
        0.6,
        False,
    ),
    ("coherence", {"consensus": "geometric"}, {}, 0.5, True),
    ("coherence", {"consensus": "arithmetic"}, {"R": R_GOLD, "correctness_weight": 0.5}, 0.5, True),
    ("pairwise", {}, {}, 2.5, True),
]


@pytest.mark.parametrize(
    ("name", "params", "mix", "beta", "multi"), HEDGE, ids=[f"{c[0]}-{i}" for i, c in enumerate(HEDGE)]
)
def test_hedge_reaches_the_optimum_and_exploitability_falls(space, space3, name, params, mix, beta, multi):
    sp = space3 if multi else space
    game = Game(get_objective(name, **params), beta, **mix)
    traj = dynamics(game, sp, steps=250, step=0.5 * beta / (1 + beta))
    gaps = traj.exploitability
    assert gaps[0] > 1e-4 and gaps[-1] < 1e-10
    assert np.all(np.diff(gaps[:100]) <= 1e-12)  # monotone decrease
    np.testing.assert_allclose(sp.marginals(traj.policies), game.answer_optimum(sp), atol=1e-8)
    assert traj.average_exploitability[-1] < traj.average_exploitability[9] / 5  # averaged iterates too


def test_exploitability_bounds_suboptimality_for_concave_objectives(space):
    game = Game(get_objective("entropy"), 0.4, R=R_GOLD, correctness_weight=1.0)
    best = trace_value(game, space, lift(space, game.answer_optimum(space)))
    rng = np.random.default_rng(0)
    for _ in range(200):
        pi = [rng.dirichlet(np.full(12, 0.5))]
        gap = exploitability(game, space, pi)
        assert 0 <= best - trace_value(game, space, pi) <= gap + 1e-12


def test_exploitability_is_zero_exactly_at_the_equilibrium(space3):
    game = Game(get_objective("coherence"), 0.7)
    assert exploitability(game, space3, lift(space3, game.answer_optimum(space3))) < 1e-14
    assert exploitability(game, space3, list(space3.refs)) > 1e-3


def test_best_response_dynamics_converge_for_large_beta_and_diverge_for_small(space):
    """Undamped best responses for entropy are the log-linear map u ↦ log ν_ref - u/β: a contraction
    iff β > 1. Damped (Hedge) steps converge for every β > 0."""
    fast = dynamics(Game(get_objective("entropy"), 2.0), space, steps=60, step=1.0)
    assert fast.exploitability[-1] < 1e-12
    wild = dynamics(Game(get_objective("entropy"), 0.5), space, steps=30, step=1.0)
    assert wild.exploitability[-1] > 10 * wild.exploitability[0]
    damped = dynamics(Game(get_objective("entropy"), 0.5), space, steps=30, step=0.5 / 1.5)
    assert damped.exploitability[-1] < 1e-12  # θ = β/(1+β) solves the log-linear map in one step
