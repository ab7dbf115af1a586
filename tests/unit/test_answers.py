"""Table-driven tests for alft_cli.answers: extraction order, canonical numbers, gold parsing,
checking, and the past bugs of other tools that the checker must not repeat."""

from __future__ import annotations

import pytest

from alft_cli import answers
from alft_cli.answers import STYLES, canonicalize, check_answer, extract_answer, parse_gold

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
    """open-r1#557: math_verify.verify is asymmetric; alft must call verify(gold, pred)."""
    import math_verify

    seen = []
    real_verify = math_verify.verify

    def spy(gold, target, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((gold, target))
        return real_verify(gold, target, **kwargs)

    monkeypatch.setattr(math_verify, "verify", spy)
    assert check_answer("\\sqrt{9}", "3", "math") is True
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
    "fallback inline math": ("We get $y = 3$ and then $\\pi r^2$", "\\pir^2"),
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
    assert isinstance(answers.CHECKER_VERSION, str) and answers.CHECKER_VERSION
