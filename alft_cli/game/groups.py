"""Group handling: validation, answer counts, histograms, modes, agreement, the unparsed rule, logging stats.

A prompt's samples arrive as ``groups``: one list per prompt variant, each a list of canonical answer
strings or ``None`` (unparsed). Unparsed answers count towards the group size G but never enter a
histogram, a Target, a vote or a consensus.

The tie rule, one for the whole project: a majority vote whose top count is shared by k answers (its
``modes``) gives each of them 1/k of the vote, the expected outcome of a uniformly random tie-break.
The majority reward and consensus (``alft_cli.game``), maj@k (``alft_cli.metrics``), eval's
cross-variant coherence (``alft_cli.scoring``) and the training log (``alft_cli.rewards``) all use it,
through ``modes``, ``split_vote`` and ``agreement`` below.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

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


def entropy(c: Mapping[str, float]) -> float:
    """Shannon entropy (nats) of the distribution proportional to the counts ``c`` (0 when empty)."""
    total = sum(c.values())
    return -sum(n / total * math.log(n / total) for n in c.values() if n) if total else 0.0


def modes(c: Mapping[str, float]) -> list[str]:
    """The tie set: every answer with the highest count (or weight), sorted; empty when there is none."""
    if not c:
        return []
    top = max(c.values())
    return sorted(z for z, n in c.items() if n == top)


def split_vote(top: Collection[str], correct: Collection[str]) -> float:
    """Accuracy of a majority vote whose tied modes ``top`` split the vote evenly: the share of them in
    ``correct`` (0 without a mode)."""
    return sum(z in correct for z in top) / len(top) if top else 0.0


def agreement(tops: Sequence[Collection[str]]) -> float:
    """Expected share of variant pairs whose majority answers agree, ties split.

    ``tops[j]`` is variant j's tie set (``modes``); a pair with tie sets A and B agrees with probability
    |A ∩ B| / (|A|·|B|), and a variant with no parsed answer (empty set) agrees with nothing.
    """
    if len(tops) < 2:
        raise ValueError(f"agreement needs >= 2 variants, got {len(tops)}")
    sets = [set(t) for t in tops]
    pairs = [(a, b) for i, a in enumerate(sets) for b in sets[i + 1 :]]
    return sum(len(a & b) / (len(a) * len(b)) for a, b in pairs if a and b) / len(pairs)


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
    majority_share: pooled mode count / parsed samples; unparsed_rate: unparsed / all samples; and, with
    two or more variants, agreement: the ``agreement`` of the variants' majority answers (eval's ``agreement``).
    """
    groups = check_groups(groups)
    pooled = Counter()
    for group in groups:
        pooled.update(counts(group))
    total = sum(len(g) for g in groups)
    parsed = sum(pooled.values())
    stats = {
        "answer_entropy": entropy(pooled),
        "n_distinct": float(len(pooled)),
        "majority_share": max(pooled.values()) / parsed if parsed else 0.0,
        "unparsed_rate": (total - parsed) / total if total else 0.0,
    }
    if len(groups) > 1:
        stats["agreement"] = agreement([modes(counts(g)) for g in groups])
    return stats
