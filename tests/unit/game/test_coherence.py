"""Coherence, pairwise and fairness: consensus projections, the proximal step, optima vs brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from alft_cli.game import get_objective
from alft_cli.game.consensus import consensus, geometric
from alft_cli.game.solvers import kl
from alft_cli.game.tabular import Game, best_response, lift, trace_optimum

from .conftest import R_GOLD, slsqp_optimum, trace_value


def _simplex_min(fun, k):
    """Brute-force minimiser of fun over the simplex (softmax parametrisation, several starts)."""
    best = None
    for seed in range(4):
        x0 = np.random.default_rng(seed).normal(size=k)
        res = minimize(
            lambda u: fun(np.exp(u - u.max()) / np.exp(u - u.max()).sum()),
            x0,
            method="BFGS",
            options={"gtol": 1e-12},
        )
        if best is None or res.fun < best.fun:
            best = res
    u = best.x
    return np.exp(u - u.max()) / np.exp(u - u.max()).sum()


def _refs(space3):
    return np.vstack(space3.marginals(space3.refs))


def test_geometric_consensus_minimises_sum_of_kl_c_to_nu(space3):
    hists = _refs(space3)
    c = geometric(hists)
    brute = _simplex_min(lambda x: sum(kl(x, h) for h in hists), hists.shape[1])
    np.testing.assert_allclose(c, brute, atol=1e-6)
    rng = np.random.default_rng(0)
    base = sum(kl(c, h) for h in hists)
    for _ in range(500):
        assert sum(kl(rng.dirichlet(np.ones(4)), h) for h in hists) >= base - 1e-12


def test_arithmetic_consensus_minimises_sum_of_kl_nu_to_c(space3):
    hists = _refs(space3)
    c = consensus(hists, "arithmetic")
    brute = _simplex_min(lambda x: sum(kl(h, x) for h in hists), hists.shape[1])
    np.testing.assert_allclose(c, brute, atol=1e-6)


def test_power_consensus_limits():
    hists = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    np.testing.assert_allclose(consensus(hists, "power", 1.0), consensus(hists, "arithmetic"), atol=1e-15)
    np.testing.assert_allclose(consensus(hists, "power", 200.0), consensus(hists, "majority"), atol=1e-10)
    np.testing.assert_allclose(consensus(hists, "majority"), [0.0, 1.0, 0.0])
    tied = np.array([[0.5, 0.3, 0.2], [0.3, 0.5, 0.2]])
    np.testing.assert_allclose(consensus(tied, "majority"), [0.5, 0.5, 0.0])  # tie: split


def test_proximal_step_at_beta_one_is_the_kl_projection_onto_the_coherent_set(space3):
    """β = 1, anchor π_ref = π_old: the Policy's best response is π_j = π_ref,j · c / ν_ref,j, coherent and
    the KL-closest coherent policy (brute force: SLSQP over traces with ν_1 = ν_2 = ν_3 imposed)."""
    game = Game(get_objective("coherence", consensus="geometric"), 1.0)
    pis = best_response(game, space3, list(space3.refs))
    c = geometric(_refs(space3))
    np.testing.assert_allclose(pis, lift(space3, [c] * 3), atol=1e-14)
    for nu in space3.marginals(pis):
        np.testing.assert_allclose(nu, c, atol=1e-14)
    n, a = len(space3.answers), space3.matrix

    def split(x):
        return [x[j * n : (j + 1) * n] for j in range(3)]

    cons = [{"type": "eq", "fun": lambda x, j=j: split(x)[j].sum() - 1} for j in range(3)]
    cons += [
        {"type": "eq", "fun": lambda x, j=j: a[:-1] @ (split(x)[j] - split(x)[0])} for j in (1, 2)
    ]  # independent rows
    ref = np.concatenate(space3.refs)
    res = minimize(
        lambda x: float(x @ np.log(x / ref)),
        ref,
        jac=lambda x: np.log(x / ref) + 1,
        method="SLSQP",
        bounds=[(1e-12, 1)] * (3 * n),
        constraints=cons,
        options={"ftol": 1e-15, "maxiter": 500},
    )
    assert res.success
    np.testing.assert_allclose(np.concatenate(pis), res.x, atol=1e-5)
    assert sum(kl(p, r) for p, r in zip(pis, space3.refs)) <= res.fun + 1e-10


@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_geometric_equilibrium_closed_form_matches_trace_level_equilibrium(space3, beta):
    game = Game(get_objective("coherence", consensus="geometric"), beta)
    nu = game.answer_optimum(space3)
    refs, c = _refs(space3), geometric(_refs(space3))
    for j in range(3):  # ν*_j ∝ ν_ref,j^{β/(1+β)} c_ref^{1/(1+β)}
        expected = refs[j] ** (beta / (1 + beta)) * c ** (1 / (1 + beta))
        np.testing.assert_allclose(nu[j], expected / expected.sum(), atol=1e-12)
    pis = trace_optimum(game, space3)
    np.testing.assert_allclose(space3.marginals(pis), nu, atol=1e-8)
    np.testing.assert_allclose(geometric(np.vstack(nu)), c, atol=1e-12)  # the consensus stays c_ref


def test_geometric_reward_field_is_not_a_gradient_but_arithmetic_is(space3):
    """Symmetry of the Jacobian of the reward field (modulo per-variant constants): a potential Ψ exists
    for the arithmetic / power consensus, not for the geometric one."""
    labels, nus = space3.labels, [np.array(v) for v in _refs(space3)]

    def asymmetry(kind):
        obj = get_objective("coherence", consensus=kind, gamma=1.5)

        def flat(x):
            xs = [x[4 * j : 4 * j + 4] for j in range(3)]
            return np.concatenate([f - f.mean() for f in obj.reward_field(xs, labels, None)])

        x0, h = np.concatenate(nus), 1e-6
        jac = np.array([(flat(x0 + h * e) - flat(x0 - h * e)) / (2 * h) for e in np.eye(12)]).T
        proj = np.kron(np.eye(3), np.eye(4) - 1 / 4)  # tangent space of the product of simplices
        sym = proj @ jac @ proj
        return np.abs(sym - sym.T).max()

    assert asymmetry("arithmetic") < 1e-6 and asymmetry("power") < 1e-6
    assert asymmetry("geometric") > 0.1


MULTI = [
    ("coherence", {"consensus": "arithmetic"}, {}, 0.8),
    ("coherence", {"consensus": "power", "gamma": 1.5}, {}, 0.8),
    ("pairwise", {}, {}, 2.5),
    ("pairwise", {"self_weight": 1.0}, {}, 3.5),
    ("fairness", {}, {"R": R_GOLD, "correctness_weight": 1.0, "answer_weight": 3.0}, 0.5),
]


@pytest.mark.parametrize(
    ("name", "params", "mix", "beta"), MULTI, ids=[f"{c[0]}-{i}" for i, c in enumerate(MULTI)]
)
def test_multi_variant_optimum_matches_brute_force(space3, name, params, mix, beta):
    game = Game(get_objective(name, **params), beta, **mix)
    nu = game.answer_optimum(space3)
    pis = trace_optimum(game, space3)
    np.testing.assert_allclose(space3.marginals(pis), nu, atol=1e-8)
    np.testing.assert_allclose(lift(space3, nu), pis, atol=1e-8)
    generic = slsqp_optimum(game, space3)
    assert trace_value(game, space3, pis) >= trace_value(game, space3, generic) - 1e-10


def test_power_consensus_with_one_variant_reduces_to_sharpen_and_entropy():
    ref = {"a": 0.5, "b": 0.3, "c": 0.2}
    sharp = get_objective("sharpen").optimum(ref, 1.8)
    power2 = get_objective("coherence", consensus="power", gamma=2.0).optimum([ref], 1.8)[0]
    assert power2 == pytest.approx(sharp, abs=1e-12)
    ent = get_objective("entropy").optimum(ref, 0.6)
    power0 = get_objective("coherence", consensus="power", gamma=0.0).optimum([ref], 0.6)[0]
    assert power0 == pytest.approx(ent, abs=1e-12)


def test_majority_consensus_optimum_by_enumeration(space3):
    beta = 0.7
    game = Game(get_objective("coherence", consensus="majority"), beta)
    nu = game.answer_optimum(space3)
    a, refs = space3.matrix, space3.refs
    best = max(sum(beta * np.log(r @ np.exp(a[k] / beta)) for r in refs) for k in range(4))
    assert trace_value(game, space3, lift(space3, nu)) == pytest.approx(best, abs=1e-12)


def test_nonconcave_pairwise_returns_the_best_local_optimum(space3):
    """β ≤ m - 1: Ψ is not concave; the solver keeps the best fixed point over several starts."""
    game = Game(get_objective("pairwise"), 0.3)
    nu = game.answer_optimum(space3)
    value = trace_value(game, space3, lift(space3, nu))
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert value >= trace_value(game, space3, [rng.dirichlet(np.ones(12)) for _ in range(3)])
    assert max(v.max() for v in nu) > 0.9  # collapse onto one shared answer


def test_fairness_is_arithmetic_coherence():
    groups = [["a", "a", "b", None], ["b", "b", "c", "a"]]
    fair = get_objective("fairness", smoothing=0.5)
    coh = get_objective("coherence", consensus="arithmetic", smoothing=0.5)
    assert fair.multi_variant and fair.rewards(groups) == coh.rewards(groups)
    assert fair.target(groups) == coh.target(groups)
