"""Lifting lemma and every closed form of docs/method.md against brute force over traces (≤ 1e-8)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from alft_cli.game import get_objective
from alft_cli.game.consensus import safety_projection
from alft_cli.game.tabular import Game, lift, lifting_terms, trace_optimum

from .conftest import R_GOLD, slsqp_optimum, trace_value

P_MATCH = {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4}
COST = {"A": 1.0, "B": 0.5}


def _norm(x):
    return x / x.sum()


def test_lifting_lemma_kl_chain_rule(space):
    rng = np.random.default_rng(0)
    for _ in range(20):
        pi = rng.dirichlet(np.ones(len(space.answers)))
        total, answer, within = lifting_terms(space, pi)
        assert total == pytest.approx(answer + within, abs=1e-12)
        assert within >= 0


# name, params, mixture, β, closed form ν*(ν_ref, R) written out independently (None: no closed form)
CASES = [
    ("correctness", {}, {"R": R_GOLD}, 0.7, lambda r, R: _norm(r * np.exp(R / 0.7))),
    ("entropy", {}, {}, 0.7, lambda r, R: _norm(r ** (0.7 / 1.7))),
    ("gini", {}, {}, 0.3, None),
    ("sharpen", {}, {}, 1.7, lambda r, R: _norm(r ** (1.7 / 0.7))),
    (
        "match",
        {"p": P_MATCH},
        {},
        0.5,
        lambda r, R: _norm((np.array(list(P_MATCH.values())) * r**0.5) ** (1 / 1.5)),
    ),
    (
        "entropy",
        {},
        {"R": R_GOLD, "correctness_weight": 1.0, "answer_weight": 0.5},
        0.4,
        lambda r, R: _norm((r**0.4 * np.exp(R)) ** (1 / 0.9)),
    ),  # ν* ∝ (ν_ref^β e^R)^{1/(λ+β)}
    ("random", {}, {}, 0.5, lambda r, R: r),
    ("safety", {"cost": COST, "delta": 0.2}, {}, 0.6, None),
    (
        "safety",
        {"cost": COST, "delta": 0.2},
        {"R": R_GOLD, "correctness_weight": 1.0, "answer_weight": 2.0},
        0.6,
        None,
    ),
    ("gini", {}, {"R": R_GOLD, "correctness_weight": 2.0, "answer_weight": 1.0}, 0.5, None),
]


@pytest.mark.parametrize(
    ("name", "params", "mix", "beta", "closed"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_optimum_matches_brute_force_over_traces(space, name, params, mix, beta, closed):
    game = Game(get_objective(name, **params), beta, **mix)
    nu = game.answer_optimum(space)
    pis = trace_optimum(game, space)
    np.testing.assert_allclose(space.marginals(pis)[0], nu[0], atol=1e-8)
    np.testing.assert_allclose(lift(space, nu)[0], pis[0], atol=1e-8)  # π* = π_ref · ν*/ν_ref
    if closed is not None:
        R = np.array([R_GOLD[z] for z in space.labels])
        np.testing.assert_allclose(nu[0], closed(space.marginals(space.refs)[0], R), atol=1e-12)
    generic = slsqp_optimum(game, space)  # independent optimiser: ours is at least as good, and close
    assert trace_value(game, space, pis) >= trace_value(game, space, generic) - 1e-10
    np.testing.assert_allclose(space.marginals(generic)[0], nu[0], atol=2e-5)


def test_gini_optimum_satisfies_stationarity(space):
    ref = space.marginals(space.refs)[0]
    nu = np.array(list(get_objective("gini").optimum(dict(zip(space.labels, ref)), 0.3).values()))
    station = -2 * nu - 0.3 * np.log(nu / ref)
    assert np.ptp(station) < 1e-12
    assert nu.sum() == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("beta", [0.3, 0.7, 1.0])
def test_sharpen_small_beta_puts_all_mass_on_the_mode(space, beta):
    game = Game(get_objective("sharpen"), beta)
    nu = game.answer_optimum(space)[0]
    ref = space.marginals(space.refs)[0]
    assert nu[np.argmax(ref)] == 1.0 and nu.sum() == 1.0
    best = trace_value(game, space, lift(space, [nu]))
    # brute force: every π_ref(·|z) (a vertex of the answer simplex) and random policies
    for k in range(len(ref)):
        assert best >= trace_value(game, space, lift(space, [np.eye(len(ref))[k]])) - 1e-12
    rng = np.random.default_rng(1)
    for _ in range(500):
        assert best >= trace_value(game, space, [rng.dirichlet(np.full(12, 0.3))])


@pytest.mark.parametrize("beta", [0.25, 1.0, 3.0])
def test_majority_optimum_is_a_tilt_towards_the_reference_mode(space, beta):
    game = Game(get_objective("majority"), beta)
    nu = game.answer_optimum(space)[0]
    ref = space.marginals(space.refs)[0]
    mode = np.eye(len(ref))[np.argmax(ref)]
    np.testing.assert_allclose(nu, _norm(ref * np.exp(mode / beta)), atol=1e-14)
    # brute force over traces: max_π max_z ν_π(z) - β KL = max_z of a correctness problem with R = 1[· = z]
    a = space.matrix
    best = max(beta * np.log(space.refs[0] @ np.exp(a[k] / beta)) for k in range(len(ref)))
    assert trace_value(game, space, lift(space, [nu])) == pytest.approx(best, abs=1e-12)
    rng = np.random.default_rng(2)
    for _ in range(300):
        assert best >= trace_value(game, space, [rng.dirichlet(np.ones(12))])


def test_safety_projection_rescales_unsafe_mass_for_indicator_costs():
    nu = np.array([0.5, 0.3, 0.2])
    q, mu = safety_projection(nu, np.array([1.0, 0.0, 0.0]), 0.2)
    np.testing.assert_allclose(q, [0.2, 0.3 * 0.8 / 0.5, 0.2 * 0.8 / 0.5], atol=1e-14)
    assert mu > 0
    q2, mu2 = safety_projection(nu, np.array([1.0, 0.0, 0.0]), 0.6)  # already safe
    np.testing.assert_array_equal(q2, nu)
    assert mu2 == 0.0


def test_safety_projection_general_cost_is_the_m_projection():
    nu, g, delta = np.array([0.4, 0.35, 0.25]), np.array([1.0, 0.5, 0.0]), 0.3
    q, _ = safety_projection(nu, g, delta)
    assert q.sum() == pytest.approx(1.0, abs=1e-13) and q @ g == pytest.approx(delta, abs=1e-13)
    rng = np.random.default_rng(3)  # any other feasible q is farther in KL(ν ‖ q)
    for _ in range(2000):
        other = rng.dirichlet(np.ones(3))
        if other @ g <= delta:
            assert nu @ np.log(nu / other) >= nu @ np.log(nu / q) - 1e-12


def test_safety_projection_without_observed_safe_answer_leaves_mass_to_unseen_answers():
    q, mu = safety_projection(np.array([0.6, 0.4]), np.array([1.0, 1.0]), 0.25)
    np.testing.assert_allclose(q, [0.15, 0.1], atol=1e-15)
    assert mu == 4.0


@pytest.mark.parametrize(("lam", "beta"), [(1.0, 0.5), (3.0, 2.0)])
def test_safety_optimum_indicator_cost_closed_form(space, lam, beta):
    """0/1 cost: logit ν*(U) = (λ logit δ + β logit ν_ref(U)) / (λ + β), proportional within U and S."""
    delta = 0.1
    game = Game(get_objective("safety", cost={"B": 1.0}, delta=delta), beta, answer_weight=lam)
    nu = game.answer_optimum(space)[0]
    ref = space.marginals(space.refs)[0]
    unsafe = np.array([z == "B" for z in space.labels])
    assert ref[unsafe].sum() > delta
    u = expit((lam * logit(delta) + beta * logit(ref[unsafe].sum())) / (lam + beta))
    expected = np.where(unsafe, ref * u / ref[unsafe].sum(), ref * (1 - u) / ref[~unsafe].sum())
    np.testing.assert_allclose(nu, expected, atol=1e-12)
    np.testing.assert_allclose(space.marginals(trace_optimum(game, space))[0], nu, atol=1e-8)
