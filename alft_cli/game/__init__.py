"""The answer-level game core (pure numpy / scipy): objectives, Target projections, estimators.

``get_objective(name, **params)`` builds an :class:`Objective`; ``group_stats`` summarises groups for
logging. ``alft_cli.game.tabular`` verifies it all on enumerable problems; docs/method.md has the math.
"""

from __future__ import annotations

from typing import Any

from .base import Objective
from .groups import group_stats
from .multivariant import Coherence, FairnessConstraint, Pairwise, SafetyConstraint
from .objectives import Correctness, Entropy, Gini, Majority, Match, Random, Sharpen

_CLASSES: dict[str, type[Objective]] = {
    cls.name: cls
    for cls in (Correctness, Entropy, Gini, Sharpen, Majority, Match, Coherence, Pairwise, SafetyConstraint,
                FairnessConstraint, Random)
}
OBJECTIVES: tuple[str, ...] = tuple(_CLASSES)


def objective_class(name: str) -> type[Objective]:
    """The class of objective ``name``; ValueError naming the allowed ones."""
    if name not in _CLASSES:
        raise ValueError(f"unknown objective {name!r}; allowed: {', '.join(OBJECTIVES)}")
    return _CLASSES[name]


def get_objective(name: str, **params: Any) -> Objective:
    """Build the objective ``name``; unknown names or parameters raise a ValueError naming the allowed ones."""
    cls = objective_class(name)
    allowed = cls.parameters()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}")
    try:
        return cls(**params)
    except TypeError as err:  # a required parameter is missing
        raise ValueError(f"{name}: {err}; allowed: {', '.join(allowed)}") from None


__all__ = ["OBJECTIVES", "Objective", "get_objective", "group_stats", "objective_class"]
