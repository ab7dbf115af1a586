"""Number scanning and exact canonical number strings for the answer checker (pure stdlib).

`NUMBER_RE` finds numbers in free text; `canonical_number` turns a match into its canonical string
(exact `Fraction` arithmetic, never floats) or None; `clean_latex` rewrites the LaTeX wrappers
that models put around numbers into plain text. The rules and their ambiguous cases are documented
in `alft_cli.answers`. All patterns are linear in their input: bounded quantifiers, no nested
repetition that can backtrack, and callers only pass bounded slices of text.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_DIGITS = 40  # more digits than this in one number: not an answer, never converted
_MINUS = r"\-" "\u2212\u2012\u2013\ufe63\uff0d"  # hyphen-minus, minus, figure dash, en dash, small/full-width
_SIGN = f"[+{_MINUS}]"
_CURRENCY = r"(?:\\\$|[$€£¥₹])"
_GROUP_SPACE = "[ \u00a0\u2009\u202f]"  # space, no-break, thin, narrow no-break

NUMBER_RE = re.compile(
    # a sign counts only when it is not an operator between two terms (16-3 is not -3)
    rf"(?:(?<![A-Za-z0-9_)\]}}])(?P<sign>{_SIGN}))?"
    rf"(?:{_CURRENCY}(?P<sign2>{_SIGN})?)?"
    r"(?<![A-Za-z0-9_.])"
    r"(?:"
    r"(?P<whole>\d{1,6}) (?P<mnum>[1-9]\d{0,5})/(?P<mden>\d{1,6})(?![\d.,/])"  # mixed 1 1/2
    r"|(?P<int>\d{1,3}(?:,\d{3})+(?!\d)"  # 1,234,567
    rf"|\d{{1,3}}(?:{_GROUP_SPACE}\d{{3}})+(?![\d,/])"  # 1 234 567
    r"|\d+)(?P<dec>\.\d+)?(?:[eE](?P<exp>[-+]?\d{1,2}))?(?:/(?P<den>\d+))?"
    r"|(?P<bare>\.\d+)"  # .5
    # a number ends where its digits end: no partial matches of 123, 1.25 or 1e100 (3-digit exponent)
    r")(?!\.?\d|[eE][-+]?\d)",
    re.ASCII,
)

_FRAC = (  # \frac{a}{b} (numerator may be signed) or \frac34, also \dfrac and \tfrac
    r"\\[dt]?frac(?:\s{0,4}\{\s{0,4}([-+]?[0-9.,]{1,40})\s{0,4}\}\s{0,4}\{\s{0,4}([0-9.,]{1,40})\s{0,4}\}"
    r"|([0-9])([0-9]))"
)
_LATEX_SUBS = [
    (
        re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s{0,4}\{([^{}]{0,200})\}"),
        r" \1 ",
    ),
    # a fraction right after digits is the fractional part of a mixed number: 3\frac{1}{2} is 3 1/2
    (re.compile(rf"(?<=[0-9])\s{{0,4}}{_FRAC}"), r" \1\3/\2\4"),
    (re.compile(_FRAC), r"\1\3/\2\4"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\[,;: ]"), " "),
    (re.compile(r"\\(?:!|left|right|displaystyle)"), ""),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), "$"),
]


def clean_latex(text: str) -> str:
    """Rewrite number wrappers (`\\text{}`, `\\frac{a}{b}`, `{,}`, `\\,`, `\\$`, `\\%`) to plain text."""
    if "\\" not in text and "{," not in text:
        return text
    for pattern, repl in _LATEX_SUBS:
        text = pattern.sub(repl, text)
    return text


def _value(m: re.Match[str]) -> Fraction | None:
    """Exact value of a `NUMBER_RE` match; None when it is too long or divides by zero."""
    if sum(ch.isdigit() for ch in m.group(0)) > MAX_DIGITS:
        return None
    if m.group("whole") is not None:
        num, den = int(m.group("mnum")), int(m.group("mden"))
        if num >= den:  # "3 5/2" is not a mixed number
            return None
        value = int(m.group("whole")) + Fraction(num, den)
    elif m.group("bare") is not None:
        value = Fraction(m.group("bare"))
    else:
        digits = re.sub(r"[^0-9]", "", m.group("int"))
        if m.group("int")[0] == "0" and len(digits) > 3 and not m.group("int").isdigit():
            return None  # "0,500" is no thousands-separated number (a list, or a decimal comma)
        value = Fraction(digits + (m.group("dec") or "")) * Fraction(10) ** int(m.group("exp") or 0)
        if m.group("den") is not None:
            den = int(m.group("den"))
            if den == 0:
                return None
            value /= den
    sign = m.group("sign") or m.group("sign2") or "+"
    return -value if sign != "+" else value


def _format(value: Fraction) -> str:
    """Canonical string: integer, exact terminating decimal, else reduced `p/q` (never floats)."""
    num, den = value.numerator, value.denominator
    if den == 1:
        return str(num)
    twos = fives = 0
    rest = den
    while rest % 2 == 0:
        rest //= 2
        twos += 1
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    if rest != 1:
        return f"{num}/{den}"
    places = max(twos, fives)
    digits = str(abs(num) * 10**places // den).rjust(places + 1, "0")
    sign = "-" if num < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def canonical_number(m: re.Match[str]) -> str | None:
    """Canonical string of a `NUMBER_RE` match; None when unparseable or over `MAX_DIGITS` digits."""
    whole = m.group("int")
    if whole is not None and whole.isdigit() and m.end("int") == m.end() and len(whole) <= MAX_DIGITS:
        digits = whole.lstrip("0") or "0"  # plain integers, most answers: no Fraction arithmetic
        return "-" + digits if (m.group("sign") or m.group("sign2") or "+") != "+" and digits != "0" else digits
    value = _value(m)
    if value is None:
        return None
    text = _format(value)
    return text if sum(ch.isdigit() for ch in text) <= MAX_DIGITS else None
