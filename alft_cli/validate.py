"""Every option of `alft train|eval|sample`, checked before any model or dataset is loaded.

Each command calls its check first (`check_train`, `check_eval`, `check_sample`); a bad value is one
`UserError` naming its key. `ObjectiveConfig` is the one reader of `cfg.objective`: it rejects keys it
does not use and decides the reward components and their weights (TRL's `reward_weights`, the only
place the weights are applied).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alft_cli.errors import UserError

OBJECTIVE_KEYS = ("name", "params", "answer_weight", "correctness_weight")
MINIMAX_UNBOUNDED_MAX_G = 8  # the unbounded minimax table stays small (|r̂| ≤ 4.5) up to G = 8; 139 at G = 16
SPLITS = ("train", "heldout")
DTYPES = ("float32", "bfloat16", "float16", "auto")  # auto: the checkpoint's own (alft_cli.models.model_dtype)


# ----- scalar checks ----------------------------------------------------------------------------------
def integer(value: Any, key: str, minimum: int, *, null: str = "") -> int | None:
    """`value` as an int >= `minimum`; None allowed when `null` says what it means."""
    if value is None and null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = f" or null ({null})" if null else ""
        raise UserError(f"{key}={value!r} must be an integer >= {minimum}{extra}")
    return value


def number(value: Any, key: str, minimum: float, *, strict: bool = False, maximum: float | None = None) -> float:
    """`value` as a finite float >= `minimum` (> when `strict`) and <= `maximum`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > minimum if strict else value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bound = f"{'>' if strict else '>='} {minimum:g}" + ("" if maximum is None else f" and <= {maximum:g}")
        raise UserError(f"{key}={value!r} must be a finite number {bound}")
    return float(value)


def check_model(model_cfg: Any) -> None:
    """The model options every command shares."""
    if model_cfg.get("dtype", "float32") not in DTYPES:
        raise UserError(f"model.dtype={model_cfg.dtype!r} is not one of: {', '.join(DTYPES)}")


# ----- objective --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectiveConfig:
    """The objective as configured: game objective `name` with `params` and the weights of its reward components
    (answer-level term, gold correctness). The prompts each problem is asked in are the top-level `transforms`."""

    name: str
    params: Mapping[str, Any]
    answer_weight: float
    correctness_weight: float

    @property
    def answer_level(self) -> bool:
        """False for `correctness`, whose only reward is the gold one."""
        return self.name != "correctness"

    @classmethod
    def read(cls, ocfg: Any) -> ObjectiveConfig:
        """Read and check `cfg.objective`; UserError naming the key otherwise."""
        from alft_cli.game import OBJECTIVES

        raw = OmegaConf.to_container(ocfg, resolve=True) if isinstance(ocfg, DictConfig) else dict(ocfg or {})
        unknown = [k for k in raw if k not in OBJECTIVE_KEYS]
        if unknown:
            raise UserError(f"objective.{unknown[0]} is not an objective option (options: {', '.join(OBJECTIVE_KEYS)})")
        name = raw.get("name")
        if name not in OBJECTIVES:
            raise UserError(f"objective.name={name!r} is not one of: {', '.join(OBJECTIVES)}")
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise UserError(f"objective.params={params!r} must be a mapping of parameters")
        correctness = number(raw.get("correctness_weight", 0.0), "objective.correctness_weight", 0.0)
        if name == "correctness":
            if params:
                raise UserError(f"objective.params.{next(iter(params))}: correctness takes no parameters")
            if "answer_weight" in raw:
                raise UserError("objective.answer_weight: correctness has no answer-level term; its weight is "
                                "objective.correctness_weight")
            if correctness == 0:
                raise UserError("objective.correctness_weight=0 leaves objective=correctness without a reward")
            return cls(name, {}, 0.0, correctness)
        answer = number(raw.get("answer_weight", 1.0), "objective.answer_weight", 0.0)
        if answer == 0 and correctness == 0:
            raise UserError("objective.answer_weight and objective.correctness_weight are both 0: no reward to train on")
        config = cls(name, params, answer, correctness)
        config.build()
        return config

    def build(self) -> Any:
        """The game objective (`alft_cli.game`); None for `correctness`."""
        from alft_cli.game import get_objective, objective_class

        if not self.answer_level:
            return None
        allowed = objective_class(self.name).parameters()
        unknown = [k for k in self.params if k not in allowed]
        if unknown:
            raise UserError(f"objective.params.{unknown[0]} is not a parameter of {self.name} "
                            f"(parameters: {', '.join(allowed) or 'none'})")
        try:
            return get_objective(self.name, **self.params)
        except ValueError as err:
            raise UserError(f"objective.params: {err}") from None

    def components(self) -> list[tuple[str, float]]:
        """(reward function, weight) in TRL's order: `answer_level` (every objective but correctness), then
        `correctness` when its weight is > 0. These are TRL's `reward_weights`, logged per component."""
        out = [("answer_level", self.answer_weight)] if self.answer_level else []
        if self.correctness_weight > 0:
            out.append(("correctness", self.correctness_weight))
        return out


def check_minimax(objective: Any, num_generations: int) -> None:
    """Refuse an unbounded minimax table beyond G = 8, where it explodes (|r̂| 139 at G = 16, 2.4e5 at 32)."""
    if getattr(objective, "estimator", None) == "minimax" and getattr(objective, "table_bound", 0) is None \
            and num_generations > MINIMAX_UNBOUNDED_MAX_G:
        raise UserError(f"objective.params.table_bound=null with estimator=minimax at trainer.num_generations="
                        f"{num_generations}: the unbounded table grows exponentially with G (|r̂| 4.5 at G = 8, "
                        "139 at 16, 2.4e5 at 32); set a bound (default 10) or estimator=plugin")


# ----- trainer ----------------------------------------------------------------------------------------
def _scalar_kinds(hint: Any) -> set[type] | None:
    """The scalar types a config field accepts, or None when it also takes strings, enums or containers."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    kinds = set(typing.get_args(hint) if union else (hint,))
    if not kinds or not kinds <= {int, float, bool, type(None)}:
        return None
    return kinds


def _check_type(value: Any, kinds: set[type]) -> bool:
    if value is None:
        return type(None) in kinds
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int):
        return bool(kinds & {int, float})
    return isinstance(value, float) and float in kinds


def trainer_config(tcfg: Any, **fixed: Any) -> Any:
    """Build `cfg.trainer` (a `CoherenceGRPOConfig`) with `fixed` set by alft; numeric fields type-checked first,
    every failure one `UserError` naming the `trainer.` key."""
    from hydra.utils import get_class

    from alft_cli.trainer import CoherenceGRPOConfig

    values = OmegaConf.to_container(tcfg, resolve=True)
    target = values.pop("_target_", "alft_cli.trainer.CoherenceGRPOConfig")
    try:
        cls = get_class(target)
    except Exception:  # noqa: BLE001 (hydra raises several kinds)
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, CoherenceGRPOConfig)):
        raise UserError(f"trainer._target_={target!r} must be alft_cli.trainer.CoherenceGRPOConfig (or a subclass)")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in hints:
            raise UserError(f"trainer.{key} is not a {cls.__name__} option")
        kinds = _scalar_kinds(hints[key])
        if kinds is not None and not _check_type(value, kinds):
            names = {int: "an integer", float: "a number", bool: "true or false", type(None): "null"}
            want = " or ".join(names[k] for k in (int, float, bool, type(None)) if k in kinds)
            raise UserError(f"trainer.{key}={value!r} must be {want}")
    try:
        return cls(**{**values, **fixed})
    except (ValueError, TypeError) as err:
        raise UserError(f"trainer: {str(err).splitlines()[0]}") from None


# ----- commands ---------------------------------------------------------------------------------------
def check_dataset(dcfg: Any) -> None:
    """The dataset options that are read only when the data loads (after the model): checked now."""
    from alft_cli.data import split_options

    if dcfg.kind == "arithmetic":
        split_options(dcfg)


def check_train(cfg: DictConfig, **fixed: Any) -> tuple[ObjectiveConfig, Any]:
    """The objective and the trainer config of `alft train`, every option checked; `fixed`: alft-set trainer
    fields (output_dir, seed, device overrides)."""
    from alft_cli.data import variant_labels
    from alft_cli.trainer import check_answer_level

    check_model(cfg.model)
    check_dataset(cfg.dataset)
    h = cfg.heldout
    integer(h.limit, "heldout.limit", 0, null="the whole held-out split")
    integer(h.max_new_tokens, "heldout.max_new_tokens", 1)
    integer(h.batch_size, "heldout.batch_size", 1)
    objective = ObjectiveConfig.read(cfg.objective)
    args = trainer_config(cfg.trainer, num_variants=len(variant_labels(cfg.transforms)),
                          reward_weights=[w for _, w in objective.components()], **fixed)
    if objective.answer_level:
        check_answer_level(args)
        check_minimax(objective.build(), args.num_generations)
    return objective, args


def _check_generation(opts: Any, key: str, dcfg: Any) -> None:
    """The sampling options `alft eval` and `alft sample` share (and their dataset's)."""
    from alft_cli.backends import check_backend

    check_dataset(dcfg)
    if opts.split not in SPLITS:
        raise UserError(f"{key}.split={opts.split!r} is not one of: {', '.join(SPLITS)}")
    integer(opts.limit, f"{key}.limit", 1, null="all problems")
    integer(opts.n, f"{key}.n", 1)
    number(opts.temperature, f"{key}.temperature", 0.0)
    number(opts.top_p, f"{key}.top_p", 0.0, strict=True, maximum=1.0)
    integer(opts.max_new_tokens, f"{key}.max_new_tokens", 1)
    integer(opts.batch_size, f"{key}.batch_size", 1)
    integer(opts.chunk, f"{key}.chunk", 1)
    integer(opts.show, f"{key}.show", 0)
    check_backend(opts, key)


def check_eval(cfg: DictConfig) -> list[int]:
    """The eval options; returns the k values (`eval.k=4` means [4])."""
    from alft_cli.data import variant_labels

    e = cfg.eval
    raw = [e.k] if isinstance(e.k, int) else e.k
    if isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
        raise UserError(f"eval.k={e.k!r} must be a k or a list of k values >= 1, e.g. eval.k=[1,4,8]")
    ks = [integer(k, "eval.k", 1) for k in raw]
    if e.completions_file:
        integer(e.show, "eval.show", 0)
        return ks
    check_model(cfg.model)
    _check_generation(e, "eval", cfg.dataset)
    variant_labels(cfg.transforms)
    if max(ks) > e.n:
        raise UserError(f"eval.k={ks} needs eval.n >= {max(ks)} samples per problem (eval.n={e.n})")
    if e.temperature == 0 and e.n > 1:
        raise UserError(f"eval.n={e.n} with eval.temperature=0: greedy samples are identical; "
                        "set eval.n=1 or eval.temperature>0")
    return ks


def check_sample(cfg: DictConfig) -> None:
    """The sample options."""
    from alft_cli.data import variant_labels

    check_model(cfg.model)
    _check_generation(cfg.sample, "sample", cfg.dataset)
    variant_labels(cfg.transforms)
