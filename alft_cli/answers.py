"""The one answer checker behind rewards, the consensus vote and every reported accuracy.

Public API: `extract_answer`, `check_answer`, `parse_gold`, `canonicalize`, `STYLES`,
`CHECKER_VERSION` (record it with every eval number). Pure stdlib; math-verify is imported lazily
and only for the `math` style.

Styles
- `gsm8k`: numeric answers, compared as exact rational numbers written canonically.
- `math`: LaTeX answers; canonical strings are normalised LaTeX (plain numbers as in `gsm8k`),
  equality is decided by `math_verify.verify(gold, pred)` (gold first: the check is asymmetric).
- `exact`: strings compared after collapsing whitespace, case-folding and dropping trailing periods.

Extraction order (the first rule that yields an answer wins)
1. `#### X` — the first occurrence (GSM8K's own format and reference grader).
2. `\\boxed{X}` / `\\fbox{X}` — the last one that closes (linear brace scan, capped length/depth).
3. "the (final) answer is X" — the last occurrence, case-insensitive.
4. A line starting `A: X`, `Answer: X` or `Final answer: X` — the last such line.
5. Fallback, off when `strict=True`: the last number (`math`: the last `$…$`, else the last number;
   `exact`: the last non-empty line) within the final 2000 characters.
For rules 1, 3 and 4, X is the first non-empty line within 200 characters after the marker; for
`gsm8k` the answer is the first number in X (so "The answer is 18 apples." gives 18).
Text a model generates after its answer (a next few-shot "Q: …") must be cut by stop sequences:
rules 2–4 take the last occurrence.

Canonical numbers (`gsm8k`, and plain numbers under `math`), exact arithmetic only:
- Thousands separators `1,234` and spaces inside numbers `1 234` (space, no-break, thin space,
  LaTeX `\\,` and `{,}`) are dropped when every group after the first has exactly 3 digits; any
  other comma ends the number (`3,5` is 3 then 5: decimal commas are not supported).
- Signs `+`, `-`, unicode minus and dashes `−‒–﹣－` count as a sign only when not directly after a
  letter, digit or closing bracket (`16-3` holds 16 and 3, not -3) and when it touches the number
  or its currency sign (`- 5` is 5); `-0` is `0`.
- Currency `$ € £ ¥ ₹ \\$`, units and trailing words, a trailing period and leading zeros are
  ignored: `$1,000.` → `1000`, `-$5` → `-5`, `007` → `7`, `18 apples` → `18`.
- Decimals are exact: `72.0` → `72`, `0.50` → `0.5`, `.5` → `0.5`; `0.333` is not `1/3`.
- Fractions `a/b`, `\\frac{a}{b}`, `\\dfrac`, `\\frac34` and mixed numbers `1 1/2` become a terminating
  decimal when one exists (`3/4` → `0.75`, `4/2` → `2`), otherwise a reduced fraction (`2/6` →
  `1/3`): one spelling per value. Division by zero and improper "mixed" numbers are unparseable.
- Percentages keep their number: `50%` → `50`, because GSM8K golds state percentages as bare
  numbers ("What percentage…? #### 50"); the vote therefore treats `50%` and `50` as one answer.
- Scale words are units, not multipliers: `1.8 billion` → `1.8` (questions often ask "in millions").
  Scientific notation with a 1–2 digit exponent is exact: `1.5e3` → `1500`. Malformed numbers
  (`1.2.3`, `1e100`), decimal commas, number words ("five") and non-ASCII digits are not numbers.
- A number with more than 40 digits is unparseable (answers are never that long; it keeps
  arithmetic and output bounded).
`canonicalize(s, "gsm8k")` requires exactly one number in `s` (`18 or 19` → None).

Safety: no eval/exec; every regex is linear in its input (bounded quantifiers, no backtracking
nests); fallbacks scan only the tail of long texts; math-verify gets at most 1000 characters, no
nested or huge powers/factorials, and a hard 0.5 s SIGALRM deadline when called in the main thread
(signals are unavailable in other threads, where only the input guards apply).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TypeVar

from alft_cli._numbers import NUMBER_RE, canonical_number, clean_latex

CHECKER_VERSION = "1.0.0"
STYLES = ("gsm8k", "math", "exact")
MATH_TIMEOUT_S = 0.5

_TAIL_CHARS = 2000  # fallbacks only look at the end of the text
_SPAN_CHARS = 200  # how far after a marker the answer may start
_BOX_CHARS = 2000  # longest \boxed{} content scanned
_BOX_DEPTH = 100
_BOX_TRIES = 4  # unclosed \boxed{ occurrences skipped before giving up
_CANON_CHARS = 1000  # longer strings are not answers
_MATH_CHARS = 1000

_ANSWER_IS_RE = re.compile(r"\b(?:final\s{1,4})?answer\s{1,4}is\b[ \t:]{0,4}", re.IGNORECASE)
_ANSWER_LINE_RE = re.compile(
    r"^[ \t>*#_]{0,8}(?:final[ \t]{1,4})?(?:a|answer)[ \t*]{0,4}:[ \t*]{0,4}", re.IGNORECASE | re.MULTILINE
)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s{0,4}\{")
_INLINE_MATH_RE = re.compile(r"\$([^$]{1,200})\$")
_MATH_NOISE_RE = re.compile(r"\\(?:left|right|displaystyle|!|,|;|:| )|\s+")
_MATH_DELIMS = ("$", "\\(", "\\)", "\\[", "\\]")
_RISKY_MATH_RE = re.compile(
    r"\^\s{0,4}\{[^{}]{0,200}\^"  # nested powers
    r"|\^\s{0,4}\{?\s{0,4}\d{4}"  # exponents >= 1000
    r"|\d{4}\s{0,4}!"  # large factorials
    r"|\\binom\s{0,4}\{\s{0,4}\d{4}"
)


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"style={style!r} is not supported; allowed: {', '.join(STYLES)}")


def _first_line(text: str, start: int) -> str:
    """The first non-empty line within `_SPAN_CHARS` characters after `start`."""
    span = text[start : start + _SPAN_CHARS].lstrip()
    return span.split("\n", 1)[0].strip()


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = deque(pattern.finditer(text), maxlen=1)
    return last[0] if last else None


def _boxed(text: str) -> str | None:
    """Content of the last `\\boxed{…}` that closes, found by a linear scan (no recursion)."""
    starts = [m.end() for m in _BOX_RE.finditer(text)][-_BOX_TRIES:]
    for start in reversed(starts):
        depth, i, end = 1, start, min(len(text), start + _BOX_CHARS)
        while i < end:
            ch = text[i]
            if ch == "\\":
                i += 2  # skip escaped characters such as \{ and \}
                continue
            if ch == "{":
                depth += 1
                if depth > _BOX_DEPTH:
                    break
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
            i += 1
    return None


def _marker_spans(text: str) -> Iterator[str]:
    """Candidate answer spans in extraction order (rules 1–4 of the module docstring), lazily."""
    hashes = text.find("####")
    if hashes >= 0:
        yield _first_line(text, hashes + 4)
    boxed = _boxed(text)
    if boxed is not None:
        yield boxed
    for pattern in (_ANSWER_IS_RE, _ANSWER_LINE_RE):
        m = _last_match(pattern, text)
        if m is not None:
            yield _first_line(text, m.end())


def _first_number(span: str) -> str | None:
    m = NUMBER_RE.search(clean_latex(span))
    return canonical_number(m) if m else None


def _last_number(text: str) -> str | None:
    m = _last_match(NUMBER_RE, clean_latex(text[-_TAIL_CHARS:]))
    return canonical_number(m) if m else None


def _inline_math(span: str) -> str:
    """Prefer the first `$…$` inside a marker span ("the answer is $x^2$.")."""
    m = _INLINE_MATH_RE.search(span)
    return m.group(1) if m else span


def extract_answer(text: str, style: str = "gsm8k", strict: bool = False) -> str | None:
    """Canonical answer in `text` (rules in the module docstring); None when there is none."""
    _check_style(style)
    for span in _marker_spans(text):
        if style == "gsm8k":
            answer = _first_number(span)
        else:
            answer = canonicalize(_inline_math(span) if style == "math" else span, style)
        if answer is not None:
            return answer
    if strict:
        return None
    tail = text[-_TAIL_CHARS:]
    if style == "gsm8k":
        return _last_number(tail)
    if style == "math":
        m = _last_match(_INLINE_MATH_RE, tail)
        return canonicalize(m.group(1), style) if m else _last_number(tail)
    lines = [line for line in tail.splitlines() if line.strip()]
    return canonicalize(lines[-1], style) if lines else None


def _single_number(s: str) -> str | None:
    matches = list(NUMBER_RE.finditer(clean_latex(s)))
    return canonical_number(matches[0]) if len(matches) == 1 else None


def _canonical_math(s: str) -> str | None:
    """Plain numbers as in `gsm8k`; other LaTeX without spacing, delimiters and trailing period."""
    previous = None
    while s != previous:  # to a fixpoint, so that canonicalisation is idempotent
        previous = s
        s = _MATH_NOISE_RE.sub("", s).rstrip(".")
        for delim in _MATH_DELIMS:
            s = s.removeprefix(delim).removesuffix(delim)
    m = NUMBER_RE.fullmatch(clean_latex(s).strip().rstrip(".").removesuffix("%"))
    number = canonical_number(m) if m else None
    return number or s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac") or None


def canonicalize(s: str, style: str = "gsm8k") -> str | None:
    """Canonical form of an answer string (idempotent); None when `s` is not one answer."""
    _check_style(style)
    if len(s) > _CANON_CHARS:
        return None
    if style == "gsm8k":
        return _single_number(s)
    if style == "math":
        return _canonical_math(s)
    return " ".join(s.casefold().split()).rstrip(". ") or None


def parse_gold(answer_field: str, style: str = "gsm8k") -> str | None:
    """Canonical gold from a dataset field (GSM8K `… #### N`); None means report and skip the row."""
    _check_style(style)
    if style == "gsm8k" and "####" in answer_field:
        answer_field = answer_field.split("####", 1)[1]
    elif style == "math":
        answer_field = _boxed(answer_field) or answer_field
    return canonicalize(answer_field, style)


def check_answer(pred: str | None, gold: str, style: str = "gsm8k") -> bool:
    """True when `pred` equals `gold` (canonical or a raw dataset field); an unparsable gold never is."""
    _check_style(style)
    if pred is None:
        return False
    canon_gold, canon_pred = parse_gold(gold, style), canonicalize(pred, style)
    if canon_gold is None or canon_pred is None:
        return False
    if canon_gold == canon_pred:
        return True
    return style == "math" and _math_verify_equal(canon_gold, canon_pred)


class _Deadline(BaseException):
    """Raised by SIGALRM; a BaseException so math-verify's `except Exception` cannot swallow it."""


T = TypeVar("T")
_DEADLINE_REPEAT_S = 0.05


def _with_deadline(fn: Callable[[], T], seconds: float) -> T | None:
    """`fn()`, or None once `seconds` pass (main thread only; elsewhere it runs unbounded)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return fn()

    def _raise(signum: int, frame: object) -> None:
        raise _Deadline

    started = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, _raise)
    # Repeating: a raise that lands in a gc callback or __del__ is swallowed by Python, so fire again.
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds, _DEADLINE_REPEAT_S)
    try:
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Deadline:
        return None
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL if old_handler is None else old_handler)
        if old_delay > 0:  # re-arm a timer the caller had running
            remaining = old_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3), old_interval)


class _DropTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


_TIMEOUT_WARNING_FILTER = _DropTimeoutWarning()


def _math_verify_equal(gold: str, pred: str) -> bool:
    """math_verify.verify(gold, pred) under the size guards and the hard deadline."""
    if any(len(s) > _MATH_CHARS or _RISKY_MATH_RE.search(s) for s in (gold, pred)):
        return False
    import math_verify

    for name in ("math_verify.parser", "math_verify.grader"):  # we enforce the timeout ourselves
        logging.getLogger(name).addFilter(_TIMEOUT_WARNING_FILTER)

    def run() -> bool:
        parsed_gold = math_verify.parse(f"${gold}$", parsing_timeout=None)
        parsed_pred = math_verify.parse(f"${pred}$", parsing_timeout=None)
        if not parsed_gold or not parsed_pred:
            return False
        return bool(math_verify.verify(parsed_gold, parsed_pred, timeout_seconds=None))

    try:
        return bool(_with_deadline(run, MATH_TIMEOUT_S))
    except Exception:  # noqa: BLE001 — math-verify/sympy on hostile input: never crash, never reward
        return False
