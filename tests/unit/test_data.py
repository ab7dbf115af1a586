"""Dataset loading: reasoning-gym splits, local files, field mapping, unparsable golds, clear errors."""

from __future__ import annotations

import json
import sys

import pytest
from omegaconf import OmegaConf

from alft_cli.cli import conf_dir
from alft_cli.data import build_messages, load_heldout, load_split
from alft_cli.errors import UserError


def _cfg(**kw):
    base = {"kind": "jsonl", "path": None, "train_path": None, "heldout_path": None, "train_size": None, "heldout_size": 1,
                "question_field": "question", "answer_field": "answer", "id_field": None, "style": "gsm8k", "strict": False}
    return OmegaConf.create({**base, **kw})


def test_arithmetic_seed_split_keeps_heldout_apart_from_training():
    # reasoning-gym draws item i of seed s with Random(s + i): seeds 1 and 2 share 19 of 20 items
    cfg = OmegaConf.create({"kind": "arithmetic", "task": "chain_sum", "style": "gsm8k", "split_by": "seed",
                            "train_seed": 1, "heldout_seed": 2, "train_size": 20, "heldout_size": 20,
                            "task_args": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}})
    train, heldout = load_split(cfg, "train"), load_heldout(cfg)
    assert len(train) == 20 and heldout.dropped_overlap >= 19
    assert {p.key for p in train}.isdisjoint({p.key for p in heldout.problems})
    assert len(heldout.problems) == 20 - heldout.dropped_overlap - heldout.dropped_duplicates
    for p in train:
        a, op, b = p.question.split(":")[1].strip(" =").split()
        assert int(p.gold) == (int(a) + int(b) if op == "+" else int(a) - int(b))


def test_local_file_is_carved_into_train_and_heldout(tmp_path):
    rows = [{"question": f"q{i}", "answer": f"work #### {i}"} for i in range(5)]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = _cfg(path=str(path), heldout_size=2)
    assert [p.gold for p in load_split(cfg, "train")] == ["0", "1", "2"]
    assert [p.gold for p in load_split(cfg, "heldout")] == ["3", "4"]


def test_unparsable_gold_is_skipped_never_rewarded(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "a", "answer": "#### 7"}\n{"question": "b", "answer": "#### seven-ish?"}\n'
                    '{"question": "c", "answer": "#### 1,200"}\n')
    problems = load_split(_cfg(train_path=str(path)), "train")
    assert [(p.question, p.gold) for p in problems] == [("a", "7"), ("c", "1200")]


def test_json_array_with_joined_question_fields(tmp_path):
    path = tmp_path / "svamp.json"
    path.write_text(json.dumps([{"ID": "s1", "Body": "Tom has 3 apples.", "Question": "How many?", "Answer": 3.0}]))
    [p] = load_split(_cfg(heldout_path=str(path), question_field=["Body", "Question"], answer_field="Answer",
                          id_field="ID"), "heldout")
    assert (p.uid, p.question, p.gold) == ("s1", "Tom has 3 apples. How many?", "3")


def test_gsm8k_shared_file_parses_every_gold(shared_data):
    cfg = _cfg(kind="gsm8k", heldout_path=str(shared_data / "gsm8k" / "test.jsonl"), heldout_size=None)
    problems = load_split(cfg, "heldout")
    assert len(problems) == 1319 and problems[0].gold == "18"


@pytest.mark.parametrize("contents,message", [
    (None, "dataset file not found"),
    ('{"question": "x"}\n', "line 1 has no field 'answer'"),
    ("not json\n", "line 1 is not valid JSON"),
    ('{"question": "a", "answer": "1"}\n\n\n{"question": "b", "answer": 2\n', r"line 4 is not valid JSON \("),
    (b'{"question": "a", "answer": "1"}\n{"question": "\xff", "answer": "2"}\n', "line 2 is not UTF-8 text"),
    ('{"question": "a", "answer": "1"}\n["question", "answer"]\n', "line 2 is an array, not a JSON object"),
    ('{"question": "a", "answer": "1"}\n"just text"\n', "line 2 is a string, not a JSON object"),
    ('{"question": "a", "answer": "1"}\n' + "[" * 100_000 + "]" * 100_000 + "\n", "line 2 nests JSON too deeply"),
    ('{"question": "a", "answer": "1"}\n{"question": ' + "[" * 100_000 + "]" * 100_000 + ', "answer": "2"}\n',
     "line 2 nests JSON too deeply"),
    ('{"question": {"text": "a"}, "answer": "1"}\n', "line 1 field 'question' is an object, not text"),
    ('{"question": null, "answer": "1"}\n', "line 1 field 'question' is null"),
    ('[{"question": "a", "answer": "1"},\n {"question": "b", "answer": "2"}]\n',
     "holds a JSON array, not JSON Lines .*name it d.json"),
    ("", "holds no rows"),
    ("\n\n", "holds no rows"),
    ('{"question": "a", "answer": "n/a"}\n{"question": "b", "answer": "?"}\n',
     "none of its 2 rows has a gold answer the checker can parse"),
])
def test_errors_name_the_problem(tmp_path, contents, message):
    path = tmp_path / "d.jsonl"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents is not None:
        path.write_text(contents)
    with pytest.raises(UserError, match=message) as err:
        load_split(_cfg(train_path=str(path)), "train")
    assert "\n" not in str(err.value) and len(str(err.value)) < 300 and "heldout_size" not in str(err.value)


@pytest.mark.parametrize("contents,message", [
    ('{"question": "a", "answer": "1"}\n{"question": "b", "answer": "2"}\n',
     "looks like JSON Lines .*name it d.jsonl"),
    ('[{"question": "a", "answer": "1"}, 3]', "row 2 is a number, not a JSON object"),
    ('{"question": "a", "answer": "1"}', "is an object, not a JSON array of objects"),
    ('[{"question": "a",\n "answer": }]', "not valid JSON .*at line 2 column"),
    ("[" * 100_000 + "]" * 100_000, "nests JSON too deeply"),
    ("[]", "holds no rows"),
])
def test_json_array_file_errors(tmp_path, contents, message):
    path = tmp_path / "d.json"
    path.write_text(contents)
    with pytest.raises(UserError, match=message):
        load_split(_cfg(train_path=str(path)), "train")


def test_empty_or_unparsable_file_is_not_blamed_on_heldout_size(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "a", "answer": "no number"}\n')
    with pytest.raises(UserError, match="none of its 1 rows") as err:
        load_split(_cfg(path=str(path), heldout_size=100), "train")
    assert "heldout_size" not in str(err.value)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_repeated_problem_ids_are_one_error_naming_the_rows(tmp_path, suffix):
    rows = [{"id": f"p{i % 3 if i in (1, 4) else i}", "question": f"q{i}", "answer": f"#### {i}"} for i in range(6)]
    path = tmp_path / f"d{suffix}"
    path.write_text(json.dumps(rows) if suffix == ".json" else "\n".join(json.dumps(r) for r in rows))
    label = "row" if suffix == ".json" else "line"
    with pytest.raises(UserError, match=rf"problem id 'p1' repeats \({label} 2, {label} 5\)"):
        load_split(_cfg(train_path=str(path), id_field="id"), "train")
    with pytest.raises(UserError, match="problem id 'p1' repeats"):  # the held-out split of one carved file
        load_split(_cfg(path=str(path), id_field="id", heldout_size=5), "heldout")
    rows[4]["id"] = "p4"
    path.write_text(json.dumps(rows) if suffix == ".json" else "\n".join(json.dumps(r) for r in rows))
    assert len(load_split(_cfg(train_path=str(path), id_field="id"), "train")) == 6


def test_numeric_ids_and_answers_are_text(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 7, "question": "a", "answer": 3}\n{"id": 7.5, "question": "b", "answer": 4.0}\n')
    assert [(p.uid, p.gold) for p in load_split(_cfg(train_path=str(path), id_field="id"), "train")] == [
        ("7", "3"), ("7.5", "4")]


def test_messages_use_template_and_optional_system():
    prompt = OmegaConf.create({"system": "Be brief.", "template": "Q: {question}"})
    assert build_messages("2+2?", prompt) == [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Q: 2+2?"}]


def test_svamp_file_serves_as_an_eval_only_heldout_set(shared_data):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from alft_cli.cli import conf_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("eval", ["dataset=svamp", f"dataset.path={shared_data / 'svamp' / 'SVAMP.json'}"])
    problems = load_split(cfg.dataset, "heldout")
    assert len(problems) == 1000 and problems[0].uid.startswith("chal-")
    with pytest.raises(UserError, match="leaves no training rows"):
        load_split(cfg.dataset, "train")


def test_arithmetic_without_reasoning_gym_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # as if `alft[arithmetic]` were absent
    dcfg = OmegaConf.load(conf_dir() / "dataset" / "arithmetic.yaml")
    with pytest.raises(UserError, match=r"pip install 'alft\[arithmetic\]'"):
        load_split(dcfg, "heldout")


def test_a_reasoning_gym_problem_is_its_expression_else_its_question():
    from alft_cli.data import task_key

    same = [{"question": "What is 3 + 4?", "metadata": {"expression": "3 + 4"}},
            {"question": "Compute 3  +  4.", "metadata": {"expression": "3  +  4"}}]
    assert task_key(same[0]) == task_key(same[1]) == "3 + 4"
    assert task_key({"question": "Ｗhat  is 3+4?", "metadata": {}}) == "what is 3+4?"  # NFKC, case, spaces
