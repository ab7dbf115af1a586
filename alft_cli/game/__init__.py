"""The answer-level game core (pure numpy / scipy): objectives, Target projections, estimators.

``get_objective(name, **params)`` builds an :class:`Objective`; ``group_stats`` summarises groups for
logging. ``alft_cli.game.tabular`` verifies it all on enumerable problems; docs/method.md has the math.
"""

from __future__ import annotations

import inspect
from typing import Any

from .base import Objective
from .groups import group_stats
from .multivariant import Coherence, FairnessConstraint, Pairwise, SafetyConstraint
from .objectives import Correctness, Entropy, Gini, Majority, Match, Random, Sharpen

_CLASSES: dict[str, type[Objective]] = {
    cls.name: cls
    for cls in (Correctness, Entropy, Gini, Sharpen, Majority, Match, Coherence, Pairwise, Random)
}
_CONSTRAINTS: dict[str, type[Objective]] = {"safety": SafetyConstraint, "fairness": FairnessConstraint}
OBJECTIVES: tuple[str, ...] = (*_CLASSES, "constraint")


def _params(cls: type[Objective]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def get_objective(name: str, **params: Any) -> Objective:
    """Build the objective ``name``; unknown names or parameters raise a ValueError naming the allowed ones.

    ``constraint`` takes ``kind: safety | fairness`` (default safety) and that kind's parameters.
    """
    if name == "constraint":
        kind = params.pop("kind", "safety")
        if kind not in _CONSTRAINTS:
            raise ValueError(f"constraint: kind {kind!r} not allowed; allowed: {', '.join(_CONSTRAINTS)}")
        cls = _CONSTRAINTS[kind]
    elif name in _CLASSES:
        cls = _CLASSES[name]
    else:
        raise ValueError(f"unknown objective {name!r}; allowed: {', '.join(OBJECTIVES)}")
    allowed = _params(cls)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        extra = ["kind"] if name == "constraint" else []
        raise ValueError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(extra + allowed)}"
        )
    try:
        return cls(**params)
    except TypeError as err:  # a required parameter is missing
        raise ValueError(f"{name}: {err}; allowed: {', '.join(allowed)}") from None


__all__ = ["OBJECTIVES", "Objective", "get_objective", "group_stats"]
