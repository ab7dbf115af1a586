"""The one answer checker behind rewards, the consensus vote and every reported accuracy.

Public API: `extract_answer`, `check_answer`, `judge_answer` (with its `Verdict`), `parse_gold`,
`canonicalize`, `STYLES`, `CHECKER_VERSION` (record it with every eval number). Pure stdlib; math-verify
runs only for the `math` style, in a worker process (`alft_cli._math_worker`), and only for pairs the
exact rules below cannot decide.

Styles
- `gsm8k`: numeric answers, compared as exact rational numbers written canonically.
- `math`: LaTeX answers; canonical strings are normalised LaTeX (plain numbers as in `gsm8k`; tuples,
  intervals, sets, comma lists and `pmatrix`/`bmatrix` matrices rebuilt from canonical elements). A pair
  is decided exactly when both sides are numbers, or structures of the same shape whose differing
  elements are all numbers (comma lists and `\\{…\\}` sets compare as sets); otherwise by
  `math_verify.verify(gold, pred)` (gold first: the check is asymmetric).
- `exact`: strings compared after collapsing whitespace, case-folding and dropping trailing periods.

Verdicts are deterministic: the same (pred, gold, style) gets the same verdict on any machine, under any
load, in any thread, cold or warm. math-verify runs in a separate process with a generous limit of
`MATH_TIMEOUT_S` per pair (start-up not counted); an overrun kills the worker and the verdict is
`Verdict.UNDECIDED`: scored as not correct and counted (`answers/undecided_rate` in training,
`undecided_rate` in eval metrics), never silently False. Inputs math-verify could hang on (over 1000
characters, towers of powers, exponents >= 1000 or >= 100 on a symbolic base, factorials of large,
composite or factorial arguments, binomials of large arguments) are refused without running it: a pair
the exact rules cannot decide is then `UNDECIDED` too (it was not checked: neither right nor wrong).
math-verify verdicts are cached per canonical (gold, pred) pair.

Extraction order (the first rule that yields an answer wins)
1. `#### X` — the first occurrence that is not a markdown heading (`#### Step 1:` starts with a letter).
2. `\\boxed{X}` / `\\fbox{X}` — the last one that closes (linear brace scan, capped length/depth).
3. "the (final) answer is X" — the last occurrence, case-insensitive.
4. A line starting `A: X`, `Answer: X` or `Final answer: X` — the last such line.
5. Fallback, off when `strict=True`: the last number (`math`: the last `$…$`, else the last number;
   `exact`: the last non-empty line) within the final 2000 characters.
For rules 1, 3 and 4, X is the first non-empty line within 200 characters after the marker. `gsm8k`
takes the first number in X (so "The answer is 18 apples." gives 18), or the result of an arithmetic
chain X opens (`5 + 3 = 8` gives 8). `math` reads X as a sentence: it stops at the first sentence or
clause end outside math (`. `, `; `, `, since`), and takes its last inline math (`$…$`, `\\(…\\)`;
`\\$` is an escaped dollar, not math) or, when plain text with a number follows it, that text without
its leading "is"/"=" ("The largest $n$ is 34." gives 34). Text a model generates after its answer (a
next few-shot "Q: …") must be cut by stop sequences: rules 2–4 take the last occurrence.

Canonical numbers (`gsm8k`, and plain numbers under `math`), exact arithmetic only:
- Thousands separators `1,234` and spaces inside numbers `1 234` (space, no-break, thin space,
  LaTeX `\\,` and `{,}`) are dropped when every group after the first has exactly 3 digits and the
  first is not `0`; any other comma ends the number (`3,5` is 3 then 5, `0,500` is 0 then 500:
  decimal commas are not supported). Under `math`, `2, 100` (a space after the comma) is a list.
- Signs `+`, `-`, unicode minus and dashes `−‒–﹣－` count as a sign only when not directly after a
  letter, digit or closing bracket (`16-3` holds 16 and 3, not -3) and when it touches the number
  or its currency sign (`- 5` is 5); `-0` is `0`.
- Currency `$ € £ ¥ ₹ \\$`, units and trailing words, a trailing period and leading zeros are
  ignored: `$1,000.` → `1000`, `-$5` → `-5`, `007` → `7`, `18 apples` → `18` (also under `math`,
  where a unit is a word of two or more letters, so `5 apples` votes with `5`; `30^\\circ` → `30`).
- Decimals are exact: `72.0` → `72`, `0.50` → `0.5`, `.5` → `0.5`; `0.333` is not `1/3`.
- Fractions `a/b`, `\\frac{a}{b}`, `\\dfrac`, `\\frac34` and mixed numbers `1 1/2`, `1\\frac{1}{2}`,
  `137 \\frac{1}{2}` become a terminating decimal when one exists (`3/4` → `0.75`, `4/2` → `2`),
  otherwise a reduced fraction (`2/6` → `1/3`): one spelling per value. Division by zero and improper
  "mixed" numbers (`3 5/2`) are unparseable.
- Percentages keep their number: `50%` → `50`, because GSM8K golds state percentages as bare
  numbers ("What percentage…? #### 50"); the vote therefore treats `50%` and `50` as one answer.
- Scale words are units, not multipliers: `1.8 billion` → `1.8` (questions often ask "in millions").
  Scientific notation with a 1–2 digit exponent is exact: `1.5e3` → `1500`. Malformed numbers
  (`1.2.3`, `1e100`), decimal commas, number words ("five") and non-ASCII digits are not numbers.
- A number with more than 40 digits is unparseable (answers are never that long; it keeps
  arithmetic and output bounded).
`canonicalize(s, "gsm8k")` requires exactly one number in `s` (`18 or 19` → None). Under `math`, an
equation whose sides before the last are arithmetic or one symbol gives its last side when that is a
number (`5 + 3 = 8` → `8`, `x = 5` → `5`; `2x - y = 0` stays an equation).

Safety: no eval/exec and no signals; every regex is linear in its input (bounded quantifiers, no
backtracking nests); fallbacks scan only the tail of long texts; the math-verify worker is bounded as
above and by a 4 GiB address-space cap.

Changelog of verdicts (bump `CHECKER_VERSION` with every change that can flip one)
- 2.1.0: a `math` pair the input guard refuses to check is `UNDECIDED` (was `WRONG`: an unchecked
  `2^{1000}` against gold `2^{10} \\cdot 2^{990}` counted as a wrong answer, not as an undecided one).
- 2.0.0: math-verify runs in a worker process without signals; an overrun is `UNDECIDED` (was a
  load-dependent False, and unbounded outside the main thread); limit 0.5 s → 10 s, start-up excluded.
  Mixed numbers `3\\frac{1}{2}` = 3.5 (was 31/2 = 15.5), `3 1/2` under `math` = 3.5 (was 15.5).
  Matrix rows `\\\\ ` keep their separator. `$\\$36$` is 36. `0,500` and `2, 100` are lists, not 500
  and 2100. Markdown headings `#### Step 1:` are no answer lines. Arithmetic chains after a marker
  give their result (`The answer is 5 + 3 = 8.` → 8, was 5). Math marker sentences take the answer
  after the math (`The largest $n$ is 34.` → 34, was `n`); `5 apples` → `5` under `math`. `\\pi r^2`
  keeps its space (was `\\pir^2`). Two plain numbers under `math` are compared exactly: `0.333333`
  is not `1/3` (math-verify rounds to 6 digits and said equal). `x = 5` → `5` under `math`.
- 1.0.0: first release.
"""

from __future__ import annotations

import enum
import functools
import re
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from alft_cli._numbers import NUMBER_RE, canonical_number, clean_latex

if TYPE_CHECKING:
    from alft_cli._math_worker import MathVerifier

CHECKER_VERSION = "2.1.0"
STYLES = ("gsm8k", "math", "exact")
MATH_TIMEOUT_S = 10.0  # per math-verify check in the worker; an overrun is Verdict.UNDECIDED


class Verdict(enum.Enum):
    """How a prediction compares with its gold; only CORRECT scores."""

    CORRECT = "correct"
    WRONG = "wrong"
    UNDECIDED = "undecided"  # not checked (math-verify overran, or the input guard refused): not correct, counted


_TAIL_CHARS = 2000  # fallbacks only look at the end of the text
_SPAN_CHARS = 200  # how far after a marker the answer may start
_BOX_CHARS = 2000  # longest \boxed{} content scanned
_BOX_DEPTH = 100
_BOX_TRIES = 4  # unclosed \boxed{ occurrences skipped before giving up
_CANON_CHARS = 1000  # longer strings are not answers
_MATH_CHARS = 1000
_NEST_DEPTH = 4  # deepest tuple/set/matrix nesting parsed as a structure
_CACHE_SIZE = 1 << 16

_HASHES_RE = re.compile(r"(?<!#)####(?!#)")
_ANSWER_IS_RE = re.compile(r"\b(?:final\s{1,4})?answer\s{1,4}is\b[ \t:]{0,4}", re.IGNORECASE)
_ANSWER_LINE_RE = re.compile(
    r"^[ \t>*#_]{0,8}(?:final[ \t]{1,4})?(?:a|answer)[ \t*]{0,4}:[ \t*]{0,4}", re.IGNORECASE | re.MULTILINE
)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s{0,4}\{")
# $…$ whose opening dollar is not escaped (`\$` is a dollar sign), or \(…\)
_INLINE_MATH_RE = re.compile(r"(?<!\\)\$((?:\\.|[^$\\]){1,200})\$|\\\(((?:\\[^)]|[^\\]){1,200})\\\)")
_CLAUSE_END_RE = re.compile(r"[.!?;](?=\s|$)|,\s{1,4}(?=[A-Za-z]{2})")
_FILLER_RE = re.compile(r"(?:\s|[=:]|(?:is|are|was|equals|becomes)\b){0,12}", re.IGNORECASE)
_ARITH_RE = re.compile(r"(?:[\s\d.+*/×÷·()$%\-\u2212]|,(?=\d{3})|\\(?:times|cdot|div)(?![A-Za-z]))+")
_SYMBOL_RE = re.compile(r"(?:[A-Za-z]|\\[A-Za-z]{1,20})(?:_\{?[A-Za-z0-9]{1,4}\}?)?")
_UNITS_RE = re.compile(r"(?:\s{1,4}(?!(?:pi|sqrt|sin|cos|tan|log|ln|exp)\b)[A-Za-z]{2,20}\.?){1,8}\s{0,4}")
_DEGREES_RE = re.compile(r"\s{0,4}\^\s{0,4}(?:\\circ|\{\s{0,4}\\circ\s{0,4}\})\s{0,4}$")
# `\\` (a matrix row break) is kept; spacing commands and \left/\right/\displaystyle are dropped
_MATH_NOISE_RE = re.compile(r"\\\\|\\(?:left|right|displaystyle)(?![A-Za-z])|\\!|\\[,;: ]|\s+")
_MATH_DELIMS = ("$", "\\(", "\\)", "\\[", "\\]")
# drop spaces, but not those that end a command before a letter (\pi r) or separate two digits
_SQUEEZE_RE = re.compile(r"(\\[A-Za-z]{1,30} )(?=[A-Za-z])|(?<![0-9]) | (?![0-9])")
_MATRIX_RE = re.compile(r"\\begin\{([pb]?matrix)\}(.{0,1000})\\end\{\1\}", re.DOTALL)
_RISKY_MATH_RE = re.compile(
    r"\^\s{0,4}\{[^{}]{0,200}\^"  # nested powers 9^{9^9}
    r"|\^\s{0,4}[\w.]{1,40}\s{0,4}\^"  # 9^9^9
    r"|\^\s{0,4}[({][^(){}]{0,200}[\^!]"  # (9^9)^(9^9), 2^{(5!)}
    r"|\^\s{0,4}\{?\s{0,4}\d{4}"  # exponents >= 1000
    r"|[A-Za-z)}\]]\s{0,4}\^\s{0,4}\{?\s{0,4}\d{3}"  # exponents >= 100 on a symbolic base: slow expansion
    r"|\d{4}\s{0,4}!"  # large factorials
    r"|!\s{0,4}!"  # 9!!: sympy reads it as (9!)!
)
_GROUP_FACTORIAL_RE = re.compile(r"[)}\]]\s{0,4}!")
_BINOMIAL_RE = re.compile(r"\\[dt]?binom|\\choose")
_BIG_OPERAND_RE = re.compile(r"\^|!|\*|\\cdot|\\times|\d{3}")


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


def _marker_spans(text: str) -> Iterator[tuple[str, bool]]:
    """(span, is_sentence) candidates in extraction order (rules 1–4 of the module docstring), lazily."""
    for m in _HASHES_RE.finditer(text) if "####" in text else ():
        span = _first_line(text, m.end())
        if not span[:1].isalpha():  # "#### Step 1: …" is a markdown heading
            yield span, True
            break
    boxed = _boxed(text)
    if boxed is not None:
        yield boxed, False
    has_answer_is = "answer" in text.lower()  # skips a slow case-insensitive scan of most texts
    for pattern in (_ANSWER_IS_RE, _ANSWER_LINE_RE):
        m = _last_match(pattern, text) if has_answer_is or pattern is _ANSWER_LINE_RE else None
        if m is not None:
            yield _first_line(text, m.end()), True


def _span_number(span: str) -> str | None:
    """The first number of a span, or the result of the arithmetic chain it opens (`5 + 3 = 8` → 8)."""
    text = clean_latex(span)
    sides = text.split("=")
    if len(sides) > 1 and _ARITH_RE.fullmatch(sides[0]):
        for side in sides[1:]:
            if not _ARITH_RE.fullmatch(side):
                break
        text = side
    m = NUMBER_RE.search(text)
    return canonical_number(m) if m else None


def _last_number(text: str) -> str | None:
    m = _last_match(NUMBER_RE, clean_latex(text[-_TAIL_CHARS:]))
    return canonical_number(m) if m else None


def _math_content(m: re.Match[str]) -> str:
    return m.group(1) if m.group(1) is not None else m.group(2)


def _sentence_answer(span: str) -> str:
    """The answer in a marker sentence (`math`): its last inline math, or the number text after it."""
    pieces: list[tuple[bool, str]] = []  # (is_math, text) up to the first clause end outside math
    pos = 0
    for m in _INLINE_MATH_RE.finditer(span):
        end = _CLAUSE_END_RE.search(span, pos, m.start())
        if end is not None:
            pieces.append((False, span[pos : end.start()]))
            break
        pieces += [(False, span[pos : m.start()]), (True, _math_content(m))]
        pos = m.end()
    else:
        end = _CLAUSE_END_RE.search(span, pos)
        pieces.append((False, span[pos : end.start() if end else len(span)]))
    for is_math, piece in reversed(pieces):
        if is_math and piece.strip():
            return piece
        if not is_math and any(ch.isdigit() for ch in piece):
            return piece[_FILLER_RE.match(piece).end() :]  # type: ignore[union-attr]
    return "".join(piece for _, piece in pieces)


def extract_answer(text: str, style: str = "gsm8k", strict: bool = False) -> str | None:
    """Canonical answer in `text` (rules in the module docstring); None when there is none."""
    _check_style(style)
    for span, is_sentence in _marker_spans(text):
        if style == "gsm8k":
            answer = _span_number(span)
        elif style == "math":
            answer = canonicalize(_sentence_answer(span) if is_sentence else span, style)
        else:
            answer = canonicalize(span, style)
        if answer is not None:
            return answer
    if strict:
        return None
    tail = text[-_TAIL_CHARS:]
    if style == "gsm8k":
        return _last_number(tail)
    if style == "math":
        m = _last_match(_INLINE_MATH_RE, tail)
        return canonicalize(_math_content(m), style) if m else _last_number(tail)
    lines = [line for line in tail.splitlines() if line.strip()]
    return canonicalize(lines[-1], style) if lines else None


def _single_number(s: str) -> str | None:
    matches = list(NUMBER_RE.finditer(clean_latex(s)))
    return canonical_number(matches[0]) if len(matches) == 1 else None


def _noise(m: re.Match[str]) -> str:
    token = m.group()
    if token == "\\\\":
        return token
    return " " if token.isspace() or token[-1] in " ,;:" else ""


def _strip_math(s: str) -> str:
    """LaTeX without spacing commands, outer delimiters, `\\boxed{}` and bold; single spaces kept (they
    separate numbers)."""
    s = _MATH_NOISE_RE.sub(_noise, s)
    previous = None
    while s != previous:  # to a fixpoint, so that canonicalisation is idempotent
        previous = s
        s = s.strip().rstrip(".").strip().strip("*")  # markdown bold around the answer
        box = _BOX_RE.match(s)
        if box is not None and _group_end(s, box.end() - 1) == len(s) - 1:
            s = s[box.end() : -1]
        for delim in _MATH_DELIMS:
            s = s.removeprefix(delim)
            if not s.endswith("\\" + delim):  # \$ is a dollar sign, \\[ no delimiter
                s = s.removesuffix(delim)
    return " ".join(s.split())


def _math_number(s: str, top: bool) -> str | None:
    """Canonical number of `s` (units, `%` and degrees dropped); at the top, also an equation's value."""
    plain = _DEGREES_RE.sub("", clean_latex(s)).strip().rstrip(".").removesuffix("%").strip()
    m = NUMBER_RE.match(plain)
    if m is not None and (m.end() == len(plain) or _UNITS_RE.fullmatch(plain, m.end())):
        return canonical_number(m)
    sides = s.split("=")
    if top and len(sides) > 1 and all(
        _ARITH_RE.fullmatch(clean_latex(side)) or _SYMBOL_RE.fullmatch(side.strip()) for side in sides[:-1]
    ):
        return _math_number(sides[-1], top=False)
    return None


def _depths(s: str) -> Iterator[int]:
    """Bracket depth after each character of `s` (`{([` open, `})]` close, intervals mix them)."""
    depth = 0
    for ch in s:
        depth += (ch in "{([") - (ch in "})]")
        yield depth


def _balanced(s: str) -> bool:
    depth = 0
    for depth in _depths(s):
        if depth < 0:
            return False
    return depth == 0


def _split_top(s: str, sep: str) -> list[str]:
    """`s` split at the `sep`s outside brackets, each part stripped; unsplit when brackets don't balance."""
    if not _balanced(s):
        return [s.strip()]
    parts, start = [], 0
    for i, depth in enumerate(_depths(s)):
        if depth == 0 and i >= start and s.startswith(sep, i):
            parts.append(s[start:i].strip())
            start = i + len(sep)
    parts.append(s[start:].strip())
    return parts


def _group_end(s: str, start: int) -> int:
    """Index of the bracket that closes the one at `start` (any of `{([` / `})]`), or -1."""
    return next((start + i for i, depth in enumerate(_depths(s[start:])) if depth == 0), -1)


def _structure(s: str, depth: int) -> tuple[str, list[str]] | None:
    """(shape, canonical elements) of a matrix, tuple/interval, set or comma list; None for anything else.

    Shapes: `matrix RxC` (elements row by row), `()`, `[]`, `(]`, `[)` (tuples and intervals), `set`
    (`\\{…\\}`) and `list` (bare commas). A lone parenthesised value is not a tuple.
    """
    if depth >= _NEST_DEPTH or not s:
        return None
    m = _MATRIX_RE.fullmatch(s)
    if m is not None:
        rows = [_split_top(row, "&") for row in _split_top(m.group(2), "\\\\")]
        if rows and rows[-1] == [""]:  # a trailing \\
            rows.pop()
        if not rows or len({len(row) for row in rows}) != 1:
            return None
        shape, parts = f"matrix {len(rows)}x{len(rows[0])}", [cell for row in rows for cell in row]
    elif s[:1] in "([" and s[-1:] in ")]" and _group_end(s, 0) == len(s) - 1:
        shape, parts = s[0] + s[-1], _split_top(s[1:-1], ",")
        if len(parts) == 1:
            return None
    elif s.startswith("\\{") and s.endswith("\\}") and _group_end(s, 1) == len(s) - 1:
        shape, parts = "set", _split_top(s[2:-2], ",")
    else:
        shape, parts = "list", _split_top(s, ",")
        if len(parts) == 1:
            return None
    elements = [_canonical_math(part, top=False, depth=depth + 1) for part in parts]
    if any(e is None or not _balanced(e) for e in elements):
        return None
    return shape, elements  # type: ignore[return-value]


def _format_structure(shape: str, elements: list[str]) -> str:
    if shape.startswith("matrix"):
        cols = int(shape.rsplit("x", 1)[1])
        rows = ["&".join(elements[i : i + cols]) for i in range(0, len(elements), cols)]
        return "\\begin{pmatrix}" + "\\\\".join(rows) + "\\end{pmatrix}"
    body = ", ".join(elements)
    if shape == "list":
        return body
    if shape == "set":
        return "\\{" + body + "\\}"
    return shape[0] + body + shape[1]


def _canonical_math(s: str, top: bool = True, depth: int = 0) -> str | None:
    """Plain numbers as in `gsm8k`; structures rebuilt from canonical elements; other LaTeX without
    spacing, delimiters and trailing period."""
    s = _strip_math(s)
    if not s:
        return None
    number = _math_number(s, top)
    if number is not None:
        return number
    parenthesised = s[:1] + s[-1:] == "()" and _group_end(s, 0) == len(s) - 1
    if parenthesised and depth < _NEST_DEPTH and len(_split_top(s[1:-1], ",")) == 1:  # a value, not a tuple
        return _canonical_math(s[1:-1], top, depth + 1)
    structure = _structure(s, depth)
    if structure is not None:
        return _format_structure(*structure)
    squeezed = _SQUEEZE_RE.sub(lambda m: m.group(1) or "", s)
    if squeezed != s and (number := _math_number(squeezed, top)) is not None:
        return number  # ". 5" squeezes to the number ".5"
    return squeezed.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac") or None


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


def judge_answer(pred: str | None, gold: str, style: str = "gsm8k") -> Verdict:
    """The verdict on `pred` against `gold` (canonical or a raw dataset field); an unparsable gold is
    never matched. Deterministic; UNDECIDED only for a `math` pair left unchecked (module docstring)."""
    _check_style(style)
    if pred is None:
        return Verdict.WRONG
    canon_gold, canon_pred = parse_gold(gold, style), canonicalize(pred, style)
    if canon_gold is None or canon_pred is None:
        return Verdict.WRONG
    if canon_gold == canon_pred:
        return Verdict.CORRECT
    if style != "math":
        return Verdict.WRONG
    exact = _exact_math_verdict(canon_gold, canon_pred)
    if exact is not None:
        return Verdict.CORRECT if exact else Verdict.WRONG
    return _math_verify_verdict(canon_gold, canon_pred)


def check_answer(pred: str | None, gold: str, style: str = "gsm8k") -> bool:
    """True when `pred` equals `gold` (`judge_answer` says CORRECT); undecided pairs are not correct."""
    return judge_answer(pred, gold, style) is Verdict.CORRECT


def _is_number(s: str) -> bool:
    m = NUMBER_RE.fullmatch(s)
    return m is not None and canonical_number(m) == s


def _shape(canonical: str) -> tuple[str, list[str]]:
    """(shape, elements) of a canonical math string: `number`, a `_structure` shape, or `text`."""
    if _is_number(canonical):
        return "number", [canonical]
    return _structure(canonical, 0) or ("text", [canonical])


def _exact_math_verdict(gold: str, pred: str) -> bool | None:
    """Decide two different canonical strings our own parser fully understands; None: ask math-verify."""
    (gold_shape, gold_elements), (pred_shape, pred_elements) = _shape(gold), _shape(pred)
    numeric = all(_is_number(e) for e in gold_elements + pred_elements)
    if gold_shape == pred_shape == "number":
        return False
    if "number" in (gold_shape, pred_shape) and numeric:
        structure = pred_elements if gold_shape == "number" else gold_elements
        if len(set(structure)) > 1:
            return False  # a number is no tuple, list or matrix of two or more distinct numbers
    if {gold_shape, pred_shape} <= {"set", "list"}:
        return True if set(gold_elements) == set(pred_elements) else (False if numeric else None)
    if gold_shape != pred_shape or gold_shape == "text" or len(gold_elements) != len(pred_elements):
        return None
    differing = [(g, p) for g, p in zip(gold_elements, pred_elements) if g != p]
    return False if all(_is_number(g) and _is_number(p) for g, p in differing) else None


def _too_costly(s: str) -> bool:
    """Inputs sympy could hang on: long, towers of powers or factorials, huge arguments (docstring)."""
    if len(s) > _MATH_CHARS or _RISKY_MATH_RE.search(s):
        return True
    if _GROUP_FACTORIAL_RE.search(s) and (s.count("!") > 1 or _BIG_OPERAND_RE.search(s.replace("!", ""))):
        return True  # (10^9)!, (5!)!
    return _BINOMIAL_RE.search(s) is not None and _BIG_OPERAND_RE.search(s) is not None


@functools.cache
def _math_verifier() -> MathVerifier:
    """The process's math-verify worker client (its process starts at the first check)."""
    from alft_cli._math_worker import MathVerifier

    return MathVerifier(MATH_TIMEOUT_S)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _math_verify_verdict(gold: str, pred: str) -> Verdict:
    """math-verify's verdict on two canonical strings, under the input guard and the worker's limit."""
    if _too_costly(gold) or _too_costly(pred):
        return Verdict.UNDECIDED
    verdict = _math_verifier().verify(gold, pred)
    if verdict is None:
        return Verdict.UNDECIDED
    return Verdict.CORRECT if verdict else Verdict.WRONG
