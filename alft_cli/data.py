"""Datasets as lists of `Problem`s: reasoning-gym arithmetic, GSM8K (hub or local) and any local JSON(L).

Every problem carries a stable id (`uid`), the question text and its canonical gold answer. Golds that
the checker cannot parse are reported and the problem skipped — never rewarded. A problem is asked in
one `Variant` per entry of the run's `transforms` (train, eval and sample alike).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alft_cli.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    uid: str
    question: str
    gold: str


@dataclass(frozen=True)
class Variant:
    """A problem asked through one transformation of `transforms`. It is named by its `label` in training
    rows, the reward's groups and eval/sample output; its index is the label's position in the run's labels."""

    label: str
    question: str


def variant_labels(transforms: Sequence[str]) -> list[str]:
    """The run's variant labels, in order: the transform names, a repeated name numbered `#1`, `#2`, … .

    UserError for an empty list or an unknown transform (``alft_cli.transforms``).
    """
    from alft_cli.transforms import get_transform

    if isinstance(transforms, str) or not isinstance(transforms, Sequence) or not transforms:
        raise UserError(f"transforms={transforms!r} must be a non-empty list of transformations, "
                        "e.g. transforms=[identity]")
    names = [str(n) for n in transforms]
    for name in names:
        try:
            get_transform(name)
        except ValueError as err:
            raise UserError(f"transforms: {err}") from err
    return [n if names.count(n) == 1 else f"{n}#{names[: i + 1].count(n)}" for i, n in enumerate(names)]


def variants(problem: Problem, transforms: Sequence[str], seed: int) -> list[Variant]:
    """The problem's variants, one per entry of `transforms`, in that order (deterministic given `seed`)."""
    from alft_cli.transforms import make_variants

    questions = make_variants(problem.question, [str(n) for n in transforms], seed=seed)
    return [Variant(label, q) for label, q in zip(variant_labels(transforms), questions)]


def load_split(dcfg: Any, split: str) -> list[Problem]:
    """Load `split` ('train' or 'heldout') of the dataset config `dcfg`."""
    kind = dcfg.kind
    if kind == "arithmetic":
        return _reasoning_gym(dcfg, split)
    if kind not in ("gsm8k", "jsonl"):
        raise UserError(f"dataset.kind={kind!r} is not one of: arithmetic, gsm8k, jsonl")
    if dcfg.get(f"{split}_path"):
        return _limit(_local_file(dcfg, dcfg.get(f"{split}_path")), dcfg, split)
    if dcfg.get("path"):
        return _carve(_local_file(dcfg, dcfg.path), dcfg, split)
    if kind == "gsm8k":
        return _limit(_hub(dcfg, split), dcfg, split)
    raise UserError(f"dataset.path (or dataset.{split}_path) is required for dataset=jsonl")


def _carve(problems: list[Problem], dcfg: Any, split: str) -> list[Problem]:
    """One local file serves both splits: the last `heldout_size` rows are held out (all of a small file)."""
    n_heldout = int(dcfg.get("heldout_size") or 0)
    if split == "heldout":
        return problems[-n_heldout:] if n_heldout else []
    if n_heldout >= len(problems):
        raise UserError(f"dataset.heldout_size={n_heldout} leaves no training rows in {dcfg.path}")
    return _limit(problems[: len(problems) - n_heldout], dcfg, split)


def _limit(problems: list[Problem], dcfg: Any, split: str) -> list[Problem]:
    limit = dcfg.get(f"{split}_size")
    return problems[: int(limit)] if limit else problems


def _reasoning_gym(dcfg: Any, split: str) -> list[Problem]:
    import reasoning_gym

    from alft_cli.answers import parse_gold

    seed = int(dcfg.train_seed if split == "train" else dcfg.heldout_seed)
    size = int(dcfg.get(f"{split}_size"))
    try:
        rows = reasoning_gym.create_dataset(dcfg.task, size=size, seed=seed, **dict(dcfg.get("task_args", {})))
    except (KeyError, ValueError, TypeError) as err:
        raise UserError(f"reasoning-gym task {dcfg.task!r} with {dict(dcfg.get('task_args', {}))}: {err}") from err
    problems = []
    for i, row in enumerate(rows):
        gold = parse_gold(str(row["answer"]), style=dcfg.style)
        if gold is None:
            log.warning("skipping %s row %d: gold %r cannot be parsed", dcfg.task, i, row["answer"])
            continue
        problems.append(Problem(f"{dcfg.task}-{split}-{seed}-{i}", row["question"], gold))
    return problems


def _hub(dcfg: Any, split: str) -> list[Problem]:
    import datasets

    hub_split = dcfg.hub_split_train if split == "train" else dcfg.hub_split_heldout
    try:
        rows = datasets.load_dataset(dcfg.hub_id, dcfg.get("hub_config"), split=hub_split)
    except Exception as err:  # datasets raises ConnectionError, DatasetNotFoundError, ...
        raise UserError(
            f"could not load {dcfg.hub_id!r} from the hub ({type(err).__name__}); "
            f"offline? pass a local file: dataset.path=/path/to/{split}.jsonl"
        ) from err
    return _to_problems(list(rows), dcfg, f"{dcfg.hub_id}:{hub_split}")


def _local_file(dcfg: Any, path: str) -> list[Problem]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"dataset file not found: {file} (set dataset.path to an existing .jsonl or .json file)")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix == ".json":
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise UserError(f"{file}: not valid JSON{'L' if file.suffix != '.json' else ''} ({err})") from err
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{file}: expected one JSON object per line (or a JSON array of objects)")
    return _to_problems(rows, dcfg, str(file))


def _field(row: dict, names: Sequence[str] | str, where: str) -> str:
    keys = [names] if isinstance(names, str) else list(names)
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(f"{where} has no field {missing[0]!r} (fields: {', '.join(sorted(row))}); "
                        f"map it with dataset.question_field / dataset.answer_field")
    return " ".join(str(row[k]).strip() for k in keys)


def _to_problems(rows: list[dict], dcfg: Any, source: str) -> list[Problem]:
    from alft_cli.answers import parse_gold

    qf, af, idf = dcfg.question_field, dcfg.answer_field, dcfg.get("id_field")
    problems, skipped = [], 0
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        question = _field(row, qf, where)
        gold = parse_gold(_field(row, af, where), style=dcfg.style)
        if gold is None:
            skipped += 1
            continue
        uid = str(row[idf]) if idf and idf in row else f"{Path(source).stem}-{i}"
        problems.append(Problem(uid, question, gold))
    if skipped:
        log.warning("%s: skipped %d rows whose gold answer cannot be parsed", source, skipped)
    return problems


def build_messages(question: str, prompt_cfg: Any) -> list[dict[str, str]]:
    """Chat messages for one question: an optional system prompt and the templated user turn."""
    messages = []
    if prompt_cfg.get("system"):
        messages.append({"role": "system", "content": prompt_cfg.system})
    messages.append({"role": "user", "content": prompt_cfg.template.format(question=question)})
    return messages
