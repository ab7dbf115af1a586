"""Property-based and adversarial tests for alft_cli.answers: canonical strings are idempotent and
independent of formatting; hostile text never crashes or hangs the checker."""

from __future__ import annotations

import signal
import threading
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alft_cli.answers import STYLES, Verdict, canonicalize, check_answer, extract_answer, judge_answer

FAST = settings(max_examples=150, deadline=None)
TIME_BOUND_S = 1.0


def _expected(negative: bool, whole: int, decimals: str) -> str:
    """Oracle independent of alft: Decimal's normal form, without exponent or `-0`."""
    value = Decimal(f"{'-' if negative else ''}{whole}.{decimals or '0'}")
    return "0" if value == 0 else format(value.normalize(), "f")


@st.composite
def formatted_numbers(draw: st.DrawFn) -> tuple[str, str]:
    negative = draw(st.booleans())
    whole = draw(st.integers(0, 10**12))
    decimals = draw(st.text("0123456789", max_size=6))
    group = draw(st.sampled_from(["", ",", " ", "\u202f", "{,}"]))
    body = f"{whole:,}".replace(",", group) if group else draw(st.sampled_from(["", "00"])) + str(whole)
    body += (
        "." + decimals + draw(st.sampled_from(["", "0", "00"]))
        if decimals
        else draw(st.sampled_from(["", ".0", ".00"]))
    )
    currency = draw(st.sampled_from(["", "$", "\\$", "€"]))
    minus = draw(st.sampled_from(["-", "\u2212"]))
    if negative:
        text = draw(st.sampled_from([minus + currency + body, currency + minus + body]))
    else:
        text = draw(st.sampled_from(["", "+"])) + currency + body
    text += draw(st.sampled_from(["", " dollars", " cm", "%", " apples in total"]))
    text += draw(st.sampled_from(["", "."]))
    return text, _expected(negative, whole, decimals)


TEMPLATES = ["#### {}", "\\boxed{{{}}}", "So the final answer is {}", "Answer: {}", "Total paid: {}"]


@FAST
@given(formatted_numbers(), st.sampled_from(TEMPLATES))
def test_any_formatting_extracts_the_same_canonical_string(case: tuple[str, str], template: str) -> None:
    text, expected = case
    assert extract_answer("Let me think.\n" + template.format(text)) == expected
    assert canonicalize(text) == expected


@FAST
@given(st.integers(-(10**9), 10**9), st.integers(1, 10**6))
def test_fractions_keep_their_exact_value_in_one_spelling(p: int, q: int) -> None:
    canonical = canonicalize(f"{p}/{q}")
    assert canonical is not None and Fraction(canonical) == Fraction(p, q)
    assert canonicalize(f"\\frac{{{p}}}{{{q}}}") == canonical
    if "/" in canonical:  # only non-terminating values stay fractions, and reduced
        rest = Fraction(canonical).denominator
        for prime in (2, 5):
            while rest % prime == 0:
                rest //= prime
        assert rest != 1
        assert canonical == f"{Fraction(p, q).numerator}/{Fraction(p, q).denominator}"
    else:
        assert not canonical.endswith("0") or "." not in canonical


NUMBERISH = st.lists(
    st.sampled_from(list("0123456789,.-+$% /{}\\eE\n") + ["\u2212", "frac", "text", "boxed", "A:", "####"]),
    max_size=60,
).map("".join)


@FAST
@given(st.one_of(NUMBERISH, st.text(max_size=300)), st.sampled_from(STYLES))
def test_canonicalize_is_idempotent(text: str, style: str) -> None:
    canonical = canonicalize(text, style)
    if canonical is not None:
        assert canonicalize(canonical, style) == canonical


@FAST
@given(st.one_of(NUMBERISH, st.text(max_size=500)), st.sampled_from(STYLES), st.booleans())
def test_extracted_answers_are_canonical_and_match_themselves(text: str, style: str, strict: bool) -> None:
    answer = extract_answer(text, style, strict=strict)
    assert answer is None or isinstance(answer, str)
    if answer is not None:
        assert canonicalize(answer, style) == answer
        assert check_answer(answer, answer, style) is True


N = 100_000
ADVERSARIAL = {  # text, gsm8k answer, gsm8k strict answer
    "huge number": ("9" * N, None, None),
    "huge number after marker": ("#### " + "9" * N, None, None),
    "long comma run": ("1" + ",000" * (N // 4), None, None),
    "long space-grouped run": ("1" + " 000" * (N // 4), None, None),
    "decimal points": (".5" * (N // 2), None, None),
    "dashes then number": ("-" * N + "5", "-5", None),
    "sign soup": ("+-" * (N // 2) + "3", "-3", None),
    "10k nested braces": ("\\boxed{" + "{" * 10_000 + "5" + "}" * 10_000 + "}", None, None),
    "unclosed boxed": ("\\boxed{" * (N // 7), None, None),
    "unclosed boxed at end": ("The sum is \\boxed{18", "18", None),
    "only braces": ("{" * N, None, None),
    "marker flood": ("the answer is " * (N // 14), None, None),
    "empty A-lines": ("A:\n" * (N // 3), None, None),
    "slashes": ("1/" * (N // 2), "1", None),
    "NUL bytes": ("\x00" * N + "\nA: 5", "5", "5"),
    "mixed scripts": ("答案是١٢٣ Ωμέγα 18 " * (N // 20) + "\nA: 7", "7", "7"),
    "frac flood": ("\\frac{1}{" * (N // 9), "1", None),
    "dollar flood": ("$" * N, None, None),
    "long text then answer": ("x " * (N // 2) + "#### 1,234", "1234", "1234"),
}


@pytest.mark.parametrize("text,expected,expected_strict", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_inputs_are_fast_and_safe(
    text: str, expected: str | None, expected_strict: str | None
) -> None:
    for style in STYLES:
        started = time.perf_counter()
        answer = extract_answer(text, style)
        strict = extract_answer(text, style, strict=True)
        canonicalize(text, style)
        check_answer(text[:2000], text[:2000], style)
        assert time.perf_counter() - started < TIME_BOUND_S, style
        if style == "gsm8k":
            assert (answer, strict) == (expected, expected_strict)


HOSTILE_MATH = ["9^{9^{9}}", "10^{100000}", "100000!", "\\binom{100000}{5000}", "x" * 5000, "(9^9)^(9^9)", "(99!)!",
                "9!!!", "9!!", "(10^9)!", "\\binom{10^9}{5\\cdot10^8}", "(x+1)^{999}", "\\prod_{k=1}^{999} (x+k)"]


@pytest.mark.parametrize("hostile", HOSTILE_MATH)
def test_math_refuses_inputs_sympy_could_hang_on(hostile: str) -> None:
    """A refused pair was never checked: UNDECIDED (counted), not WRONG; a non-answer stays WRONG."""
    refused = Verdict.WRONG if canonicalize(hostile, "math") is None else Verdict.UNDECIDED
    started = time.perf_counter()
    assert judge_answer(hostile, "(x+1)^{998}(x+2)", "math") is refused
    assert judge_answer("42", hostile, "math") is refused
    assert time.perf_counter() - started < TIME_BOUND_S


def test_refused_pairs_that_the_exact_rules_decide_keep_their_verdict() -> None:
    assert judge_answer("10^{100000}", "10^{100000}", "math") is Verdict.CORRECT
    assert judge_answer("2^{1000}", "2^{10} \\cdot 2^{990}", "math") is Verdict.UNDECIDED
    assert check_answer("2^{1000}", "2^{10} \\cdot 2^{990}", "math") is False  # scored as not correct
    assert judge_answer("(1, 9^{9^{9}})", "(2, 9^{9^{9}})", "math") is Verdict.WRONG  # differs in numbers only


def test_towers_finish_fast_outside_the_main_thread() -> None:
    """issue 13 item 9: no SIGALRM bound exists in a thread; the input guard must refuse towers."""
    verdicts: list[Verdict] = []
    started = time.perf_counter()
    worker = threading.Thread(
        target=lambda: verdicts.extend(judge_answer(h, "42", "math") for h in ("9!!!", "(10^9)!", "\\binom{10^9}{5\\cdot10^8}"))
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive() and verdicts == [Verdict.UNDECIDED] * 3
    assert time.perf_counter() - started < TIME_BOUND_S


def test_the_checker_uses_no_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 13 item 10: no SIGALRM, no itimer, so no race between arming a timer and handling it."""
    import inspect

    from alft_cli import _math_worker, answers

    for module in (answers, _math_worker):
        assert "signal" not in inspect.getsource(module).replace("signals", "")

    def forbidden(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the checker touched signals")

    monkeypatch.setattr(signal, "signal", forbidden)
    monkeypatch.setattr(signal, "setitimer", forbidden)
    assert check_answer("\\frac{7}{2}", "3\\frac{1}{2}", "math") is True
    assert check_answer("(1, 2)", "(2, 1)", "math") is False
