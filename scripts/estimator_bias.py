"""Benchmark of the small-group estimators of the game core, printed side by side in one run (< 2 min).

1. Bias of the log tables: sup_p p·|E r̂(N) - log p| (exact binomial sums) for G = 4…64, plug-in vs minimax
   (unbounded, and with |r̂| ≤ 20), with the largest table entry (a proxy for the reward's variance).
2. Equilibrium error ‖ν - ν*‖₁ of GRPO on a 12-trace / 4-answer problem at G = 4, 8, 16 per estimator:
   the exact fixed point of the expected update (all group compositions) and a seeded stochastic run.
3. Group baselines (exact fixed points, gini): why an unbiased reward also needs an independent baseline.
4. Coherence smoothing (stochastic, G = 8, three variants): the pseudo-count α of the geometric consensus.

Usage: .venv/bin/python scripts/estimator_bias.py
"""

from __future__ import annotations

import time

import numpy as np

from alft_cli.game import get_objective
from alft_cli.game.estimators import log_table, weighted_bias
from alft_cli.game.tabular import Game, TraceSpace, grpo_fixed_point, simulate_grpo

BOUND = 20.0
ESTIMATORS = [
    ("plugin", {"estimator": "plugin"}),
    ("minimax", {"estimator": "minimax"}),
    (f"minimax|r|<={BOUND:g}", {"estimator": "minimax", "table_bound": BOUND}),
]


def bias_table() -> None:
    print("1. Log-table bias sup_p p|E r(N) - log p|  (N = 1 + Bin(G-1, p))")
    print(
        f"{'G':>4} {'plugin':>9} {'x G':>6} {'minimax':>10} {'x G^2':>6} {'max|r|':>9} "
        f"{'|r|<=20':>10} {'x G^2':>6} {'LP s':>6}"
    )
    for G in (4, 8, 16, 32, 48, 64):
        start = time.perf_counter()
        free = log_table(G, "minimax")
        seconds = time.perf_counter() - start
        plug, mm, bounded = (
            weighted_bias(t) for t in (log_table(G, "plugin"), free, log_table(G, "minimax", BOUND))
        )
        largest = max(map(abs, free))
        print(
            f"{G:>4} {plug:>9.5f} {plug * G:>6.3f} {mm:>10.2e} {mm * G * G:>6.3f} {largest:>9.3g} "
            f"{bounded:>10.2e} {bounded * G * G:>6.3f} {seconds:>6.2f}"
        )


def equilibrium_errors(space: TraceSpace) -> None:
    print(
        "\n2. Equilibrium error ||nu - nu*||_1 (12 traces, 4 answers; rloo baseline; stochastic: seed 0,"
        " lr 0.5, 3000 steps x 4 groups, marginals averaged over the second half)"
    )
    print(
        f"{'objective':<14} {'estimator':<15} "
        + " ".join(f"{'exact G=' + str(G):>10} {'sim G=' + str(G):>9}" for G in (4, 8, 16))
    )
    for name, beta in (("entropy", 1.0), ("sharpen", 2.0)):
        for label, params in ESTIMATORS:
            game = Game(get_objective(name, **params), beta)
            nu = game.answer_optimum(space)[0]
            cells = []
            for G in (4, 8, 16):
                exact = np.abs(grpo_fixed_point(game, space, G) - nu).sum()
                sim = simulate_grpo(game, space, G, 3000, lr=0.5, groups_per_step=4, seed=0).l1([nu])
                cells.append(f"{exact:>10.4f} {sim:>9.4f}")
            print(f"{name + f' b={beta:g}':<14} {label:<15} " + " ".join(cells))


def baselines(space: TraceSpace) -> None:
    print(
        "\n3. Exact fixed-point error by baseline (gini, beta = 0.5): rloo/mean baselines are scored with the"
        " sample, so they correlate with it"
    )
    print(f"{'estimator':<15} {'G':>3} {'rloo':>8} {'mean':>8} {'independent':>12}")
    for estimator in ("plugin", "leave_one_out"):
        game = Game(get_objective("gini", estimator=estimator), 0.5)
        nu = game.answer_optimum(space)[0]
        for G in (4, 8, 16):
            errs = [
                np.abs(grpo_fixed_point(game, space, G, baseline=b) - nu).sum()
                for b in ("rloo", "mean", "independent")
            ]
            print(f"{estimator:<15} {G:>3} {errs[0]:>8.4f} {errs[1]:>8.4f} {errs[2]:>12.2e}")


def coherence_smoothing() -> None:
    space3 = TraceSpace.random(12, 4, variants=3, seed=2)
    print(
        "\n4. Coherence, geometric consensus, G = 8, m = 3, beta = 1: stochastic error by smoothing alpha"
        " (seed 0, lr 1, 1500 steps x 2 groups)"
    )
    for alpha in (1e-3, 0.1, 0.5, 1.0):
        game = Game(get_objective("coherence", consensus="geometric", smoothing=alpha), 1.0)
        err = simulate_grpo(game, space3, 8, 1500, lr=1.0, groups_per_step=2, seed=0).l1(
            game.answer_optimum(space3)
        )
        print(f"  alpha = {alpha:<6g} L1 = {err:.4f}")


def main() -> None:
    start = time.perf_counter()
    space = TraceSpace.random(12, 4, variants=1, seed=1)
    bias_table()
    equilibrium_errors(space)
    baselines(space)
    coherence_smoothing()
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
