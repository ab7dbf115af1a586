"""Table-driven tests for alft_cli.answers: extraction order, canonical numbers, gold parsing,
checking, and the past bugs of other tools that the checker must not repeat."""

from __future__ import annotations

import pytest

from alft_cli import answers
from alft_cli.answers import (
    STYLES,
    Verdict,
    canonicalize,
    check_answer,
    extract_answer,
    judge_answer,
    parse_gold,
)

# (text, expected with fallback, expected strict)
EXTRACTION = {
    "hashes beat everything": ("#### 5\n\\boxed{6}\nThe answer is 7\nA: 8\n9", "5", "5"),
    "boxed beats answer-is": ("\\boxed{6}\nThe answer is 7\nA: 8\n9", "6", "6"),
    "answer-is beats A-line": ("The answer is 7\nA: 8\n9", "7", "7"),
    "A-line beats fallback": ("A: 8\nthen 9", "8", "8"),
    "fallback is the last number": ("She has 3 apples and 4 pears, 7 fruits", "7", None),
    "first #### wins": ("#### 5\nQuestion: next\n#### 6", "5", "5"),
    "last closed boxed wins": ("\\boxed{1} then \\boxed{2}", "2", "2"),
    "unclosed last boxed skipped": ("\\boxed{3} and \\boxed{4", "3", "3"),
    "fbox": ("\\fbox{12}", "12", "12"),
    "nested braces in boxed": ("\\boxed{\\text{\\$}12}", "12", "12"),
    "last answer-is wins": ("The answer is 5. Wait, the final answer is 7.", "7", "7"),
    "answer isn't is no marker": ("The answer isn't 5, we get 6", "6", None),
    "answer-is on next line": ("The answer is:\n\n42", "42", "42"),
    "answer-is first number": ("The answer is 18 apples because 3*6=18... no 19", "18", "18"),
    "last A-line wins": ("Answer: let me think\n2+2\nAnswer: 4", "4", "4"),
    "final answer line": ("**Final Answer:** 18", "18", "18"),
    "A-line needs line start": ("PA: 5 and 6", "6", None),
    "marker without number falls through": ("#### unknown\nA: 12", "12", "12"),
    "marker without number strict": ("The answer is unknown", None, None),
    "calculator annotations": ("So 9 * 2 = $<<9*2=18>>18 every day.", "18", None),
    "operator is not a sign": ("so 16-3", "3", None),
    "no number": ("I don't know.", None, None),
    "empty": ("", None, None),
    "mixed scripts": ("答案是 18", "18", None),
    "NUL bytes around a marker": ("\x00\x00\nA: 5\x00", "5", "5"),
    "NUL before A is no line start": ("\x00A: 5", "5", None),
}


@pytest.mark.parametrize("text,expected,expected_strict", EXTRACTION.values(), ids=EXTRACTION.keys())
def test_gsm8k_extraction_order(text: str, expected: str | None, expected_strict: str | None) -> None:
    assert extract_answer(text) == expected
    assert extract_answer(text, strict=True) == expected_strict


CANONICAL = {
    "1,234": "1234",
    "1,234,567.50": "1234567.5",
    "1 000": "1000",
    "1\u00a0000": "1000",
    "1\u202f000\u202f000": "1000000",
    "1\\,000": "1000",
    "9{,}500": "9500",
    "$1,000.": "1000",
    "-$5": "-5",
    "$-5": "-5",
    "- 5": "5",
    "\u22125": "-5",
    "\u20135": "-5",
    "+7": "7",
    "-0": "0",
    "-0.0": "0",
    "007": "7",
    "00.50": "0.5",
    ".5": "0.5",
    "72.0": "72",
    "0.50": "0.5",
    "18.": "18",
    "18 apples": "18",
    "5 cm": "5",
    "50%": "50",
    "12.5 \\%": "12.5",
    "\u20ac3.10": "3.1",
    "3/4": "0.75",
    "1/3": "1/3",
    "2/6": "1/3",
    "4/2": "2",
    "-1/3": "-1/3",
    "6/-3": None,
    "1.5/3": "0.5",
    "\\frac{3}{4}": "0.75",
    "\\dfrac{1}{3}": "1/3",
    "\\tfrac{-1}{2}": "-0.5",
    "\\frac34": "0.75",
    "-\\frac{1}{8}": "-0.125",
    "1 1/2": "1.5",
    "-2 3/4": "-2.75",
    "3 5/2": None,
    "5/0": None,
    "\\text{18 dollars}": "18",
    "\\$12": "12",
    "1.8 billion": "1.8",
    "1.5e3": "1500",
    "2E-2": "0.02",
    "1e100": None,
    "12e100": None,
    "1.5e100": None,
    "1.2.3": None,
    "0.3333": "0.3333",
    "1" + "0" * 39: "1" + "0" * 39,
    "1" + "0" * 40: None,
    "18 or 19": None,
    "": None,
    "no number": None,
    "3,5": None,
    "1,2345": None,
}


@pytest.mark.parametrize("raw,expected", CANONICAL.items(), ids=[repr(k)[:40] for k in CANONICAL])
def test_gsm8k_canonical_form(raw: str, expected: str | None) -> None:
    assert canonicalize(raw, "gsm8k") == expected
    if expected is not None:
        assert extract_answer(f"The answer is {raw}") == expected
        assert canonicalize(expected, "gsm8k") == expected  # idempotent


# Past bugs of other tools' answer checkers, as their users reported them (issue numbers below).
REGRESSIONS = {
    # opencompass#2426/#2647: separators split the number (\boxed{8,000} -> 000)
    "opencompass boxed comma": ("\\boxed{8,000}", "8000"),
    "opencompass latex comma": ("\\boxed{$9{,}500}", "9500"),
    "opencompass answer-is comma": ("The answer is $9{,}500.", "9500"),
    "opencompass final dollars": ("So the new value is:\n\n$80,000 + $120,000 = $200,000.", "200000"),
    "comma after final number": ("The total is 72 clips, altogether.", "72"),
    # helm#4337: `$` and the trailing period of the last sentence
    "helm dollar and period": ("She makes $18.", "18"),
    "helm dollar cents": ("The total is $18.00.", "18"),
    # open-instruct#1530: signs lost or invented
    "negative answer kept": ("The temperature is now -5 degrees.\n#### -5", "-5"),
    "unicode minus": ("A: \u221212", "-12"),
    "subtraction is not negative": ("Left: 20 - 5", "5"),
    "minus before dollar": ("He lost -$1,250.50", "-1250.5"),
}


@pytest.mark.parametrize("text,expected", REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_past_extraction_bugs(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


GOLDS = {
    "Janet sells 9 eggs.\n#### 18": "18",
    "…\n#### 1,450,000": "1450000",
    "#### -3": "-3",
    "51.0": "51",  # SVAMP floats passed as strings
    "#### five": None,
    "#### 5 or 6": None,
    "Her total is 5 + 6 = 11 apples": None,  # no #### and more than one number
    "": None,
}


@pytest.mark.parametrize("field,expected", GOLDS.items(), ids=[repr(k)[:30] for k in GOLDS])
def test_parse_gold(field: str, expected: str | None) -> None:
    assert parse_gold(field) == expected


def test_unparsable_gold_is_never_rewarded() -> None:
    """open-r1#293: a gold that cannot be parsed must not turn every prediction correct."""
    for pred in (None, "", "0", "five", "#### five"):
        assert check_answer(pred, "#### five") is False
        assert check_answer(pred, "", "exact") is False
        assert check_answer(pred, "", "math") is False


CHECKS = {
    "equal canonical": ("18", "#### 18", "gsm8k", True),
    "raw GSM8K gold field": ("18", "She sells 16 - 3 - 4 = 9 eggs.\n9 * 2 = 18\n#### 18", "gsm8k", True),
    "raw MATH gold solution": ("0.5", "So $x = \\boxed{\\frac{1}{2}}$.", "math", True),
    "formatted pred": ("$1,000.00", "1000", "gsm8k", True),
    "fraction vs decimal": ("3/4", "0.75", "gsm8k", True),
    "percent vs bare": ("50%", "#### 50", "gsm8k", True),
    "repeating decimal is not a fraction": ("0.3333333333333333", "1/3", "gsm8k", False),
    "wrong number": ("17", "18", "gsm8k", False),
    "sign matters": ("-18", "18", "gsm8k", False),
    "none pred": (None, "18", "gsm8k", False),
    "exact case and space": ("  New   York. ", "new york", "exact", True),
    "exact differs": ("Paris", "Rome", "exact", False),
    "math numeric": ("0.5", "\\frac{1}{2}", "math", True),
    "math symbolic": ("\\frac{\\sqrt3}{2}", "\\dfrac{\\sqrt{3}}{2}", "math", True),
    "math equivalent expression": ("\\sqrt{4}", "2", "math", True),
    "math wrong": ("\\sqrt{5}", "2", "math", False),
}


@pytest.mark.parametrize("pred,gold,style,expected", CHECKS.values(), ids=CHECKS.keys())
def test_check_answer(pred: str | None, gold: str, style: str, expected: bool) -> None:
    assert check_answer(pred, gold, style) is expected


def test_math_verify_gets_gold_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """open-r1#557: math_verify.verify is asymmetric; the worker must call verify(gold, pred)."""
    import math_verify

    from alft_cli._math_worker import verify_pair

    seen = []
    real_verify = math_verify.verify

    def spy(gold, target, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((gold, target))
        return real_verify(gold, target, **kwargs)

    monkeypatch.setattr(math_verify, "verify", spy)
    assert verify_pair("3", "\\sqrt{9}") is True
    ((gold, target),) = seen
    assert [str(x) for x in gold] == ["3", "3"] and "sqrt" in str(target[-1])


def test_math_order_changes_the_verdict() -> None:
    """An interval gold accepts no inequality prediction, the reverse is accepted: order matters."""
    assert check_answer("1 \\le x \\le 2", "[1,2]", "math") is False
    assert check_answer("[1,2]", "1 \\le x \\le 2", "math") is True


MATH_EXTRACTION = {
    "boxed latex": ("so \\boxed{\\frac{\\sqrt{3}}{2}}.", "\\frac{\\sqrt{3}}{2}"),
    "boxed number": ("\\boxed{\\dfrac{1}{2}}", "0.5"),
    "answer-is inline math": ("The final answer is $x^2 + 1$.", "x^2+1"),
    "fallback inline math": ("We get $y = 3$ and then $\\pi r^2$", "\\pi r^2"),
    "fallback number": ("it is 12", "12"),
}


@pytest.mark.parametrize("text,expected", MATH_EXTRACTION.values(), ids=MATH_EXTRACTION.keys())
def test_math_extraction(text: str, expected: str) -> None:
    assert extract_answer(text, "math") == expected


def test_exact_extraction_and_gold() -> None:
    assert extract_answer("Thinking...\nThe answer is Paris.", "exact") == "paris"
    assert extract_answer("Thinking...\nMaybe  LONDON  ", "exact") == "maybe london"
    assert extract_answer("Thinking...\nMaybe London", "exact", strict=True) is None
    assert parse_gold("\\boxed{\\tfrac{1}{4}}", "math") == "0.25"
    assert parse_gold("  Paris. ", "exact") == "paris"


@pytest.mark.parametrize("fn", [extract_answer, canonicalize, parse_gold])
def test_unknown_style_is_one_clear_error(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"style='latex' is not supported; allowed: gsm8k, math, exact"):
        fn("1", "latex")


def test_public_constants() -> None:
    assert STYLES == ("gsm8k", "math", "exact")
    assert answers.CHECKER_VERSION == "2.1.0"


# issue 13 items 1-7: (text, style, expected extraction)
ISSUE13_EXTRACTION = {
    "1 boxed mixed number gsm8k": ("so \\boxed{2\\frac{1}{2}} hours", "gsm8k", "2.5"),
    "1 boxed mixed number math": ("\\boxed{1\\frac{4}{5}}", "math", "1.8"),
    "1 spaced latex mixed number": ("\\boxed{137 \\frac{1}{2}}", "math", "137.5"),
    "1 negative mixed number": ("\\boxed{-2\\frac{1}{4}}", "math", "-2.25"),
    "1 dfrac mixed number gsm8k": ("The answer is 3\\dfrac{3}{4} cups.", "gsm8k", "3.75"),
    "2 matrix rows keep their break": ("\\boxed{\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}}", "math",
                                       "\\begin{pmatrix}-1\\\\2\\end{pmatrix}"),
    "2 bmatrix with cells": ("\\boxed{\\begin{bmatrix} 1 & \\frac12 \\\\ 0 & 3 \\end{bmatrix}}", "math",
                             "\\begin{pmatrix}1&0.5\\\\0&3\\end{pmatrix}"),
    "3 escaped dollar in math": ("The answer is $\\$36$.", "math", "36"),
    "3 escaped dollars are no math": ("It costs \\$5 and then \\$6", "math", "6"),
    "4 boxed list with leading zero": ("\\boxed{0, 500}", "math", "0, 500"),
    "4 leading zero group gsm8k": ("\\boxed{0,500}", "gsm8k", None),
    "4 thousands still one number": ("\\boxed{8,000}", "math", "8000"),
    "5 heading is no answer line gsm8k": ("#### Step 1: Compute the sum\n2 + 23 = 25\n\\boxed{25}", "gsm8k", "25"),
    "5 heading is no answer line math": ("#### Step 1: Compute the sum\n2 + 23 = 25\n\\boxed{25}", "math", "25"),
    "5 heading then hashes answer": ("#### Step 1\nwork\n#### 18", "gsm8k", "18"),
    "5 answer-is arithmetic chain": ("The answer is 5 + 3 = 8.", "gsm8k", "8"),
    "5 hashes arithmetic chain": ("#### 10 + 5 = 15", "gsm8k", "15"),
    "5 chain with latex times": ("The answer is $4 \\times 3 = \\$12$.", "gsm8k", "12"),
    "5 chain stops at words": ("The answer is 5 + 3 = 8 and 3 = 3", "gsm8k", "8"),
    "5 chain math": ("The answer is 5 + 3 = 8.", "math", "8"),
    "5 words are no chain": ("The answer is 18 apples because 3*6=18", "gsm8k", "18"),
    "6 number after the last math": ("Final Answer: The largest $n$ is 34.", "math", "34"),
    "6 math then clause": ("The answer is $\\frac{1}{2}$, since $x = 3$.", "math", "0.5"),
    "6 minerva format": ("Final Answer: The final answer is $34$. I hope it is correct.", "math", "34"),
    "6 paren math": ("The answer is \\( \\frac{1}{2} \\).", "math", "0.5"),
    "6 symbolic answer": ("The final answer is $x^2 + 1$.", "math", "x^2+1"),
    "6 symbol equation": ("The answer is $n = 34$.", "math", "34"),
    "7 units under math": ("The answer is 5 apples.", "math", "5"),
    "7 text units under math": ("The answer is $5\\text{ apples}$.", "math", "5"),
    "7 degrees": ("\\boxed{30^\\circ}", "math", "30"),
    "7 bold": ("**Answer:** **18**", "math", "18"),
}


@pytest.mark.parametrize("text,style,expected", ISSUE13_EXTRACTION.values(), ids=ISSUE13_EXTRACTION.keys())
def test_issue13_extraction(text: str, style: str, expected: str | None) -> None:
    assert extract_answer(text, style) == expected


ISSUE13_CANONICAL = {  # (raw, style): canonical
    ("3 1/2", "math"): "3.5",
    ("31/2", "math"): "15.5",
    ("3\\frac{1}{2}", "gsm8k"): "3.5",
    ("3 \\frac{5}{2}", "gsm8k"): None,  # improper "mixed" number
    ("\\begin{pmatrix}-1\\\\2\\end{pmatrix}", "math"): "\\begin{pmatrix}-1\\\\2\\end{pmatrix}",
    ("\\begin{pmatrix} -1 \\\\ 2 \\\\ \\end{pmatrix}", "math"): "\\begin{pmatrix}-1\\\\2\\end{pmatrix}",
    ("0,500", "gsm8k"): None,
    ("0 500", "gsm8k"): None,
    ("2, 100", "math"): "2, 100",
    ("2,100", "math"): "2100",
    ("\\left( \\frac12 , 3 \\right)", "math"): "(0.5, 3)",
    ("[1,2)", "math"): "[1, 2)",
    ("\\{ 3,1 \\}", "math"): "\\{3, 1\\}",
    ("(5)", "math"): "5",
    ("x = 5", "math"): "5",
    ("2x - y + 3 = 0", "math"): "2x-y+3=0",
    ("\\pi r^2", "math"): "\\pi r^2",
    ("18 apples", "math"): "18",
    ("3 x", "math"): "3x",  # one letter is a variable, not a unit
}


@pytest.mark.parametrize("raw,style,expected", [(*k, v) for k, v in ISSUE13_CANONICAL.items()],
                         ids=[repr(k)[:40] for k in ISSUE13_CANONICAL])
def test_issue13_canonical_forms(raw: str, style: str, expected: str | None) -> None:
    assert canonicalize(raw, style) == expected
    if expected is not None:
        assert canonicalize(expected, style) == expected


ISSUE13_CHECKS = {  # decided by alft's own parser: no math-verify needed
    "latex mixed number equals improper fraction": ("\\frac{7}{2}", "3\\frac{1}{2}", True),
    "glued digits are not a mixed number": ("31/2", "3\\frac{1}{2}", False),
    "MATH-500 gold 1 4/5": ("1.8", "1\\frac{4}{5}", True),
    "MATH-500 gold 137 1/2": ("\\frac{275}{2}", "137 \\frac{1}{2}", True),
    "MATH-500 gold 137 1/2 wrong": ("1371/2", "137 \\frac{1}{2}", False),
    "vector with or without spaces": ("\\begin{pmatrix}-1\\\\2\\end{pmatrix}",
                                      "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", True),
    "vector entries compared exactly": ("\\begin{pmatrix}-1\\\\3\\end{pmatrix}",
                                        "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", False),
    "pmatrix equals bmatrix": ("\\begin{bmatrix}0.5&2\\end{bmatrix}", "\\begin{pmatrix}\\frac12&2\\end{pmatrix}", True),
    "list is not thousands": ("2, 100", "2100", False),
    "boxed list is not the number": ("\\boxed{0, 500}", "500", False),
    "lists are unordered": ("3, 1", "1,3", True),
    "set equals list": ("\\{1, 3\\}", "3, 1", True),
    "tuples are ordered": ("(1, 2)", "(2,1)", False),
    "tuple entries as fractions": ("(0.5, 2)", "\\left(\\frac{1}{2}, 2\\right)", True),
    "interval ends matter": ("[1, 2)", "[1,2]", None),  # different shapes: math-verify decides
    "numbers are exact under math": ("0.333333", "\\frac13", False),
    "units vote with the number": ("5 apples", "5", True),
    "equation value": ("x = 5", "5", True),
}


@pytest.mark.parametrize("pred,gold,expected", ISSUE13_CHECKS.values(), ids=ISSUE13_CHECKS.keys())
def test_issue13_exact_math_verdicts(pred: str, gold: str, expected: bool | None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Numbers, mixed numbers, tuples, lists, sets and matrices never reach math-verify."""
    def no_worker():  # type: ignore[no-untyped-def]
        raise AssertionError("math-verify was asked")

    monkeypatch.setattr(answers, "_math_verifier", no_worker)
    answers._math_verify_verdict.cache_clear()
    if expected is None:
        with pytest.raises(AssertionError, match="math-verify was asked"):
            judge_answer(pred, gold, "math")
    else:
        assert check_answer(pred, gold, "math") is expected
        assert judge_answer(pred, gold, "math") is (Verdict.CORRECT if expected else Verdict.WRONG)


def test_issue13_gsm8k_mixed_numbers_and_lists() -> None:
    assert check_answer(extract_answer("\\boxed{2\\frac{1}{2}}"), "2.5") is True
    assert check_answer("3 1/2", "3.5") is True
    assert canonicalize("0,500") is None and check_answer("0,500", "500") is False
