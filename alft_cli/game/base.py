"""The Objective base class (parameters, the unparsed rule, the optimum wrapper) and the estimator bases.

An objective is an answer-level functional Ψ with three faces:
- ``rewards(groups, ...)``: per-sample rewards from sampled groups (what the trainer uses);
- ``target(groups)``: the Target's best response from the group histograms (for logging);
- ``optimum(nu_ref, beta, ...)``: the exact ν* = argmax aw·Ψ(ν) + cw·⟨R, ν⟩ - β KL(ν ‖ ν_ref).
And, on exact distributions (arrays over a sorted answer list ``labels``), ``reward_field`` (the
answer-level reward when the Target best-responds to ν; ∇Ψ up to constants) and ``potential`` (Ψ), which
the tabular simulator uses. Mixing with correctness is a tilt of the reference:
⟨cw·R, ν⟩ - β KL(ν ‖ ν_ref) = -β KL(ν ‖ ν_ref·e^{cw·R/β}) + const, and dividing by aw maps β to β/aw.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from .estimators import DEFAULT_MAX_ABS, cached_table, own_share
from .groups import Groups, apply_unparsed, check_groups, histogram
from .solvers import tilt

Distribution = Mapping[str, float]


def _as_distribution(nu: Distribution, what: str) -> dict[str, float]:
    if not isinstance(nu, Mapping) or not nu:
        raise ValueError(f"{what}: expected a non-empty mapping answer -> probability")
    out = {}
    for z, p in nu.items():
        if not isinstance(z, str):
            raise ValueError(f"{what}: answers must be str, got {z!r}")  # noqa: TRY004 (user input)
        if not (isinstance(p, (int, float)) and math.isfinite(p) and p >= 0):
            raise ValueError(f"{what}[{z!r}]: probabilities must be finite and >= 0, got {p!r}")
        out[z] = float(p)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what}: probabilities must sum to 1, got {total:.6g}")
    return {z: p / total for z, p in out.items()}


class Objective:
    """Base class; subclasses set ``name`` and implement the answer-level hooks.

    Constructor parameters are keyword-only; a subclass ``__init__`` takes its own and passes ``**common``
    on, and ``parameters()`` lists them all (the objective config reader rejects any other key).
    """

    name: ClassVar[str] = ""
    multi_variant: ClassVar[bool] = False

    def __init__(self, *, unparsed_penalty: float = 1.0):
        if not (isinstance(unparsed_penalty, (int, float)) and math.isfinite(unparsed_penalty)
                and unparsed_penalty >= 0):
            raise ValueError(f"{self.name}: unparsed_penalty must be finite and >= 0, got {unparsed_penalty!r}")
        self.unparsed_penalty = float(unparsed_penalty)

    @classmethod
    def parameters(cls) -> tuple[str, ...]:
        """The constructor's keyword parameters, gathered up the class hierarchy through ``**common``."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if init is None:
                continue
            params = inspect.signature(init).parameters.values()
            names += [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in names]
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return tuple(names)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"

    # ----- sample level ---------------------------------------------------------------------------
    def _variant_rewards(self, group: list[str | None]) -> list[float | None]:
        """Answer-level reward of each parsed sample of one group (None for unparsed samples)."""
        raise NotImplementedError

    def _answer_rewards(self, groups: list[list[str | None]]) -> list[list[float | None]]:
        return [self._variant_rewards(g) for g in groups]

    def target(self, groups: Groups) -> list[dict[str, float]]:
        """The Target's best response per variant (default: the parsed histogram)."""
        return [histogram(g) for g in check_groups(groups)]

    def rewards(self, groups: Groups, correct: Sequence[Sequence[float]] | None = None) -> list[list[float]]:
        """The answer-level reward r_q per sample; unparsed samples get the group's lowest reward minus
        ``unparsed_penalty``. ``correct`` (gold 0/1 per sample) is read by ``correctness`` only.

        Weights are not applied here: training weighs this reward against gold correctness with TRL's
        ``reward_weights`` (``alft_cli.validate.ObjectiveConfig``), the simulator in ``tabular.py`` likewise.
        """
        groups = check_groups(groups)
        raw = self._answer_rewards(groups)
        return [apply_unparsed(g, v, self.unparsed_penalty) for g, v in zip(groups, raw)]

    # ----- exact level ----------------------------------------------------------------------------
    def reward_field(
        self, nus: list[np.ndarray], labels: Sequence[str], R: list[np.ndarray] | None
    ) -> list[np.ndarray]:
        """Answer-level reward per variant when the Target best-responds to the exact marginals."""
        return [self._field(nu, labels, None if R is None else R[j]) for j, nu in enumerate(nus)]

    def potential(
        self, nus: list[np.ndarray], labels: Sequence[str], R: list[np.ndarray] | None
    ) -> float | None:
        """Ψ(ν_1, …, ν_m) (sum over independent variants), or None if the game has no potential."""
        return float(sum(self._psi(nu, labels, None if R is None else R[j]) for j, nu in enumerate(nus)))

    def _field(self, nu: np.ndarray, labels: Sequence[str], R: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _psi(self, nu: np.ndarray, labels: Sequence[str], R: np.ndarray | None) -> float:
        raise NotImplementedError

    def _optimum(
        self, refs: list[np.ndarray], labels: list[str], beta: float, R: list[np.ndarray] | None
    ) -> list[np.ndarray]:
        """argmax Ψ - β Σ KL(ν_j ‖ ref_j) (R is only used by ``correctness``)."""
        return [self._optimum1(ref, labels, beta, None if R is None else R[j]) for j, ref in enumerate(refs)]

    def _optimum1(self, ref: np.ndarray, labels: list[str], beta: float, R: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def optimum(
        self,
        nu_ref: Distribution | Sequence[Distribution],
        beta: float,
        R: Mapping[str, float] | None = None,
        correctness_weight: float = 0.0,
        answer_weight: float = 1.0,
    ) -> dict[str, float] | list[dict[str, float]]:
        """Exact ν* = argmax answer_weight·Ψ(ν) + correctness_weight·⟨R, ν⟩ - β KL(ν ‖ ν_ref).

        The weights mean what they mean in ``rewards``. ``nu_ref`` is a mapping, or a list of
        mappings (one per variant; required form for multi-variant objectives, which return a list).
        """
        single = isinstance(nu_ref, Mapping)
        refs_in = [nu_ref] if single else list(nu_ref)
        if not refs_in:
            raise ValueError("optimum: nu_ref is empty")
        dists = [_as_distribution(r, f"nu_ref[{j}]") for j, r in enumerate(refs_in)]
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
            raise ValueError(f"optimum: beta must be finite and > 0, got {beta!r}")
        if correctness_weight < 0 or answer_weight < 0 or correctness_weight + answer_weight == 0:
            raise ValueError("optimum: weights must be >= 0 and not both 0")
        if R is None and (correctness_weight != 0 or self.name == "correctness"):
            raise ValueError(
                f"optimum: {self.name} with correctness_weight={correctness_weight} needs R (answer -> gold)"
            )
        if R is not None and correctness_weight == 0 and self.name != "correctness":
            raise ValueError("optimum: R is only used with correctness_weight > 0")
        labels = sorted({z for d in dists for z in d})
        refs = [np.array([d.get(z, 0.0) for z in labels]) for d in dists]
        Rs = None
        if R is not None:
            missing = [z for z in labels if z not in R]
            if missing:
                raise ValueError(f"optimum: R has no value for answers {missing[:5]}")
            Rs = [np.array([float(R[z]) for z in labels])] * len(refs)
        if correctness_weight:
            refs = [tilt(ref, correctness_weight * r, beta) for ref, r in zip(refs, Rs)]
        if answer_weight:
            refs = self._optimum(refs, labels, beta / answer_weight, Rs)
        result = [{z: float(v) for z, v in zip(labels, x) if z in d} for x, d in zip(refs, dists)]
        return result[0] if single and not self.multi_variant else result


class Estimated(Objective):
    """An objective whose reward estimates the share ν(z) of the sample's own answer from its group.

    ``estimators`` lists the allowed ``estimator`` values; the first is the default.
    """

    estimators: ClassVar[tuple[str, ...]] = ("leave_one_out", "plugin")

    def __init__(self, *, estimator: str | None = None, **common):
        super().__init__(**common)
        estimator = self.estimators[0] if estimator is None else estimator
        if estimator not in self.estimators:
            raise ValueError(f"{self.name}: estimator {estimator!r} not allowed; allowed: {', '.join(self.estimators)}")
        self.estimator = estimator

    def own_share(self, n: int, G: int) -> float:
        """Estimate of ν(z) for an answer seen n times in a group of G (own sample included)."""
        return own_share(n, G, self.estimator)


DEFAULT_TABLE_BOUND = 10.0  # inactive for G <= 8; keeps the minimax table finite-looking at G >= 16


class LogEstimated(Estimated):
    """An objective whose reward holds log ν̂(z): the plug-in log(n/G) or the minimax table, whose entries
    are bounded by ``table_bound`` (unbounded they reach 139 at G = 16 and 2.4e5 at G = 32)."""

    estimators = ("plugin", "minimax")

    def __init__(self, *, table_bound: float | None = DEFAULT_TABLE_BOUND, **common):
        super().__init__(**common)
        if table_bound is not None and not (isinstance(table_bound, (int, float)) and math.isfinite(table_bound)
                                            and table_bound > 0):
            raise ValueError(f"{self.name}: table_bound must be > 0 or null, got {table_bound!r}")
        self.table_bound = None if table_bound is None else float(table_bound)

    def log_share(self, n: int, G: int) -> float:
        """Estimate of log ν(z) for an answer seen n times in a group of G (own sample included)."""
        bound = DEFAULT_MAX_ABS if self.table_bound is None else self.table_bound
        return cached_table(G, self.estimator, bound)[n - 1]
