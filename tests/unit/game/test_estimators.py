"""Estimators: exact unbiasedness of U-statistics, minimax vs plug-in log tables (exact binomial sums)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from alft_cli.game.estimators import (
    log_bias,
    log_table,
    own_count_pmf,
    own_share,
    u_statistic,
    weighted_bias,
)

P_GRID = np.array([0.0, 0.013, 0.1, 0.37, 0.5, 0.81, 1.0])


@pytest.mark.parametrize(("others", "degree"), [(o, d) for o in (1, 3, 7, 15) for d in (1, 2, 3) if o >= d])
def test_u_statistic_is_exactly_unbiased(others, degree):
    k = np.arange(others + 1)
    values = np.array([u_statistic(int(n), others, degree) for n in k])
    for p in P_GRID:
        assert binom.pmf(k, others, p) @ values == pytest.approx(p**degree, abs=1e-14)


@pytest.mark.parametrize("G", [2, 4, 8])
def test_leave_one_out_share_is_unbiased_and_plugin_is_not(G):
    n = np.arange(1, G + 1)
    pmf = own_count_pmf(G, P_GRID)  # own answer's count, own sample included
    loo = pmf @ np.array([own_share(int(v), G, "leave_one_out") for v in n])
    plug = pmf @ np.array([own_share(int(v), G, "plugin") for v in n])
    np.testing.assert_allclose(loo, P_GRID, atol=1e-14)
    np.testing.assert_allclose(plug, (1 + (G - 1) * P_GRID) / G, atol=1e-14)  # biased towards 1/G


def test_own_share_with_one_sample_falls_back_to_plugin():
    assert own_share(1, 1, "leave_one_out") == 1.0


def test_own_count_pmf_sums_to_one_and_matches_scipy():
    pmf = own_count_pmf(6, P_GRID)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(pmf, binom.pmf(np.arange(6)[None, :], 5, P_GRID[:, None]), atol=1e-14)


def test_plugin_table_values():
    assert log_table(4, "plugin") == pytest.approx([math.log(n / 4) for n in range(1, 5)])
    assert log_table(1, "plugin") == [0.0]


@pytest.mark.parametrize("G", [4, 8, 16, 32])
def test_minimax_bias_is_below_0_4_over_G_squared_and_plugin_about_0_5_over_G(G):
    minimax = weighted_bias(log_table(G, "minimax"))
    plugin = weighted_bias(log_table(G, "plugin"))
    assert minimax <= 0.4 / G**2
    assert 0.45 / G <= plugin <= 0.6 / G  # 0.487, 0.524, 0.549, 0.563 (× 1/G); → 0.580/G as G → ∞


def test_minimax_table_values_match_the_documented_numbers():
    # sup_p p|bias| for G = 4, 8, 16 (docs/method.md: 0.0200, 0.0051, 0.0013)
    got = [weighted_bias(log_table(G, "minimax")) for G in (4, 8, 16)]
    np.testing.assert_allclose(got, [0.02003, 0.005061, 0.001269], rtol=2e-3)


def test_minimax_table_is_cached_and_copied():
    a = log_table(8, "minimax")
    a[0] = 123.0
    assert log_table(8, "minimax")[0] != 123.0


def test_bounded_minimax_table_trades_bias_for_size():
    free, bounded = log_table(16, "minimax"), log_table(16, "minimax", max_abs=20)
    assert max(map(abs, free)) > 100 and max(map(abs, bounded)) <= 20 + 1e-9
    assert weighted_bias(free) < weighted_bias(bounded) < weighted_bias(log_table(16, "plugin"))


def test_log_bias_is_exact_for_g1():
    # G = 1: N = 1 always, so the bias is table[0] - log p
    np.testing.assert_allclose(log_bias([0.0], [0.5, 0.25]), [math.log(2), math.log(4)], atol=1e-15)


@pytest.mark.parametrize("args", [(0, "plugin"), (4, "mean"), (4.0, "plugin")])
def test_log_table_rejects_bad_arguments(args):
    with pytest.raises(ValueError, match="log_table"):
        log_table(*args)


def test_u_statistic_needs_enough_samples():
    with pytest.raises(ValueError, match="at least 2"):
        u_statistic(1, 1, 2)
