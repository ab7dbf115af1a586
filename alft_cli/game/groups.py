"""Group handling: validation, answer counts, histograms, the unparsed-answer rule, logging stats.

A prompt's samples arrive as ``groups``: one list per prompt variant, each a list of canonical answer
strings or ``None`` (unparsed). Unparsed answers count towards the group size G but never enter a
histogram, a Target or a consensus.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Groups = Sequence[Sequence[str | None]]


def check_groups(groups: Groups) -> list[list[str | None]]:
    """Validate ``groups`` and return them as lists; one-line ValueError otherwise."""
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise ValueError("groups: expected a list of variants, each a list of answers")  # noqa: TRY004
    out = []
    for j, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence):
            kind = type(group).__name__
            raise ValueError(f"groups[{j}]: expected a list of str/None answers, got {kind}")  # noqa: TRY004
        for i, z in enumerate(group):
            if z is not None and not isinstance(z, str):
                raise ValueError(f"groups[{j}][{i}]: answers must be str or None, got {type(z).__name__}")
        out.append(list(group))
    return out


def counts(group: Sequence[str | None]) -> Counter:
    """Counts of the parsed answers of one group."""
    return Counter(z for z in group if z is not None)


def histogram(group: Sequence[str | None]) -> dict[str, float]:
    """Empirical distribution of the parsed answers (empty when nothing parsed)."""
    c = counts(group)
    total = sum(c.values())
    return {z: n / total for z, n in sorted(c.items())}


def modes(c: Counter) -> list[str]:
    """All answers with the highest count, sorted (empty for an empty counter)."""
    if not c:
        return []
    top = max(c.values())
    return sorted(z for z, n in c.items() if n == top)


def union_answers(groups: Groups) -> list[str]:
    """Sorted union of the parsed answers of all variants."""
    return sorted({z for group in groups for z in group if z is not None})


def apply_unparsed(
    group: Sequence[str | None], values: Sequence[float | None], penalty: float
) -> list[float]:
    """Give each unparsed sample the group's lowest parsed reward minus ``penalty``."""
    parsed = [v for z, v in zip(group, values) if z is not None]
    floor = float(min(parsed) if parsed else 0.0) - penalty
    return [float(v) if z is not None else floor for z, v in zip(group, values)]


def group_stats(groups: Groups) -> dict[str, float]:
    """Logging statistics of one prompt's groups (all variants pooled where it says so).

    answer_entropy: entropy (nats) of the pooled parsed histogram; n_distinct: distinct parsed answers;
    majority_share: pooled mode count / parsed samples; agreement: fraction of variants whose mode set
    contains the pooled mode (first in sort order among ties); unparsed_rate: unparsed / all samples.
    """
    groups = check_groups(groups)
    pooled = Counter()
    for group in groups:
        pooled.update(counts(group))
    total = sum(len(g) for g in groups)
    parsed = sum(pooled.values())
    entropy = -sum(n / parsed * math.log(n / parsed) for n in pooled.values()) if parsed else 0.0
    top = modes(pooled)
    agree = [bool(top) and top[0] in modes(counts(g)) for g in groups]
    return {
        "answer_entropy": float(entropy),
        "n_distinct": float(len(pooled)),
        "majority_share": pooled[top[0]] / parsed if parsed else 0.0,
        "agreement": sum(agree) / len(groups) if groups else 0.0,
        "unparsed_rate": (total - parsed) / total if total else 0.0,
    }
