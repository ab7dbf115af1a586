"""Stochastic GRPO on traces converges near ν*; the minimax table beats the plug-in; exact fixed points."""

from __future__ import annotations

import numpy as np
import pytest

from alft_cli.game import get_objective
from alft_cli.game.tabular import Game, group_advantages, grpo_fixed_point, simulate_grpo

from .conftest import R_GOLD

P_MATCH = {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4}

# name, params, mixture, β, G, stated tolerance on the mean L1 error ‖ν_sim - ν*‖₁ (seeded, deterministic)
SIM = [
    ("correctness", {}, {"R": R_GOLD}, 1.0, 8, 0.005),
    ("entropy", {"estimator": "minimax"}, {}, 1.0, 8, 0.03),
    (
        "entropy",
        {"estimator": "minimax"},
        {"R": R_GOLD, "correctness_weight": 1.0, "answer_weight": 0.5},
        0.5,
        8,
        0.03,
    ),
    ("gini", {}, {}, 0.5, 8, 0.03),
    ("sharpen", {"estimator": "minimax"}, {}, 2.0, 8, 0.03),
    ("majority", {}, {}, 1.0, 16, 0.03),  # the group mode smooths 1[z = mode]: 0.09 at G = 8
    ("match", {"p": P_MATCH, "estimator": "minimax"}, {}, 1.0, 8, 0.03),
    ("random", {}, {}, 1.0, 8, 0.02),
    ("safety", {"cost": {"A": 1.0, "B": 0.5}, "delta": 0.2}, {}, 0.6, 16, 0.08),  # plug-in projection
    ("coherence", {"consensus": "geometric"}, {}, 1.0, 8, 0.06),
    ("coherence", {"consensus": "arithmetic"}, {}, 1.0, 8, 0.06),
    ("coherence", {"consensus": "power", "gamma": 1.5}, {}, 1.0, 8, 0.1),
    ("coherence", {"consensus": "majority"}, {}, 1.0, 8, 0.04),
    ("pairwise", {}, {}, 2.5, 8, 0.01),
    ("fairness", {}, {"R": R_GOLD, "correctness_weight": 1.0}, 1.0, 8, 0.06),
]


@pytest.mark.parametrize(
    ("name", "params", "mix", "beta", "G", "tol"), SIM, ids=[f"{c[0]}-{i}" for i, c in enumerate(SIM)]
)
def test_stochastic_grpo_converges_near_the_optimum(space, space3, name, params, mix, beta, G, tol):
    game = Game(get_objective(name, **params), beta, **mix)
    sp = space3 if game.objective.multi_variant else space
    steps, per_step = (1500, 2) if game.objective.multi_variant else (2000, 4)
    result = simulate_grpo(game, sp, G, steps, lr=1.0, groups_per_step=per_step, seed=0)
    nu = game.answer_optimum(sp)
    assert result.l1(nu) <= tol
    moved = np.mean([np.abs(a - b).sum() for a, b in zip(nu, sp.marginals(sp.refs))])
    assert moved > tol or name == "random"  # staying at ν_ref would fail


@pytest.mark.parametrize(("name", "beta"), [("entropy", 1.0), ("sharpen", 2.0)])
def test_minimax_table_lands_closer_than_plugin_at_g8(space, name, beta):
    errors = {}
    for estimator in ("plugin", "minimax"):
        game = Game(get_objective(name, estimator=estimator), beta)
        result = simulate_grpo(game, space, 8, 4000, lr=0.5, groups_per_step=4, seed=0)
        errors[estimator] = result.l1(game.answer_optimum(space))
    assert errors["minimax"] < 0.6 * errors["plugin"]


def test_simulation_matches_the_exact_expected_fixed_point(space):
    game = Game(get_objective("sharpen"), 2.0)  # plug-in: a large, exactly predictable bias
    fixed = grpo_fixed_point(game, space, 8)
    result = simulate_grpo(game, space, 8, 2000, lr=1.0, groups_per_step=4, seed=0)
    assert np.abs(fixed - game.answer_optimum(space)[0]).sum() > 0.1
    assert np.abs(result.marginals[0] - fixed).sum() < 0.01


@pytest.mark.parametrize("G", [4, 8, 16])
def test_expected_fixed_point_error_plugin_vs_minimax(space, G):
    errs = {}
    for estimator in ("plugin", "minimax"):
        game = Game(get_objective("entropy", estimator=estimator), 1.0)
        errs[estimator] = np.abs(grpo_fixed_point(game, space, G) - game.answer_optimum(space)[0]).sum()
    assert errs["minimax"] < errs["plugin"] / 2
    assert errs["plugin"] == pytest.approx({4: 0.0795, 8: 0.0380, 16: 0.0151}[G], abs=5e-4)


def test_unbiased_rewards_with_an_independent_baseline_have_no_fixed_point_error(space):
    """Gini with the leave-one-out U-statistic is unbiased; a baseline scored without the sample keeps it
    so. The usual group baselines correlate with the sample (rewards depend on the group)."""
    game = Game(get_objective("gini"), 0.5)
    nu = game.answer_optimum(space)[0]
    err = {
        b: np.abs(grpo_fixed_point(game, space, 8, baseline=b) - nu).sum()
        for b in ("independent", "rloo", "mean")
    }
    assert err["independent"] < 1e-10
    assert 0.005 < err["rloo"] < err["mean"]


def test_mean_baseline_acts_as_a_larger_beta(space):
    """A_i = r_i - mean shrinks the reward by (G-1)/G: the fixed point is the optimum at β·G/(G-1)."""
    G, beta = 4, 0.5
    fixed = grpo_fixed_point(Game(get_objective("correctness"), beta, R=R_GOLD), space, G, baseline="mean")
    shifted = Game(get_objective("correctness"), beta * G / (G - 1), R=R_GOLD).answer_optimum(space)[0]
    np.testing.assert_allclose(fixed, shifted, atol=1e-12)


def test_group_advantages():
    game = Game(get_objective("correctness"), 1.0, R=R_GOLD)
    groups = [["A", "B", "B", "A"]]
    np.testing.assert_allclose(group_advantages(game, groups, "mean")[0], [0.5, -0.5, -0.5, 0.5])
    np.testing.assert_allclose(group_advantages(game, groups, "rloo")[0], [2 / 3, -2 / 3, -2 / 3, 2 / 3])
    np.testing.assert_allclose(
        group_advantages(game, groups, "independent")[0], [2 / 3, -2 / 3, -2 / 3, 2 / 3]
    )
    assert group_advantages(game, [["A"]], "rloo")[0].tolist() == [0.0]
    with pytest.raises(ValueError, match="allowed: rloo, mean, independent"):
        group_advantages(game, groups, "std")
