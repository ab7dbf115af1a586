"""Shared fixtures and helpers for the game-core tests: small enumerable trace spaces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from alft_cli.game.solvers import kl
from alft_cli.game.tabular import Game, TraceSpace

R_GOLD = {"A": 1.0, "B": 0.0, "C": 0.0, "D": 0.0}


@pytest.fixture(scope="session")
def space() -> TraceSpace:
    """12 traces → 4 answers, one random π_ref."""
    return TraceSpace.random(12, 4, variants=1, seed=1)


@pytest.fixture(scope="session")
def space3() -> TraceSpace:
    """12 traces → 4 answers, three prompt variants with different random π_ref."""
    return TraceSpace.random(12, 4, variants=3, seed=2)


def trace_value(game: Game, space: TraceSpace, pis: list[np.ndarray]) -> float:
    """F(π) = value(ν_π) - β Σ_j KL(π_j ‖ π_ref,j) at trace level."""
    return game.value(space.marginals(pis), space.labels) - game.beta * sum(
        kl(p, r) for p, r in zip(pis, space.refs)
    )


def slsqp_optimum(game: Game, space: TraceSpace) -> list[np.ndarray]:
    """Generic constrained optimiser over traces (independent of the Newton solver); chain-rule gradient."""
    n, m, a = len(space.answers), len(space.refs), space.matrix

    def split(x):
        return [x[j * n : (j + 1) * n] for j in range(m)]

    def neg_value(x):
        return -trace_value(game, space, split(x))

    def neg_grad(x):
        pis = split(x)
        field = game.field(space.marginals(pis), space.labels)
        return -np.concatenate(
            [a.T @ f - game.beta * (np.log(p / r) + 1) for f, p, r in zip(field, pis, space.refs)]
        )

    cons = [{"type": "eq", "fun": (lambda x, j=j: x[j * n : (j + 1) * n].sum() - 1.0)} for j in range(m)]
    x0 = np.concatenate(space.refs)
    res = minimize(
        neg_value,
        x0,
        jac=neg_grad,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * (n * m),
        constraints=cons,
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return split(res.x)
