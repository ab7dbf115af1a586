"""Dataset loading: reasoning-gym splits, local files, field mapping, unparsable golds, clear errors."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from alft_cli.data import build_messages, load_split
from alft_cli.errors import UserError


def _cfg(**kw):
    base = {"kind": "jsonl", "path": None, "train_path": None, "heldout_path": None, "train_size": None, "heldout_size": 1,
                "question_field": "question", "answer_field": "answer", "id_field": None, "style": "gsm8k", "strict": False}
    return OmegaConf.create({**base, **kw})


def test_arithmetic_heldout_uses_another_seed():
    cfg = OmegaConf.create({"kind": "arithmetic", "task": "chain_sum", "style": "gsm8k", "train_seed": 1,
                                "heldout_seed": 2, "train_size": 20, "heldout_size": 20,
                                "task_args": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}})
    train, heldout = load_split(cfg, "train"), load_split(cfg, "heldout")
    assert len(train) == len(heldout) == 20
    assert {p.uid for p in train}.isdisjoint({p.uid for p in heldout})
    assert [p.question for p in train] != [p.question for p in heldout]
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
    ("not json\n", "not valid JSON"),
])
def test_errors_name_the_problem(tmp_path, contents, message):
    path = tmp_path / "d.jsonl"
    if contents is not None:
        path.write_text(contents)
    with pytest.raises(UserError, match=message):
        load_split(_cfg(train_path=str(path)), "train")


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
