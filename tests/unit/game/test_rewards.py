"""The trainer-facing contract: get_objective, rewards/target shapes, unparsed answers, degenerate groups."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alft_cli.game import OBJECTIVES, Objective, get_objective, group_stats
from alft_cli.game.estimators import log_table

ALL = [
    ("correctness", {}),
    ("entropy", {}),
    ("entropy", {"estimator": "minimax"}),
    ("gini", {}),
    ("gini", {"estimator": "plugin"}),
    ("sharpen", {}),
    ("sharpen", {"estimator": "minimax"}),
    ("majority", {}),
    ("match", {"p": {"1": 0.5, "2": 0.5}}),
    ("random", {}),
    ("random", {"distribution": "uniform"}),
    ("coherence", {}),
    ("coherence", {"consensus": "arithmetic", "estimator": "minimax"}),
    ("coherence", {"consensus": "power", "gamma": 3.0}),
    ("coherence", {"consensus": "power", "gamma": 5000.0}),
    ("coherence", {"consensus": "majority"}),
    ("pairwise", {}),
    ("pairwise", {"self_weight": 1.0, "estimator": "plugin"}),
    ("safety", {"cost": {"1": 1.0}, "delta": 0.2}),
    ("fairness", {}),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(ALL)]

DEGENERATE = [
    [["3", "3", "3", "3"]],  # all equal
    [[None, None, None]],  # all unparsed
    [["7"]],  # G = 1
    [["1", "1", None, "1"], ["1", "1", "1", "1"]],  # one answer only, two variants
    [[None, None], ["2", "2"]],  # one variant unparsed entirely
    [["1", "2", "3", "4", "5", "6", "7", "8"]],  # all distinct
    [[]],  # empty group
]


def _correct(groups):
    return [[1.0 if z == "1" else 0.0 for z in g] for g in groups]


@pytest.mark.parametrize(("name", "params"), ALL, ids=IDS)
@pytest.mark.parametrize("groups", DEGENERATE, ids=[f"g{i}" for i in range(len(DEGENERATE))])
def test_degenerate_groups_give_finite_rewards_of_the_right_shape(name, params, groups):
    obj = get_objective(name, **params)
    rewards = obj.rewards(groups, _correct(groups))
    assert [len(r) for r in rewards] == [len(g) for g in groups]
    assert all(isinstance(v, float) and math.isfinite(v) for r in rewards for v in r)
    targets = obj.target(groups)
    assert len(targets) == len(groups)
    for t in targets:
        assert all(isinstance(z, str) for z in t) and all(v >= 0 for v in t.values())


ANSWERS = st.lists(
    st.lists(st.sampled_from(["1", "2", "3", None]), min_size=1, max_size=9), min_size=1, max_size=3
)


@pytest.mark.parametrize(
    ("name", "params"),
    [c for c in ALL if c[0] != "correctness"],
    ids=[i for i, c in zip(IDS, ALL) if c[0] != "correctness"],
)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(groups=ANSWERS)
def test_unparsed_answers_get_the_lowest_reward(name, params, groups):
    obj = get_objective(name, **params)
    rewards = obj.rewards(groups)
    for group, r in zip(groups, rewards):
        assert all(math.isfinite(v) for v in r)
        parsed = [v for z, v in zip(group, r) if z is not None]
        for z, v in zip(group, r):
            if z is None and parsed:
                assert v <= min(parsed) - obj.unparsed_penalty + 1e-12


def test_rewards_are_the_answer_level_term_alone():
    obj = get_objective("entropy")
    groups = [["1", "1", "2", None]]
    base = obj.rewards(groups)[0]
    assert obj.rewards(groups, [[1, 1, 0, 1]])[0] == base  # gold labels are correctness's business
    assert base == pytest.approx([-math.log(0.5), -math.log(0.5), -math.log(0.25), -math.log(0.5) - 1])


def test_entropy_minimax_rewards_use_the_table():
    table = log_table(4, "minimax")
    assert get_objective("entropy", estimator="minimax").rewards([["a", "a", "a", "b"]])[0] == pytest.approx(
        [-table[2], -table[2], -table[2], -table[0]]
    )


def test_correctness_uses_only_the_gold_reward():
    obj = get_objective("correctness")
    assert obj.rewards([["1", "2", None]], [[1, 0, 1]]) == [[1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="correct"):
        obj.rewards([["1"]])


def test_majority_and_pairwise_rewards():
    assert get_objective("majority").rewards([["a", "a", "b", None]]) == [[1.0, 1.0, 0.0, -1.0]]
    assert get_objective("majority").rewards([["a", "b"]]) == [[0.5, 0.5]]  # tied modes split the credit
    pw = get_objective("pairwise", self_weight=1.0).rewards([["a", "a", "b", "c"], ["a", "b", "b", "b"]])
    assert pw[0] == pytest.approx([0.25 + 1 / 3, 0.25 + 1 / 3, 0.75, 0.0])
    assert pw[1] == pytest.approx([0.5, 0.25 + 2 / 3, 0.25 + 2 / 3, 0.25 + 2 / 3])


def test_coherence_consensus_smoothing_and_rewards():
    obj = get_objective("coherence", consensus="geometric", smoothing=0.5)
    groups = [["a", "a", "b", "b"], ["a", "a", "a", "a"]]
    target = obj.target(groups)
    nu1, nu2 = np.array([2.5, 2.5]) / 5, np.array([4.5, 0.5]) / 5  # (n + α)/(G + α K)
    c = np.sqrt(nu1 * nu2) / np.sqrt(nu1 * nu2).sum()
    assert target[0] == target[1] == pytest.approx({"a": c[0], "b": c[1]})
    r = obj.rewards(groups)
    assert r[0] == pytest.approx([math.log(c[0] / 0.5)] * 2 + [math.log(c[1] / 0.5)] * 2)
    assert r[1] == pytest.approx([math.log(c[0])] * 4)


def test_safety_rewards_follow_the_projection():
    obj = get_objective("safety", cost={"bad": 1.0}, delta=0.25)
    r = obj.rewards([["bad", "bad", "ok", "ok"]])[0]
    # ν̂(bad) = 0.5 > δ: q rescales bad to 0.25 and ok to 0.75; reward log q - log ν̂
    assert r == pytest.approx([math.log(0.5)] * 2 + [math.log(1.5)] * 2)
    assert obj.target([["bad", "bad", "ok", "ok"]])[0] == pytest.approx({"bad": 0.25, "ok": 0.75})
    assert obj.rewards([["ok", "ok", "bad", "ok"]])[0] == pytest.approx([0.0] * 4)  # already safe


def test_random_control_is_seeded_and_answer_independent():
    a, b = get_objective("random", seed=3), get_objective("random", seed=3)
    groups = [["1"] * 50]
    first = a.rewards(groups)
    assert first == b.rewards(groups) and set(first[0]) == {0.0, 1.0}
    assert get_objective("random", seed=4).rewards(groups) != first
    # same seed as a numpy sampler: the streams must not coincide
    assert a.optimum({"x": 0.3, "y": 0.7}, 0.5) == pytest.approx({"x": 0.3, "y": 0.7})
    u = np.random.default_rng(3).random(50)
    assert [float(v < 0.5) for v in u] != first[0]


def test_target_of_plain_objectives_is_the_parsed_histogram():
    assert get_objective("entropy").target([["a", "b", "a", None]]) == [{"a": 2 / 3, "b": 1 / 3}]
    assert get_objective("majority").target([["a", "b", None]]) == [{"a": 0.5, "b": 0.5}]


def test_group_stats():
    stats = group_stats([["a", "a", "b", None], ["a", "c", "c", "c"]])
    assert stats["n_distinct"] == 3 and stats["unparsed_rate"] == pytest.approx(1 / 8)
    assert stats["majority_share"] == pytest.approx(3 / 7) and stats["agreement"] == 0.0  # modes {a} vs {c}
    p = np.array([3, 1, 3]) / 7
    assert stats["answer_entropy"] == pytest.approx(float(-(p * np.log(p)).sum()))
    assert group_stats([[None]]) == {  # one variant: no pairs, so no agreement
        "answer_entropy": 0.0,
        "n_distinct": 0.0,
        "majority_share": 0.0,
        "unparsed_rate": 1.0,
    }
    assert group_stats([["a", "b"], ["a", "a"], [None, None]])["agreement"] == pytest.approx((0.5 + 0 + 0) / 3)


def test_interface_attributes():
    assert set(OBJECTIVES) >= {
        "correctness",
        "entropy",
        "gini",
        "sharpen",
        "majority",
        "match",
        "coherence",
        "pairwise",
        "safety",
        "fairness",
        "random",
    }
    for name, params in ALL:
        obj = get_objective(name, **params)
        assert isinstance(obj, Objective) and obj.name == name
    multi = {n for n, p in ALL if get_objective(n, **p).multi_variant}
    assert multi == {"coherence", "pairwise", "fairness"}
    assert not get_objective("safety", cost={}).multi_variant


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_objective("nope"), "allowed: correctness, entropy"),
        (lambda: get_objective("entropy", gamma=2), "unknown parameter.*gamma.*allowed: table_bound, estimator"),
        (lambda: get_objective("entropy", estimator="leave_one_out"), "allowed: plugin, minimax"),
        (lambda: get_objective("gini", estimator="minimax"), "allowed: leave_one_out, plugin"),
        (lambda: get_objective("coherence", consensus="median"), "allowed: geometric, arithmetic"),
        (lambda: get_objective("coherence", smoothing=0.0), "smoothing > 0"),
        (lambda: get_objective("safety", kind="fairness"), "unknown parameter.*kind.*allowed: cost, delta"),
        (lambda: get_objective("majority", estimator="plugin"), "unknown parameter.*estimator.*unparsed_penalty"),
        (lambda: get_objective("correctness", unparsed_penalty=1.0), "allowed: none"),
        (lambda: get_objective("entropy", table_bound=0), "table_bound must be > 0"),
        (lambda: get_objective("safety", delta=0.1), "cost"),
        (lambda: get_objective("match"), "p"),
        (lambda: get_objective("entropy").rewards([["a", 3]]), r"groups\[0\]\[1\]"),
        (lambda: get_objective("entropy").rewards("abc"), "groups"),
        (lambda: get_objective("correctness").rewards([["a"]], [[1, 0]]), "same shape"),
        (lambda: get_objective("correctness").rewards([["a"]]), "need correct"),
        (lambda: get_objective("entropy").optimum({"a": 0.5, "b": 0.6}, 1.0), "sum to 1"),
        (lambda: get_objective("entropy").optimum({"a": 1.0}, 0.0), "beta"),
        (lambda: get_objective("entropy").optimum({"a": 1.0}, 1.0, R={"a": 1.0}), "correctness_weight > 0"),
        (lambda: get_objective("correctness").optimum({"a": 1.0}, 1.0), "needs R"),
        (lambda: get_objective("safety", cost={"a": 1.0}).optimum({"a": 1.0}, 1.0), "safe set is empty"),
    ],
)
def test_user_errors_are_one_line_value_errors(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_optimum_return_types():
    nu = {"a": 0.6, "b": 0.4}
    single = get_objective("entropy").optimum(nu, 1.0)
    assert isinstance(single, dict) and list(single) == ["a", "b"]
    assert isinstance(get_objective("entropy").optimum([nu, nu], 1.0), list)
    multi = get_objective("coherence").optimum(nu, 1.0)
    assert isinstance(multi, list) and multi[0] == pytest.approx(nu)  # one variant: its own consensus
    partial = get_objective("coherence", consensus="arithmetic").optimum([nu, {"a": 1.0}], 1.0)
    assert set(partial[1]) == {"a"} and partial[1]["a"] == pytest.approx(1.0)


def test_sample_rewards_approach_the_exact_reward_field_for_large_groups():
    rng = np.random.default_rng(0)
    labels, nu = ["a", "b", "c"], np.array([0.5, 0.3, 0.2])
    group = list(rng.choice(labels, size=20000, p=nu))
    for name, params in [("entropy", {}), ("sharpen", {}), ("gini", {}), ("match", {"p": {"a": 0.2}})]:
        obj = get_objective(name, **params)
        r = dict(zip(group, obj.rewards([group])[0]))
        hist = np.array([group.count(z) for z in labels]) / len(group)
        field = obj.reward_field([hist], labels, None)[0]
        assert [r[z] for z in labels] == pytest.approx(list(field), abs=1e-3)


def test_game_core_imports_no_torch_or_trl():
    code = (
        "import sys, alft_cli.game, alft_cli.game.tabular; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'trl', 'transformers'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_parameters_are_gathered_up_the_class_hierarchy():
    from alft_cli.game import objective_class

    assert objective_class("correctness").parameters() == ()
    assert set(objective_class("majority").parameters()) == {"unparsed_penalty"}  # nothing estimated
    assert set(objective_class("safety").parameters()) == {"cost", "delta", "unparsed_penalty"}
    assert set(objective_class("gini").parameters()) == {"estimator", "unparsed_penalty"}
    assert set(objective_class("entropy").parameters()) == {"estimator", "table_bound", "unparsed_penalty"}
    assert set(objective_class("fairness").parameters()) == {"smoothing", "estimator", "table_bound",
                                                             "unparsed_penalty"}
    assert set(objective_class("coherence").parameters()) == {"consensus", "gamma", "smoothing", "estimator",
                                                              "table_bound", "unparsed_penalty"}


def test_sharpen_is_entropy_with_the_opposite_sign():
    groups = [["a", "a", "b", "c", None]]
    ent, sharp = get_objective("entropy").rewards(groups)[0], get_objective("sharpen").rewards(groups)[0]
    assert sharp[:4] == pytest.approx([-v for v in ent[:4]])
    nu = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert get_objective("sharpen").optimum(nu, 2.0) == pytest.approx(_power(nu, 2.0))  # ν* ∝ ref^{β/(β-1)}
    assert max(get_objective("sharpen").optimum(nu, 0.5).values()) == 1.0  # β ≤ 1: collapse on the mode


def _power(nu, beta):
    w = {z: p ** (beta / (beta - 1)) for z, p in nu.items()}
    return {z: v / sum(w.values()) for z, v in w.items()}


@pytest.mark.parametrize("G", [16, 32])
def test_minimax_table_is_bounded_by_default_at_large_G(G):
    obj = get_objective("entropy", estimator="minimax")
    assert obj.table_bound == 10.0
    group = ["a"] * (G - 4) + ["b"] * 4
    assert max(abs(v) for v in obj.rewards([group])[0]) <= 10.0
    assert max(abs(v) for v in log_table(G, "minimax")) > 100  # unbounded (table_bound=null): what it prevents
