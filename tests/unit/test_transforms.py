"""Task-preserving prompt transformations: values, numbers, names and question sentences are kept."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from alft_cli.transforms import (
    ARITHMETIC_TEMPLATES,
    NUMBER_WORDS,
    TRANSFORMS,
    evaluate_arithmetic,
    get_transform,
    make_variants,
)

NAMES = ["identity", "paraphrase", "reorder", "rename", "numfmt"]
_DIGITS = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_WORDS = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
_EXPR = re.compile(r"-?\d[\d,]*(?: [-+] -?\d[\d,]*)+")


def numbers(text: str, words: bool = False) -> Counter:
    """Multiset of the numeric values written in ``text`` (digits, optionally number words)."""
    vals = Counter(Fraction(m.replace(",", "")) for m in _DIGITS.findall(text))
    if words:
        vals.update(Fraction(NUMBER_WORDS[w.lower()]) for w in _WORDS.findall(text))
    return vals


def number_blind(text: str) -> str:
    """``text`` with every number (digits or word, any case) replaced by its value."""
    text = _WORDS.sub(lambda m: str(NUMBER_WORDS[m[1].lower()]), text)
    return _DIGITS.sub(lambda m: str(Fraction(m[0].replace(",", ""))), text)


def last_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip())[-1]


def chain_value(question: str) -> Fraction:
    """Value of the (single) +/- expression in a rewritten arithmetic question."""
    (expr,) = _EXPR.findall(question)
    return evaluate_arithmetic(expr.replace(",", ""))


@pytest.fixture(scope="module")
def gsm8k(shared_data: Path) -> list[str]:
    with (shared_data / "gsm8k" / "test.jsonl").open() as f:
        return [json.loads(line)["question"] for line in f][:200]


@pytest.fixture(scope="module")
def chain_sums() -> list[tuple[str, int]]:
    import reasoning_gym

    rows = []
    for seed, (lo, hi) in enumerate([(1, 1), (1, 3), (2, 4)]):
        ds = reasoning_gym.create_dataset(
            "chain_sum", size=150, seed=seed, min_terms=2, max_terms=6, min_digits=lo, max_digits=hi,
            allow_negation=seed > 0,
        )
        rows += [(row["question"], int(row["answer"])) for row in ds]
    return rows


# ---------------------------------------------------------------- safe arithmetic
@pytest.mark.parametrize(
    "expr, value",
    [("4 - 1", 3), ("-1 - -6 - 6", -1), ("2 + 3 * 4", 14), ("( 56 + -33 ) - 84", -61),
     ("( ( -9 - 6 ) - -( -3 * 4 ) ) * 2 / 2", -27), ("7 / 2", Fraction(7, 2)), ("1.5 × 2 ÷ 4", Fraction(3, 4))],
)
def test_evaluate_arithmetic(expr: str, value: Fraction) -> None:
    assert evaluate_arithmetic(expr) == value


@pytest.mark.parametrize("expr", ["__import__('os')", "2 +", "(1 + 2", "1 / 0", "3 4", "2 ** 3"])
def test_evaluate_arithmetic_rejects(expr: str) -> None:
    with pytest.raises(ValueError):
        evaluate_arithmetic(expr)


# ---------------------------------------------------------------- registry
def test_registry_and_unknown_name() -> None:
    assert set(NAMES) <= set(TRANSFORMS)
    for name, t in TRANSFORMS.items():
        assert t.name == name and len(t.preserves) > 10
    with pytest.raises(ValueError, match="unknown transform 'shuffle'.*identity, paraphrase"):
        get_transform("shuffle")
    with pytest.raises(ValueError, match="'nope'"):
        make_variants("1 + 2 = ?", ["identity", "nope"], seed=0)


def test_composition_applies_in_order() -> None:
    q = "State the final answer to the following arithmetic problem: 1200 + 3 + 45 ="
    out = get_transform("reorder+numfmt").apply(q, random.Random(1))
    assert out != q and "1,200" in out and chain_value(out) == 1248


def test_make_variants_deterministic() -> None:
    q = "Tom has 3 apples and 1000 pears. Mary has 5 apples. How many apples do Tom and Mary have?"
    a = make_variants(q, NAMES, seed=7)
    assert a == make_variants(q, NAMES, seed=7)
    assert a[0] == q and len(a) == len(NAMES)
    # a variant depends only on (question, name, seed), not on the other names
    assert make_variants(q, ["numfmt"], seed=7) == [a[4]]
    outs = {tuple(make_variants(q, NAMES, seed=s)) for s in range(10)}
    assert len(outs) > 1
    # a repeated name gets a fresh stream: the two renames differ
    r1, r2 = make_variants(q, ["rename", "rename"], seed=0)
    assert r1 != r2


# ---------------------------------------------------------------- arithmetic questions
def test_paraphrase_arithmetic_templates() -> None:
    q = "State the final answer to the following arithmetic problem: 4 - 1 ="
    outs = {make_variants(q, ["paraphrase"], seed=s)[0] for s in range(40)}
    expected = {t.format(e="4 - 1") for t in ARITHMETIC_TEMPLATES[1:]}
    assert outs == expected


def test_reorder_small_example() -> None:
    q = "State the final answer to the following arithmetic problem: 4 - 1 + 2 ="
    outs = {make_variants(q, ["reorder"], seed=s)[0] for s in range(40)}
    exprs = {o.split(": ")[1].removesuffix(" =") for o in outs}
    assert exprs == {"4 + 2 - 1", "2 + 4 - 1", "2 - 1 + 4"}
    assert {chain_value(o) for o in outs} == {5}


def test_reorder_leaves_non_chains() -> None:
    for q in ["Calculate ( 56 + -33 ) - 84.", "State the final answer to the following arithmetic problem: 4 - 1 ="]:
        assert make_variants(q, ["reorder"], seed=0) == [q]


def test_chain_sum_values_preserved(chain_sums: list[tuple[str, int]]) -> None:
    changed = Counter()
    for i, (q, answer) in enumerate(chain_sums):
        assert chain_value(q) == answer
        for name, v in zip(NAMES, make_variants(q, NAMES, seed=i)):
            assert chain_value(v) == answer, (name, q, v)
            assert numbers(v) == numbers(q), (name, q, v)
            changed[name] += v != q
    n = len(chain_sums)
    assert changed["identity"] == 0 and changed["rename"] == 0
    assert changed["paraphrase"] == n
    assert changed["reorder"] > 0.6 * n
    # numfmt changes exactly the questions with a number >= 1000 (thousands separators only)
    assert changed["numfmt"] == sum(max(numbers(q)) >= 1000 for q, _ in chain_sums) > 0


# ---------------------------------------------------------------- word problems
def test_reorder_word_problem_swaps_only_independent_premises() -> None:
    q = "Tom has 5 apples. Mary has 3 pears. How many fruits do Tom and Mary have?"
    assert make_variants(q, ["reorder"], seed=0) == [
        "Mary has 3 pears. Tom has 5 apples. How many fruits do Tom and Mary have?"]
    for kept in ["Tom has 5 apples. He buys 3 pears. How many fruits does Tom have?",
                 "Tom has 5 apples. Tom eats 3 apples. How many apples does Tom have?",
                 "A box holds 5 apples. The box costs $3. How much is one apple?",
                 "Mr. Li has 5 apples. Mary has 3 pears. How many fruits are there?"]:
        assert make_variants(q := kept, ["reorder"], seed=0) == [q]


def test_rename_consistent_and_numbers_unchanged() -> None:
    q = ("Janet's ducks lay 16 eggs per day. Janet gives Tom 3 eggs and Mr. Jones 2 eggs. "
         "How many eggs does Janet have left after Tom eats one?")
    for seed in range(20):
        out = make_variants(q, ["rename"], seed)[0]
        new_janet = out.split("'s")[0]
        new_tom = out.split(" gives ")[1].split(" ")[0]
        assert new_janet not in ("Janet", new_tom) and new_tom != "Tom"
        assert out.count(new_janet) == 3 and out.count(new_tom) == 2
        assert "Janet" not in out and "Tom" not in out and "Mr. Jones" in out
        assert numbers(out, words=True) == numbers(q, words=True)


def test_rename_skips_surnames_and_unlisted() -> None:
    for q in ["Mrs. James has 4 cats. How many cats does Mrs. James have?",
              "Kylar wants to buy 16 glasses. How many glasses does he buy?"]:
        assert make_variants(q, ["rename"], seed=3) == [q]


@pytest.mark.parametrize(
    "q",
    ["The train leaves at 5:30 and arrives 2.5 hours later, on May 5.",
     "He saved $5 and 10% of $1500 in 2015, then a 3-day trip cost 1/2 of it.",
     "A twelve-year-old bought two hundred apples.",
     "Locker 0042 holds 7 boxes."],
)
def test_numfmt_leaves_times_dates_decimals(q: str) -> None:
    for seed in range(20):
        out = make_variants(q, ["numfmt"], seed)[0]
        for keep in ["5:30", "2.5", "May 5", "$5 ", "10%", "2015", "3-day", "1/2", "twelve-year", "two hundred",
                     "0042"]:
            if keep in q:
                assert keep in out, (keep, out)
        assert number_blind(out) == number_blind(q)


def test_numfmt_examples() -> None:
    q = "Tom bought three boxes of 1000 nails for $2,500. How many nails does he have?"
    outs = {make_variants(q, ["numfmt"], seed=s)[0] for s in range(40)}
    assert "Tom bought 3 boxes of 1,000 nails for $2500. How many nails does he have?" in outs
    assert q not in outs and all(number_blind(o) == number_blind(q) for o in outs)


def test_gsm8k_numbers_and_question_sentence_kept(gsm8k: list[str]) -> None:
    changed = Counter()
    for i, q in enumerate(gsm8k):
        variants = dict(zip(NAMES, make_variants(q, NAMES, seed=i)))
        for name, v in variants.items():
            changed[name] += v != q
            assert numbers(v, words=True) == numbers(q, words=True), (name, q, v)
            if name != "numfmt":
                assert numbers(v) == numbers(q), (name, q, v)
        q_last = last_sentence(q)
        assert variants["identity"] == q
        assert variants["paraphrase"].endswith(q) and last_sentence(variants["paraphrase"]) == q_last
        assert last_sentence(variants["reorder"]) == q_last
        assert sorted(re.split(r"\s+", variants["reorder"])) == sorted(re.split(r"\s+", q))
        assert number_blind(variants["numfmt"]) == number_blind(q)
        # rename changes only capitalised name tokens, one consistent replacement per name
        old, new = re.findall(r"\w+|\W", q), re.findall(r"\w+|\W", variants["rename"])
        assert len(old) == len(new)
        mapping = {(a, b) for a, b in zip(old, new) if a != b}
        assert all(a[0].isupper() and b[0].isupper() for a, b in mapping)
        assert len({a for a, _ in mapping}) == len(mapping) == len({b for _, b in mapping})
    assert changed["identity"] == 0 and changed["paraphrase"] == len(gsm8k)
    assert changed["reorder"] >= 5 and changed["rename"] >= 60 and changed["numfmt"] >= 150


def test_make_variants_redraws_repeats() -> None:
    q = "State the final answer to the following arithmetic problem: 4 - 1 ="
    for seed in range(30):
        variants = make_variants(q, ["identity", "paraphrase", "paraphrase", "paraphrase"], seed=seed)
        assert len(set(variants)) == 4, variants
        assert all(chain_value(v) == 3 for v in variants)
    # a transform that cannot change the question stays a repeat (the coherence-null arm)
    assert make_variants(q, ["identity"] * 4, seed=0) == [q] * 4
    # a first draw that repeats nothing is kept: a variant then depends only on (question, name, seed)
    for seed in range(10):
        assert make_variants(q, ["identity", "paraphrase"], seed=seed)[1] == make_variants(q, ["paraphrase"], seed)[0]
