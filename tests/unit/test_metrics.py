"""Evaluation metrics against hand-computed values and brute-force enumeration over subsets."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alft_cli import metrics
from alft_cli.metrics import (
    ProblemSamples,
    answer_entropy,
    bootstrap_ci,
    distinct_answers,
    maj_at_k,
    pass_at_k,
    summarize,
)


def brute_pass(correct: list[bool], k: int) -> float:
    subsets = list(combinations(correct, k))
    return sum(any(s) for s in subsets) / len(subsets)


def brute_maj(answers: list[str | None], good: set[str], k: int) -> float:
    """Mean over all size-k subsets of the split-tie majority score."""
    total = Fraction(0)
    subsets = list(combinations(answers, k))
    for sub in subsets:
        counts = Counter(a for a in sub if a is not None)
        if counts:
            top = max(counts.values())
            winners = [a for a, c in counts.items() if c == top]
            total += Fraction(sum(a in good for a in winners), len(winners))
    return float(total / len(subsets))


# ---------------------------------------------------------------- pass@k
@pytest.mark.parametrize(
    "n, c, k, expected",
    [(5, 2, 1, 0.4), (5, 2, 2, 0.7), (10, 3, 5, 11 / 12), (4, 0, 2, 0.0), (4, 4, 1, 1.0), (3, 1, 3, 1.0),
     (1000, 1, 1, 0.001), (8, 1, 8, 1.0), (8, 1, 4, 0.5)],
)
def test_pass_at_k_hand_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_large_n_matches_exact_ratio() -> None:
    exact = 1 - Fraction(math.comb(150, 100), math.comb(200, 100))
    assert pass_at_k(200, 50, 100) == pytest.approx(float(exact), rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=10), st.data())
def test_pass_at_k_matches_brute_force(correct: list[bool], data: st.DataObject) -> None:
    k = data.draw(st.integers(1, len(correct)))
    assert pass_at_k(len(correct), sum(correct), k) == pytest.approx(brute_pass(correct, k), abs=1e-12)


@pytest.mark.parametrize("n, c, k", [(3, 1, 4), (3, 4, 1), (3, -1, 1), (3, 1, 0)])
def test_pass_at_k_rejects(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# ---------------------------------------------------------------- maj@k
@pytest.mark.parametrize(
    "answers, k, expected",
    [(["a", "a", "b"], 2, 2 / 3),  # {a,a} right, two {a,b} ties score 1/2 each
     (["a", None, None], 2, 2 / 3),  # {None, None} is wrong
     (["a", "b", "c", "a"], 1, 0.5),
     (["b", "b", "a", "c"], 4, 0.0),
     (["a", "b"], 2, 0.5),
     ([None, None, None], 2, 0.0),
     # of 10 subsets: {b,a,a} 1, 4×{b,a,None} 1/2, {b,None,None} 0, 2×{a,a,None} 1, 2×{a,None,None} 1
     (["b", "a", "a", None, None], 3, 0.7)],
)
def test_maj_at_k_hand_values(answers: list[str | None], k: int, expected: float) -> None:
    assert maj_at_k(answers, {"a": True}, k) == pytest.approx(expected, abs=1e-12)
    assert maj_at_k(answers, lambda a: a == "a", k) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=1, max_size=9),
       st.sets(st.sampled_from(["a", "b", "c", "d"])), st.data())
def test_maj_at_k_matches_brute_force(answers: list[str | None], good: set[str], data: st.DataObject) -> None:
    k = data.draw(st.integers(1, len(answers)))
    assert maj_at_k(answers, lambda a: a in good, k) == pytest.approx(brute_maj(answers, good, k), abs=1e-12)


def test_maj_at_k_exact_when_subsets_are_many() -> None:
    """n=64, k=32 (C(64,32) ≈ 1.8e18 subsets): the hypergeometric closed form."""
    answers = ["a"] * 40 + ["b"] * 24
    den = math.comb(64, 32)
    win = sum(math.comb(40, x) * math.comb(24, 32 - x) for x in range(17, 33))
    tie = math.comb(40, 16) * math.comb(24, 16)
    expected = float(Fraction(2 * win + tie, 2 * den))
    assert maj_at_k(answers, {"a": True}, 32) == pytest.approx(expected, rel=1e-12)
    assert maj_at_k(answers, {"b": True}, 32) == pytest.approx(1 - expected, rel=1e-12)


def test_maj_at_k_monte_carlo_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(0)
    answers = [rng.choice(["a", "a", "b", "c", None]) for _ in range(30)]
    exact = maj_at_k(answers, {"b": True}, 5)
    monkeypatch.setattr(metrics, "MAJ_EXACT_MAX_N", 10)
    mc = maj_at_k(answers, {"b": True}, 5)
    assert mc != exact and mc == maj_at_k(answers, {"b": True}, 5)  # estimated, seeded
    assert mc == pytest.approx(exact, abs=0.015)


def test_maj_at_k_rejects() -> None:
    with pytest.raises(ValueError, match="tie_break='first'; allowed: split"):
        maj_at_k(["a"], {"a": True}, 1, tie_break="first")
    with pytest.raises(ValueError, match="k=3, n=2"):
        maj_at_k(["a", "b"], {"a": True}, 3)


# ---------------------------------------------------------------- diversity
@pytest.mark.parametrize(
    "answers, expected",
    [(["a", "a", "b", "b"], math.log(2)), (["a", "b", "c"], math.log(3)),
     (["a", "a", "a", "b"], -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))),
     (["a", None, "b", None], math.log(2)), (["a", "a"], 0.0), ([None, None], 0.0)],
)
def test_answer_entropy(answers: list[str | None], expected: float) -> None:
    assert answer_entropy(answers) == pytest.approx(expected, abs=1e-12)


def test_distinct_answers() -> None:
    assert distinct_answers(["1", "2", None, "1", None, None]) == 2


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_ci() -> None:
    values = [1.0] * 50 + [0.0] * 50
    lo, hi = bootstrap_ci(values, seed=3)
    assert (lo, hi) == bootstrap_ci(values, seed=3)
    assert (lo, hi) != bootstrap_ci(values, seed=4)
    # normal approximation: 0.5 ± 1.96 · 0.05
    assert lo == pytest.approx(0.402, abs=0.02) and hi == pytest.approx(0.598, abs=0.02)
    rng = random.Random(1)
    for size in (5, 30, 200):
        sample = [rng.random() for _ in range(size)]
        lo, hi = bootstrap_ci(sample, seed=size)
        assert lo < sum(sample) / size < hi
    assert bootstrap_ci([0.25, 0.25]) == (0.25, 0.25)
    with pytest.raises(ValueError):
        bootstrap_ci([])


# ---------------------------------------------------------------- summarize
def test_summarize_values() -> None:
    problems = [
        ProblemSamples("p1", ("4", "4", "5", None), (True, True, False, False)),
        ProblemSamples("p2", ("7", "8", "8", "8"), (True, False, False, False)),
    ]
    out = summarize(problems, ks=[2, 4])
    json.dumps(out)
    assert out["n_problems"] == 2
    assert out["pass@1"] == pytest.approx((0.5 + 0.25) / 2)
    assert out["pass@2"] == pytest.approx((5 / 6 + 0.5) / 2)
    assert out["pass@4"] == 1.0
    assert out["maj@1"] == pytest.approx(out["pass@1"])
    assert out["maj@2"] == pytest.approx((brute_maj(["4", "4", "5", None], {"4"}, 2)
                                          + brute_maj(["7", "8", "8", "8"], {"7"}, 2)) / 2)
    assert out["maj@4"] == 0.5  # p1: 4 wins; p2: 8 wins
    assert out["unparsed_rate"] == 1 / 8
    assert out["distinct_answers"] == 2.0
    h2 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert out["answer_entropy"] == pytest.approx((answer_entropy(["4", "4", "5"]) + h2) / 2)
    for key in ("pass@1", "pass@2", "maj@2", "maj@4"):
        lo, hi = out[f"{key}_ci"]
        assert lo <= out[key] <= hi


def test_summarize_rejects() -> None:
    p = ProblemSamples("p1", ("1", "2"), (True, False))
    with pytest.raises(ValueError, match="'p1' has 2 samples"):
        summarize([p], ks=[4])
    with pytest.raises(ValueError, match="labelled both"):
        summarize([ProblemSamples("p2", ("1", "1"), (True, False))], ks=[1])
    with pytest.raises(ValueError, match="None"):
        ProblemSamples("p3", (None,), (True,))
    with pytest.raises(ValueError, match="2 answers but 1 labels"):
        ProblemSamples("p4", ("1", "2"), (True,))
    with pytest.raises(ValueError):
        summarize([], ks=[1])
