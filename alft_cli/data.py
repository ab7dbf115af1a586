"""Datasets as lists of `Problem`s: reasoning-gym arithmetic, GSM8K (hub or local) and any local JSON(L).

Every problem carries a stable id (`uid`, unique within its split), the question text, its canonical gold
answer and its `key`: what makes two problems the same (the normalised question; a procedural task's
expression). Golds that the checker cannot parse are reported and the problem skipped — never rewarded.
The held-out split is kept apart from training (`dataset.dedup_heldout`, on by default): problems whose key
is in the training split, and repeats within the held-out split, are dropped. Reasoning-gym tasks can also
split their problem space by a stable hash of the key (`dataset.split_by: hash`), so that a small space (200
two-term one-digit sums) still leaves a real held-out set.
A problem is asked in one `Variant` per entry of the run's `transforms` (train, eval and sample alike).
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alft_cli.errors import UserError

log = logging.getLogger(__name__)
SPLIT_BY = ("seed", "hash")  # dataset.split_by: how a reasoning-gym task is split


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form of a question (or expression)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def task_key(row: dict) -> str:
    """What makes two rows of a reasoning-gym task the same problem: the normalised expression (its metadata)
    when it has one, else the normalised question."""
    return normalise(str(row.get("metadata", {}).get("expression") or row["question"]))


@dataclass(frozen=True)
class Problem:
    uid: str
    question: str
    gold: str
    key: str = ""  # what makes two problems the same; "" = the question (normalised either way)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", normalise(self.key or self.question))


@dataclass(frozen=True)
class HeldOut:
    """The held-out split after hygiene: what was dropped, and why."""

    problems: list[Problem]
    dropped_overlap: int  # its key is in the training split
    dropped_duplicates: int  # its key repeats an earlier held-out problem


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
    """Load `split` ('train' or 'heldout') of the dataset config `dcfg` (held-out: after hygiene)."""
    if split == "heldout":
        return load_heldout(dcfg).problems
    return _load_raw(dcfg, split)


def load_heldout(dcfg: Any, train: Sequence[Problem] | None = None) -> HeldOut:
    """The held-out split without problems of the training split (`train`, loaded when not given) and
    without repeats; `dataset.dedup_heldout=false` keeps it as loaded."""
    problems = _load_raw(dcfg, "heldout")
    if not dcfg.get("dedup_heldout", True):
        return HeldOut(problems, 0, 0)
    if train is None:
        train = _training_split_to_avoid(dcfg)
    train_keys = {p.key for p in train}
    kept, seen, overlap, repeats = [], set(), 0, 0
    for p in problems:
        if p.key in train_keys:
            overlap += 1
        elif p.key in seen:
            repeats += 1
        else:
            seen.add(p.key)
            kept.append(p)
    if overlap or repeats:
        log.info("held-out split: dropped %d problems also in the training split and %d repeats (%d kept; "
                 "dataset.dedup_heldout=false keeps them)", overlap, repeats, len(kept))
    if problems and not kept:
        log.warning("every held-out problem is also a training problem%s",
                    "; split the problem space with dataset.split_by=hash" if dcfg.kind == "arithmetic" else "")
    return HeldOut(kept, overlap, repeats)


def _training_split_to_avoid(dcfg: Any) -> list[Problem]:
    """The training split of `dcfg` for held-out hygiene; [] when there is none (one local file all held
    out) or when it would come from the hub while the held-out split is a local file."""
    if dcfg.kind == "arithmetic" or dcfg.get("train_path"):
        return _load_raw(dcfg, "train")
    if dcfg.get("path"):
        problems = _local_file(dcfg, dcfg.path)
        n_heldout = int(dcfg.get("heldout_size") or 0)
        return _limit(problems[: len(problems) - n_heldout], dcfg, "train") if n_heldout < len(problems) else []
    if dcfg.get("heldout_path"):
        return []
    return _load_raw(dcfg, "train")


def _load_raw(dcfg: Any, split: str) -> list[Problem]:
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
        raise UserError(f"dataset.heldout_size={n_heldout} leaves no training rows in {dcfg.path} "
                        f"({len(problems)} problems)")
    return _limit(problems[: len(problems) - n_heldout], dcfg, split)


def _limit(problems: list[Problem], dcfg: Any, split: str) -> list[Problem]:
    limit = dcfg.get(f"{split}_size")
    return problems[: int(limit)] if limit else problems


def split_options(dcfg: Any) -> tuple[str, float]:
    """(`dataset.split_by`, `dataset.heldout_share`) of a reasoning-gym dataset, checked (UserError otherwise)."""
    mode, share = dcfg.get("split_by", "seed"), dcfg.get("heldout_share", 0.5)
    if mode not in SPLIT_BY:
        raise UserError(f"dataset.split_by={mode!r} is not one of: {', '.join(SPLIT_BY)}")
    if mode == "hash" and not (isinstance(share, (int, float)) and not isinstance(share, bool) and 0 < share < 1):
        raise UserError(f"dataset.heldout_share={share!r} must be between 0 and 1 (exclusive) with dataset.split_by=hash")
    return mode, float(share)


def in_heldout_share(key: str, share: float) -> bool:
    """Whether a problem key falls in the held-out part of a hash split (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64 < share


def _reasoning_gym(dcfg: Any, split: str) -> list[Problem]:
    """`{split}_size` problems of a reasoning-gym task. `dataset.split_by=seed`: the splits are drawn with their
    own seeds; `hash`: each split draws only problems whose key is on its side of the hash split
    (`dataset.heldout_share` of the keys held out), the held-out split without repeats."""
    try:
        import reasoning_gym
    except ImportError as err:
        raise UserError("dataset=arithmetic needs reasoning-gym: pip install 'alft[arithmetic]' (it builds pycosat, "
                        "which needs a C compiler); dataset=gsm8k, svamp and jsonl do not") from err

    from alft_cli.answers import parse_gold

    mode, share = split_options(dcfg)
    seed = int(dcfg.train_seed if split == "train" else dcfg.heldout_seed)
    size = int(dcfg.get(f"{split}_size"))
    budget = size if mode == "seed" else 20 * size + 1000  # draws; a hash split rejects part of them
    task_args = dict(dcfg.get("task_args", {}))
    try:
        rows = reasoning_gym.create_dataset(dcfg.task, size=budget, seed=seed, **task_args)
    except (KeyError, ValueError, TypeError, AssertionError) as err:
        raise UserError(f"reasoning-gym task {dcfg.task!r} with {task_args}: {err}") from err
    problems, keys = [], set()
    for i, row in zip(range(budget), rows):
        if len(problems) == size:
            break
        key = task_key(row)
        if mode == "hash" and (in_heldout_share(key, share) != (split == "heldout")
                               or split == "heldout" and key in keys):
            continue
        gold = parse_gold(str(row["answer"]), style=dcfg.style)
        if gold is None:
            log.warning("skipping %s row %d: gold %r cannot be parsed", dcfg.task, i, row["answer"])
            continue
        keys.add(key)
        problems.append(Problem(f"{dcfg.task}-{split}-{seed}-{i}", row["question"], gold, key))
    if mode == "hash" and len(problems) < size:
        log.info("%s, hash split: %d distinct %s problems in %d draws (dataset.%s_size=%d)", dcfg.task,
                 len(problems), split, budget, split, size)
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
    source = f"{dcfg.hub_id}:{hub_split}"
    return _to_problems([(f"{source} row {i + 1}", row) for i, row in enumerate(rows)], dcfg, source)


def _local_file(dcfg: Any, path: str) -> list[Problem]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"dataset file not found: {file} (set dataset.path to an existing .jsonl or .json file)")
    rows = read_json_rows(file)
    if not rows:
        raise UserError(f"{file} holds no rows")
    return _to_problems(rows, dcfg, str(file))


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def json_type(value: Any) -> str:
    """What a parsed JSON value is, for error messages: `an array`, `null`, …"""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def read_json_rows(file: Path) -> list[tuple[str, dict]]:
    """The objects of a JSON Lines file (one per line; any suffix but `.json`) or of a JSON array (`.json`),
    each with where it is (`<file> line 3`, `<file> row 3`); one-line `UserError`s name the bad line."""
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UserError(f"{file} line {line} is not UTF-8 text (byte 0x{data[err.start]:02x}); "
                        "re-encode the file as UTF-8") from err
    if file.suffix == ".json":
        return _json_array(file, text)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{file} line {n}"
        if not rows and line.lstrip().startswith("["):
            raise UserError(f"{file} holds a JSON array, not JSON Lines (one object per line): name it "
                            f"{file.with_suffix('.json').name}, or write one object per line")
        row = _parse(line, where)
        if not isinstance(row, dict):
            raise UserError(f"{where} is {json_type(row)}, not a JSON object")
        rows.append((where, row))
    return rows


def _json_array(file: Path, text: str) -> list[tuple[str, dict]]:
    if not text.strip():
        return []
    try:
        rows = _parse(text, str(file))
    except UserError:
        first = next((line for line in text.splitlines() if line.strip()), "")
        if first.lstrip().startswith("{") and len(text.strip().splitlines()) > 1:
            raise UserError(f"{file} looks like JSON Lines (one object per line), not a JSON array: name it "
                            f"{file.with_suffix('.jsonl').name}") from None
        raise
    if not isinstance(rows, list):
        raise UserError(f"{file} is {json_type(rows)}, not a JSON array of objects")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"{file} row {i + 1} is {json_type(row)}, "
                            "not a JSON object")
    return [(f"{file} row {i + 1}", row) for i, row in enumerate(rows)]


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        at = f"column {err.colno}" if "\n" not in text.strip() else f"line {err.lineno} column {err.colno}"
        raise UserError(f"{where} is not valid JSON ({err.msg} at {at})") from err
    except RecursionError as err:
        raise UserError(f"{where} nests JSON too deeply to read") from err


def _field(row: dict, names: Sequence[str] | str, where: str) -> str:
    keys = [names] if isinstance(names, str) else list(names)
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(f"{where} has no field {missing[0]!r} (fields: {', '.join(sorted(row))}); "
                        f"map it with dataset.question_field / dataset.answer_field")
    bad = next((k for k in keys if not isinstance(row[k], (str, int, float)) or isinstance(row[k], bool)), None)
    if bad is not None:
        raise UserError(f"{where} field {bad!r} is {json_type(row[bad])}, "
                        "not text or a number")
    return " ".join(str(row[k]).strip() for k in keys)


def _to_problems(rows: list[tuple[str, dict]], dcfg: Any, source: str) -> list[Problem]:
    """Problems of (where, row) pairs; unparsable golds skipped, ids checked unique."""
    from alft_cli.answers import parse_gold

    qf, af, idf = dcfg.question_field, dcfg.answer_field, dcfg.get("id_field")
    problems, places, skipped = [], [], 0
    for i, (where, row) in enumerate(rows):
        question = _field(row, qf, where)
        gold = parse_gold(_field(row, af, where), style=dcfg.style)
        if gold is None:
            skipped += 1
            continue
        uid = _field(row, idf, where) if idf and idf in row else f"{Path(source).stem}-{i}"
        problems.append(Problem(uid, question, gold))
        places.append(where)
    if skipped:
        log.warning("%s: skipped %d rows whose gold answer cannot be parsed", source, skipped)
    if rows and not problems:
        raise UserError(f"{source}: none of its {len(rows)} rows has a gold answer the checker can parse "
                        f"(dataset.answer_field={af!r}, dataset.style={dcfg.style!r})")
    check_unique_ids([p.uid for p in problems], places, source)
    return problems


def check_unique_ids(ids: Sequence[str], places: Sequence[str], source: str) -> None:
    """One `UserError` naming the first id of `source` that repeats and where (`places[i]`: where `ids[i]` is)."""
    seen: set[str] = set()
    for uid in ids:
        if uid in seen:
            where = [p.removeprefix(f"{source} ") for p, other in zip(places, ids) if other == uid]
            raise UserError(f"{source}: problem id {uid!r} repeats ({', '.join(where[:5])}"
                            f"{', …' if len(where) > 5 else ''}); every problem needs its own id")
        seen.add(uid)


def build_messages(question: str, prompt_cfg: Any) -> list[dict[str, str]]:
    """Chat messages for one question: an optional system prompt and the templated user turn."""
    messages = []
    if prompt_cfg.get("system"):
        messages.append({"role": "system", "content": prompt_cfg.system})
    messages.append({"role": "user", "content": prompt_cfg.template.format(question=question)})
    return messages
