"""Task-preserving prompt transformations for coherence objectives (pure stdlib).

A transform rewrites a question so that its answer stays the same (docs/method.md, "Coherence across
transformations"). Each one is conservative: when it cannot rewrite a question safely it returns
the question unchanged, never a different task. Select transforms by name (``TRANSFORMS``,
``get_transform``; ``"a+b"`` composes left to right) and build a prompt's variants with
``make_variants``. ``evaluate_arithmetic`` is a safe (no ``eval``) exact evaluator used to check
that arithmetic rewrites keep their value.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

# ---------------------------------------------------------------- safe arithmetic
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([-+*/()×÷]))")


def evaluate_arithmetic(expr: str) -> Fraction:
    """Exact value of ``expr`` (numbers, + - * / × ÷, parentheses, unary minus); ValueError if malformed."""
    tokens: list[str] = []
    pos, expr = 0, expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"unexpected character in arithmetic expression: {expr[pos:]!r}")
        tokens.append(m.group(1) or {"×": "*", "÷": "/"}.get(m.group(2), m.group(2)))
        pos = m.end()
    value, end = _parse_sum(tokens, 0)
    if end != len(tokens):
        raise ValueError(f"trailing tokens in arithmetic expression: {expr!r}")
    return value


def _parse_sum(tokens: list[str], i: int) -> tuple[Fraction, int]:
    value, i = _parse_product(tokens, i)
    while i < len(tokens) and tokens[i] in "+-":
        rhs, j = _parse_product(tokens, i + 1)
        value, i = (value + rhs if tokens[i] == "+" else value - rhs), j
    return value, i


def _parse_product(tokens: list[str], i: int) -> tuple[Fraction, int]:
    value, i = _parse_unary(tokens, i)
    while i < len(tokens) and tokens[i] in "*/":
        rhs, j = _parse_unary(tokens, i + 1)
        if tokens[i] == "/" and rhs == 0:
            raise ValueError("division by zero")
        value, i = (value * rhs if tokens[i] == "*" else value / rhs), j
    return value, i


def _parse_unary(tokens: list[str], i: int) -> tuple[Fraction, int]:
    if i >= len(tokens):
        raise ValueError("arithmetic expression ends early")
    tok = tokens[i]
    if tok in "+-":
        value, j = _parse_unary(tokens, i + 1)
        return (-value if tok == "-" else value), j
    if tok == "(":
        value, j = _parse_sum(tokens, i + 1)
        if j >= len(tokens) or tokens[j] != ")":
            raise ValueError("unbalanced parentheses")
        return value, j + 1
    if tok[0].isdigit():
        return Fraction(tok), i + 1
    raise ValueError(f"unexpected token {tok!r}")


# ---------------------------------------------------------------- arithmetic questions
# Templates of pure arithmetic questions ({e} is the expression, kept verbatim by paraphrase);
# the first is reasoning-gym's chain_sum, the fourth its basic_arithmetic.
ARITHMETIC_TEMPLATES: tuple[str, ...] = (
    "State the final answer to the following arithmetic problem: {e} =",
    "Compute {e}. Give only the final number.",
    "What is {e}? Answer with a single number.",
    "Calculate {e}.",
    "Evaluate the expression {e} and state the result.",
    "{e} = ?",
)
_TEMPLATE_RES = tuple(
    re.compile(r"\s*" + re.escape(t).replace(re.escape("{e}"), r"(?P<e>.+?)") + r"\s*") for t in ARITHMETIC_TEMPLATES
)
_FLAT_CHAIN = re.compile(r"-?\d+(?:\.\d+)?(?: [-+] -?\d+(?:\.\d+)?)+")


def _match_arithmetic(question: str) -> tuple[int, str] | None:
    """(template index, expression) when ``question`` is a known arithmetic template, else None."""
    for idx, pattern in enumerate(_TEMPLATE_RES):
        m = pattern.fullmatch(question)
        if m and re.search(r"\d", m["e"]):
            try:
                evaluate_arithmetic(m["e"])
            except ValueError:
                continue
            return idx, m["e"]
    return None


# ---------------------------------------------------------------- the Transform type
@dataclass(frozen=True)
class Transform:
    """A named task-preserving rewrite; ``preserves`` says what it keeps."""

    name: str
    preserves: str
    fn: Callable[[str, random.Random], str]

    def apply(self, question: str, rng: random.Random) -> str:
        """Rewritten question (unchanged when the transform does not apply safely)."""
        return self.fn(question, rng)


def _identity(question: str, rng: random.Random) -> str:
    return question


# ---------------------------------------------------------------- paraphrase
_WRAPPERS: tuple[str, ...] = (
    "Solve the following problem.\n\n{q}",
    "Answer the question below.\n\n{q}",
    "Here is a problem for you to solve.\n\n{q}",
    "Problem: {q}",
)


def _paraphrase(question: str, rng: random.Random) -> str:
    """Arithmetic: another template around the same expression; otherwise an instruction prefix."""
    found = _match_arithmetic(question)
    if found:
        idx, expr = found
        others = [t for i, t in enumerate(ARITHMETIC_TEMPLATES) if i != idx]
        return rng.choice(others).format(e=expr)
    if not question.strip():
        return question
    return rng.choice(_WRAPPERS).format(q=question)


# ---------------------------------------------------------------- reorder
def _reorder_chain(expr: str, rng: random.Random) -> str:
    """Permute the signed terms of a flat +/- chain, keeping a '+' term first; value checked."""
    if not _FLAT_CHAIN.fullmatch(expr):
        return expr
    parts = expr.split(" ")
    terms = [("+", parts[0])] + list(zip(parts[1::2], parts[2::2]))
    for _ in range(20):
        perm = terms[:]
        rng.shuffle(perm)
        if perm[0][0] == "-":
            swap = rng.choice([i for i, (sign, _) in enumerate(perm) if sign == "+"])
            perm[0], perm[swap] = perm[swap], perm[0]
        new = " ".join([perm[0][1]] + [f"{sign} {num}" for sign, num in perm[1:]])
        if new != expr:
            return new if evaluate_arithmetic(new) == evaluate_arithmetic(expr) else expr
    return expr


_SENT_SPLIT = re.compile(r"(?<=[.!?])(\s+)(?=[A-Z$\d])")
# Abbreviations or quotes make sentence boundaries unreliable: such questions are left alone.
_UNSAFE_TEXT = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|etc|vs|No|[ap]\.m|[A-Z])\.|[\"“”]|\n")
# Words that make a sentence depend on its neighbours (back-references, time order, comparisons).
_DEPENDENT = re.compile(
    r"\b(?:he|she|it|they|him|her|his|hers|its|their|theirs|them|this|that|these|those|then|rest|"
    r"remaining|remains|left|remainder|other|others|another|also|too|after|afterwards|before|later|"
    r"next|now|first|second|third|last|finally|again|still|already|more|fewer|less|than|as|same|"
    r"twice|half|double|triple|times|total|instead|both|such|there|so|but|however|former|"
    r"latter|respectively|previous|initially|originally|if|when|while|until|since)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")
_DEFINITE = re.compile(r"\b(?:the|these|those)\s+(\w+(?:\s+\w+)?)", re.IGNORECASE)


def _independent(sentence: str) -> bool:
    return bool(re.search(r"\d", sentence)) and not _DEPENDENT.search(sentence)


_FUNCTION_WORDS = {"and", "are", "but", "can", "for", "had", "has", "have", "per", "the", "was", "were", "with"}


def _stems(text: str) -> set[str]:
    words = (w.lower() for w in re.findall(r"\w{3,}", text))
    return {w.rstrip("s") for w in words if w not in _FUNCTION_WORDS}


def _swappable(a: str, b: str) -> bool:
    """Two independent premises about different named entities, neither naming (the X) the other's X."""
    caps_a, caps_b = _CAPITALISED.findall(a), _CAPITALISED.findall(b)
    stems_a, stems_b = _stems(a), _stems(b)
    return (
        _independent(a)
        and _independent(b)
        and caps_a[:1] != caps_b[:1]
        and not set(caps_a[1:]) & set(caps_b)
        and not set(caps_b[1:]) & set(caps_a)
        and not _stems(" ".join(_DEFINITE.findall(a))) & stems_b
        and not _stems(" ".join(_DEFINITE.findall(b))) & stems_a
    )


def _reorder(question: str, rng: random.Random) -> str:
    """Arithmetic: permute terms of a +/- chain. Word problems: swap two independent premises."""
    found = _match_arithmetic(question)
    if found:
        idx, expr = found
        new = _reorder_chain(expr, rng)
        return question if new == expr else ARITHMETIC_TEMPLATES[idx].format(e=new)
    if _UNSAFE_TEXT.search(question):
        return question
    pieces = _SENT_SPLIT.split(question)  # sentences at even, separators at odd positions
    sentences = pieces[::2]
    # the last sentence (the question) never moves
    candidates = [i for i in range(len(sentences) - 2) if _swappable(sentences[i], sentences[i + 1])]
    if not candidates:
        return question
    i = rng.choice(candidates)
    pieces[2 * i], pieces[2 * i + 2] = pieces[2 * i + 2], pieces[2 * i]
    return "".join(pieces)


# ---------------------------------------------------------------- rename
# Common first names of GSM8K-style problems, by pronoun; names that are also ordinary words,
# months or places (Mark, Bill, May, Rose, Jordan, Austin, Eve, ...) are deliberately absent.
_FEMALE = (
    "Mary", "Sarah", "Martha", "Sally", "Jane", "Carla", "Anna", "Lisa", "Janet", "Jill", "Jenny", "Julia",
    "Emily", "Betty", "Karen", "Susan", "Maria", "Amy", "Rachel", "Tina", "Lucy", "Alice", "Kelly",
    "Jessica", "Jenna", "Amanda", "Annie", "Anne", "Beth", "Julie", "Kate", "Monica", "Hannah", "Emma",
    "Megan", "Cindy", "Mandy", "Sara", "Kylie", "Madeline", "Nancy", "Samantha", "Gina", "Carrie", "Kayla",
    "Katie", "Kendra", "Ella", "Angela", "Brittany", "Dorothy", "Sandra", "Dora", "Becky", "Janice",
    "Stephanie", "Nicole", "Erin", "Clara", "Jennifer", "Haley", "Elsa", "Michelle", "Peggy", "Polly",
    "Erica", "Ashley", "Sharon", "Tanya", "Claire", "Wendy", "Sophie", "Stacy", "Tara", "Brenda", "Rebecca",
    "Veronica", "Donna", "Diane", "Tiffany", "Barbara", "Naomi", "Brianna", "Andrea", "Carly", "Melissa",
    "Helen", "Bella", "Linda", "Rita", "Laura", "Allison", "Kristin", "Maggie", "Marie", "Beatrice",
    "Harriet", "Elizabeth", "Ava", "Ellen", "Greta", "Bethany", "Molly", "Pauline", "Mabel", "Sabrina",
    "Cathy", "Fiona", "Nina", "Jasmine", "Maya", "Olivia", "Sophia"
)
_MALE = (
    "John", "James", "Tom", "Mike", "Peter", "Harry", "Jason", "Joe", "Jerry", "Jim", "Billy", "Matt",
    "Paul", "Ben", "Steve", "Michael", "Jake", "Carl", "Tony", "Andrew", "Jacob", "Kevin", "Jimmy", "Adam",
    "Ryan", "Brian", "Tim", "Robert", "David", "Greg", "Fred", "Kyle", "Josh", "Andy", "George", "Marcus",
    "Jeff", "Ken", "Gerald", "Bobby", "Dave", "Rick", "Leo", "Henry", "Joey", "Daniel", "Patrick", "Randy",
    "Carlos", "Ali", "Aaron", "Tommy", "Joseph", "Johnny", "Thomas", "Oliver", "Brad", "Pete", "Roger",
    "William", "Richard", "Simon", "Jeremy", "Ted", "Lucas", "Luke", "Bruce", "Juan", "Gary", "Anthony",
    "Alan", "Caleb", "Brandon", "Jerome", "Ron", "Tyler", "Diego", "Barry", "Samuel", "Jose", "Neil",
    "Toby", "Trevor", "Albert", "Phil", "Connor", "Sean", "Noah", "Timothy", "Larry", "Justin", "Maurice",
    "Raymond", "Nick", "Arthur", "Boris", "Stan", "Ralph", "Mario", "Derek", "Kenny", "Ivan", "Hank",
    "Kenneth", "Nathan", "Charles", "Freddy", "Ernie", "Zack", "Matthew", "Marco", "Jon", "Gabriel",
    "Ahmed", "Harold", "Nate", "Craig", "Hans", "Eric", "Bert", "Zachary", "Danny", "Benjamin", "Shane"
)
_NEUTRAL = (
    "Alex", "Sam", "Chris", "Jamie", "Casey", "Taylor", "Jessie", "Charlie", "Morgan", "Riley", "Kris",
    "Sasha", "Dana", "Tracy"
)
_NAME_POOL = {name: pool for pool in (_FEMALE, _MALE, _NEUTRAL) for name in pool}
# A listed name right after one of these is a surname or a place ("Mr. Jones", "San Diego"): kept.
_NAME_BLOCKERS = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Miss|Mister|San|Santa|St|Saint|Lake|Mount|Fort|Port|Cape)\.?\s+$")


def _rename(question: str, rng: random.Random) -> str:
    """Replace every listed first name consistently by an unused name of the same pronoun class."""
    found = [m for m in re.finditer(r"\b[A-Z][a-z]+\b", question) if m[0] in _NAME_POOL]
    blocked = {m[0] for m in found if _NAME_BLOCKERS.search(question[: m.start()])}
    names = sorted({m[0] for m in found} - blocked, key=question.index)
    taken = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    mapping: dict[str, str] = {}
    for name in names:
        choices = [c for c in _NAME_POOL[name] if c.lower() not in taken]
        if not choices:
            continue
        mapping[name] = rng.choice(choices)
        taken.add(mapping[name].lower())
    if not mapping:
        return question
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, mapping)) + r")\b")
    return pattern.sub(lambda m: mapping[m[0]], question)


# ---------------------------------------------------------------- numfmt
_NUMBER_WORD_LIST = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                     "eleven", "twelve")
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_NUMBER_WORD_LIST)}
_WORDY = {w: v for w, v in NUMBER_WORDS.items() if 2 <= v <= 12}  # "one"/"zero" are too ambiguous
_INT = re.compile(r"(?<![\w.,:/])(\d{1,3}(?:,\d{3})+|\d+)(?![\w%:/\-°]|[.,]\d)")
_WORD_RE = re.compile(r"(?<![\w\-])(" + "|".join(_WORDY) + r")(?![\w\-])", re.IGNORECASE)
_MONTHS = "January February March April May June July August September October November December"
_NO_WORD_BEFORE = re.compile(r"(?:[$#+*/×=<>]|\b(?:" + _MONTHS.replace(" ", "|") + r"|x))\s*$")
_NO_WORD_AFTER = re.compile(r"^\s*(?:[+*/×=<>]|x\b|[ap]\.?m\b|o['’]clock|%)", re.IGNORECASE)
_NO_DIGIT_AFTER = re.compile(r"^\s*(?:hundred|thousand|million|billion)\b", re.IGNORECASE)


def _numfmt_candidates(question: str, prose: bool) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for every number whose format can change without changing its value."""
    out: list[tuple[int, int, str]] = []
    for m in _INT.finditer(question):
        text, start, end = m[1], m.start(1), m.end(1)
        value = int(text.replace(",", ""))
        before, after = question[:start], question[end:]
        if (prose and before.endswith("-")) or (len(text) > 1 and text[0] == "0"):
            continue  # hyphenated words, ranges, codes with leading zeros
        if "," in text:
            out.append((start, end, str(value)))
        elif value >= 1000 and not (prose and 1900 <= value <= 2100 and not before.endswith("$")):
            out.append((start, end, f"{value:,}"))  # 1900-2100 may be a year: only as money
        elif prose and 2 <= value <= 12:
            if _NO_WORD_BEFORE.search(before) or _NO_WORD_AFTER.search(after):
                continue
            word = next(w for w, v in _WORDY.items() if v == value)
            at_start = not before.strip() or re.search(r"[.!?]\s+$", before)
            out.append((start, end, word.capitalize() if at_start else word))
    if prose:
        for m in _WORD_RE.finditer(question):
            if not _NO_DIGIT_AFTER.search(question[m.end():]):
                out.append((m.start(), m.end(), str(_WORDY[m[1].lower()])))
    return sorted(out)


def _numfmt(question: str, rng: random.Random) -> str:
    """Flip a random non-empty subset of the safe number formats (digits/words, thousands commas)."""
    found = _match_arithmetic(question)
    cands = _numfmt_candidates(question, prose=found is None)
    if not cands:
        return question
    chosen = [c for c in cands if rng.random() < 0.5] or [rng.choice(cands)]
    for start, end, repl in reversed(chosen):
        question = question[:start] + repl + question[end:]
    return question


# ---------------------------------------------------------------- registry
TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("identity", "everything: the question is returned unchanged", _identity),
        Transform(
            "paraphrase",
            "the expression of arithmetic questions (only the instruction template changes) and the full "
            "text of other questions (an instruction sentence is prefixed)",
            _paraphrase,
        ),
        Transform(
            "reorder",
            "the value of +/- chains (signed terms permuted, a '+' term first) and every sentence of word "
            "problems (two adjacent premises with numbers and no back-references swapped; question last)",
            _reorder,
        ),
        Transform(
            "rename",
            "all text except listed first names, each replaced everywhere (possessives included) by an "
            "unused name of the same pronoun class; surnames and place names are kept",
            _rename,
        ),
        Transform(
            "numfmt",
            "every number's value: thousands separators added/removed (not for possible years), and in "
            "word problems integers 2-12 as words or words as digits (never decimals, times, dates, money, "
            "percentages, hyphenated words or operands of operators)",
            _numfmt,
        ),
    )
}


def get_transform(name: str) -> Transform:
    """The transform called ``name``; ``"a+b"`` applies ``a`` then ``b``. ValueError if unknown."""
    parts = name.split("+")
    unknown = [p for p in parts if p not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transform {unknown[0]!r}; allowed: {', '.join(TRANSFORMS)} (or 'a+b')")
    if len(parts) == 1:
        return TRANSFORMS[name]
    steps = [TRANSFORMS[p] for p in parts]

    def composed(question: str, rng: random.Random) -> str:
        for step in steps:
            question = step.apply(question, rng)
        return question

    return Transform(name, "; ".join(f"{s.name}: {s.preserves}" for s in steps), composed)


def make_variants(question: str, names: Sequence[str], seed: int, tries: int = 8) -> list[str]:
    """One rewritten question per name, in order; deterministic given (question, names, seed).

    Each variant draws from its own random stream, keyed by (seed, name, repetition, question). A variant
    that repeats an earlier one is drawn again from up to ``tries - 1`` further streams and the first
    distinct rewrite is kept, so the m prompts of a problem are distinct wherever the transforms allow it
    (``[identity, paraphrase, paraphrase, paraphrase]`` gives 4 templates of an arithmetic question);
    a transform that cannot change the question (``identity``, a no-op rewrite) stays a repeat.
    """
    transforms = [get_transform(n) for n in names]
    seen: dict[str, int] = {}
    out: list[str] = []
    for name, transform in zip(names, transforms):
        rep = seen.get(name, 0)
        seen[name] = rep + 1
        first = None
        for attempt in range(tries):
            key = f"{seed}\0{name}\0{rep}\0{question}" + (f"\0{attempt}" if attempt else "")
            rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
            variant = transform.apply(question, rng)
            first = variant if first is None else first
            if variant not in out:
                break
        out.append(variant if variant not in out else first)
    return out
