"""Held-out hygiene: no held-out problem is a training problem or a repeat; the hash split of reasoning-gym tasks."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from alft_cli.cli import conf_dir
from alft_cli.data import in_heldout_share, load_heldout, load_split, normalise
from alft_cli.errors import UserError

ONE_DIGIT_SUMS = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


def _jsonl(path, questions):
    path.write_text("".join(json.dumps({"question": q, "answer": f"#### {i}"}) + "\n" for i, q in enumerate(questions)))
    return str(path)


def _local(**kw):
    base = {"kind": "jsonl", "path": None, "train_path": None, "heldout_path": None, "train_size": None,
            "heldout_size": None, "question_field": "question", "answer_field": "answer", "id_field": None,
            "style": "gsm8k", "strict": False}
    return OmegaConf.create({**base, **kw})


def test_jsonl_heldout_drops_training_questions_and_repeats(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", ["What is 2+2?", "Name 3 primes."])
    heldout = _jsonl(tmp_path / "test.jsonl", ["what is  2+2?", "Half of 8?", "HALF OF 8?", "Name 3 primes.", "7*6?"])
    cfg = _local(train_path=train, heldout_path=heldout)
    held = load_heldout(cfg)
    assert [p.question for p in held.problems] == ["Half of 8?", "7*6?"]
    assert (held.dropped_overlap, held.dropped_duplicates) == (2, 1)
    assert [p.question for p in load_split(cfg, "heldout")] == ["Half of 8?", "7*6?"]
    off = load_heldout(OmegaConf.merge(cfg, {"dedup_heldout": False}))
    assert len(off.problems) == 5 and (off.dropped_overlap, off.dropped_duplicates) == (0, 0)


def test_one_carved_file_is_deduplicated_against_its_training_rows(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", ["a", "b", "c", "B", "d", "d"])
    held = load_heldout(_local(path=path, heldout_size=3))  # train: a, b, c
    assert [p.question for p in held.problems] == ["d"] and (held.dropped_overlap, held.dropped_duplicates) == (1, 1)
    held = load_heldout(_local(path=path, heldout_size=4))  # train: a, b
    assert [p.question for p in held.problems] == ["c", "d"] and held.dropped_overlap == 1


def test_heldout_file_without_local_training_split_is_kept(tmp_path):
    # dataset=gsm8k with only a local held-out file: its training split would come from the (offline) hub
    heldout = _jsonl(tmp_path / "test.jsonl", ["a", "b", "a"])
    held = load_heldout(_local(kind="gsm8k", heldout_path=heldout))
    assert [p.question for p in held.problems] == ["a", "b"] and held.dropped_duplicates == 1


def test_gsm8k_local_files_leak_nothing(shared_data, tmp_path):
    cfg = _local(kind="gsm8k", train_path=str(shared_data / "gsm8k" / "train.jsonl"),
                 heldout_path=str(shared_data / "gsm8k" / "test.jsonl"))
    clean = load_heldout(cfg)
    assert len(clean.problems) + clean.dropped_overlap + clean.dropped_duplicates == 1319
    train_keys = {p.key for p in load_split(cfg, "train")}
    assert not train_keys & {p.key for p in clean.problems}
    # five test questions copied into the training file (re-spaced, upper-cased) are dropped from the held-out split
    test_rows = [json.loads(line) for line in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()]
    leaked = [{**r, "question": "  " + r["question"].upper().replace(" ", "  ")} for r in test_rows[10:15]]
    train_file = tmp_path / "train.jsonl"
    train_file.write_text((shared_data / "gsm8k" / "train.jsonl").read_text()
                          + "".join(json.dumps(r) + "\n" for r in leaked))
    held = load_heldout(OmegaConf.merge(cfg, {"train_path": str(train_file)}))
    assert held.dropped_overlap == clean.dropped_overlap + 5 and len(held.problems) == len(clean.problems) - 5
    assert not {p.question for p in held.problems} & {r["question"] for r in test_rows[10:15]}


def _arithmetic(**kw):
    cfg = OmegaConf.load(conf_dir() / "dataset" / "arithmetic.yaml")
    return OmegaConf.merge(cfg, kw)


def test_embedded_default_keeps_a_real_heldout_set():
    cfg = _arithmetic()
    assert cfg.split_by == "hash" and cfg.task_args == ONE_DIGIT_SUMS
    train, held = load_split(cfg, "train"), load_heldout(cfg)
    train_keys, held_keys = {p.key for p in train}, [p.key for p in held.problems]
    assert len(train) == cfg.train_size and not train_keys & set(held_keys)
    assert len(set(held_keys)) == len(held_keys) and 80 <= len(held_keys) <= cfg.heldout_size
    assert len(train_keys) + len(held_keys) == 200  # every one-digit a ± b on exactly one side
    assert all(in_heldout_share(k, 0.5) for k in held_keys) and not any(in_heldout_share(k, 0.5) for k in train_keys)
    assert (held.dropped_overlap, held.dropped_duplicates) == (0, 0)
    assert [p.uid for p in load_heldout(cfg).problems] == [p.uid for p in held.problems]  # deterministic


def test_seed_split_of_the_small_space_leaves_nothing_held_out():
    held = load_heldout(_arithmetic(split_by="seed", heldout_size=100))
    assert held.problems == [] and held.dropped_overlap + held.dropped_duplicates == 100


@pytest.mark.parametrize("task,args", [("basic_arithmetic", {"min_terms": 2, "max_terms": 2, "min_digits": 1,
                                                             "max_digits": 1}),
                                       ("products", {"min_terms": 2, "max_terms": 2, "min_digits": 1,
                                                     "max_digits": 1})])
def test_hash_split_works_for_other_reasoning_gym_tasks(task, args):
    cfg = _arithmetic(task=task, task_args=args, train_size=300, heldout_size=60, heldout_share=0.3)
    train, held = load_split(cfg, "train"), load_heldout(cfg)
    assert len(train) == 300 and 0 < len(held.problems) <= 60
    assert not {p.key for p in train} & {p.key for p in held.problems}
    assert len({p.key for p in held.problems}) == len(held.problems)


def test_expression_key_ignores_the_template():
    assert normalise(" 4 +  3 ") == normalise("4 + 3") and normalise("Ｈalf") == normalise("half")


@pytest.mark.parametrize("override,message", [({"split_by": "random"}, "dataset.split_by='random' is not one of"),
                                              ({"heldout_share": 1.0}, "heldout_share=1.0 must be between 0 and 1")])
def test_bad_split_options(override, message):
    with pytest.raises(UserError, match=message):
        load_split(_arithmetic(**override), "train")
