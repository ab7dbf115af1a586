"""`alft eval` without a model: scoring rows, coherence, the summary table, option checks, CLI rewriting."""

from __future__ import annotations

import json
import math

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli.cli import conf_dir, rewrite_overrides
from alft_cli.errors import UserError
from alft_cli.report import summary_table
from alft_cli.scoring import compute_metrics, curve_ks, score_rows


def _rows(completions_by_id: dict[str, list[str]], gold: dict[str, str], variant: str = "identity") -> list[dict]:
    return [{"id": uid, "variant": variant, "completion": c, "gold": gold[uid]}
            for uid, cs in completions_by_id.items() for c in cs]


GOLD = {"a": "9", "b": "12"}
COMPLETIONS = {
    "a": ["#### 9", "The answer is 9.", "#### 8", "no idea"],  # 2 correct, 1 wrong, 1 unparsed
    "b": ["#### 13", "#### 13", "#### 12", "#### 1,2"],  # 1 correct; "1,2" is 1 then 2 -> 1
}


def test_score_rows_extracts_and_checks_each_completion():
    scored = score_rows(_rows(COMPLETIONS, GOLD), "gsm8k")
    assert [r["answer"] for r in scored] == ["9", "9", "8", None, "13", "13", "12", "1"]
    assert [r["correct"] for r in scored] == [True, True, False, False, False, False, True, False]
    assert scored[0]["gold"] == "9" and scored[0]["variant"] == "identity"


def test_metrics_match_hand_computed_values():
    m = compute_metrics(score_rows(_rows(COMPLETIONS, GOLD), "gsm8k"), [1, 2, 4])
    assert m["n_problems"] == 2 and m["n_samples"] == 8 and m["samples_per_problem"] == 4
    assert m["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    # pass@2 = 1 - C(n-c,2)/C(n,2): a: 1 - 1/6, b: 1 - 3/6
    assert m["pass@2"] == pytest.approx(((1 - 1 / 6) + (1 - 3 / 6)) / 2)
    assert m["pass@4"] == 1.0
    # maj@4: a's majority is 9 (correct); b's is 13 (wrong)
    assert m["maj@4"] == pytest.approx(0.5)
    assert m["unparsed_rate"] == pytest.approx(1 / 8)
    assert m["undecided_rate"] == 0.0  # gsm8k is always decided
    h_a = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    h_b = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert m["answer_entropy"] == pytest.approx((h_a + h_b) / 2)
    assert m["distinct_answers"] == pytest.approx((2 + 3) / 2)
    lo, hi = m["pass@1_ci"]
    assert lo <= m["pass@1"] <= hi
    assert m["curve"]["k"] == [1, 2, 4] and m["curve"]["pass@k"][1] == pytest.approx(m["pass@2"])
    assert "coherence" not in m and "variants" not in m


def test_k_above_the_sample_count_is_dropped_when_rescoring():
    m = compute_metrics(score_rows(_rows(COMPLETIONS, GOLD), "gsm8k"), [1, 8])
    assert "pass@8" not in m and "pass@1" in m


def test_variants_get_their_own_numbers_and_agreement():
    rows = _rows(COMPLETIONS, GOLD, "identity") + _rows(
        {"a": ["#### 9"] * 4, "b": ["#### 12", "#### 12", "#### 13", "#### 13"]}, GOLD, "paraphrase")
    m = compute_metrics(score_rows(rows, "gsm8k"), [1, 4])
    assert m["pass@1"] == pytest.approx(3 / 8)  # headline: the first variant
    assert m["variants"]["paraphrase"]["pass@1"] == pytest.approx((1 + 0.5) / 2)
    # a: {9} vs {9} agree; b: {13} vs tied {12, 13} agree with probability 1/2
    assert m["agreement"] == pytest.approx((1 + 0.5) / 2)


def test_curve_ks_are_powers_of_two_up_to_n_plus_requested():
    assert curve_ks(8, [1, 3]) == [1, 2, 3, 4, 8]
    assert curve_ks(6, [6]) == [1, 2, 4, 6]


def test_summary_table_has_one_row_per_model_with_cis():
    m = compute_metrics(score_rows(_rows(COMPLETIONS, GOLD), "gsm8k"), [1, 4])
    table = summary_table([("modelA", m), ("modelB", {**m, "greedy_accuracy": 0.25})]).splitlines()
    assert table[0].startswith("| model | n_problems | pass@1 | pass@4 | maj@1 | maj@4 | greedy_accuracy")
    assert table[2].startswith("| modelA | 2 | 0.375 [") and "| – |" in table[2]
    assert table[3].startswith("| modelB |") and "| 0.250 |" in table[3]
    assert "undecided_rate" not in table[0]  # 0 everywhere: no column
    table = summary_table([("modelA", m), ("modelB", {**m, "undecided_rate": 0.125})]).splitlines()
    assert table[0].endswith("| unparsed_rate | undecided_rate |") and table[3].endswith("| 0.125 |")


def _eval_cfg(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides)


@pytest.mark.parametrize("overrides,message", [
    (["eval.n=2", "eval.k=[1,4]"], "eval.k=[1, 4] needs eval.n >= 4"),
    (["eval.n=4", "eval.k=[1,4]", "eval.temperature=0"], "greedy samples are identical"),
    (["eval.backend=tgi"], "eval.backend='tgi' is not one of: hf, vllm"),
    (["transforms=[identity,nope]"], "transforms: unknown transform 'nope'"),
    (["transforms=[]"], "transforms=[] must be a non-empty list"),
    (["eval.models=[no_such_model]"], "eval.models entry 'no_such_model' is not a model config"),
])
def test_bad_options_are_one_line_user_errors(overrides, message, tmp_path, monkeypatch):
    from alft_cli.eval import run_eval

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_eval(_eval_cfg(["model=tiny", "eval.limit=1", *overrides]))
    assert not list(tmp_path.glob("*.jsonl"))


def test_completions_file_rows_need_id_completion_and_gold(tmp_path, monkeypatch):
    from alft_cli.eval import run_eval

    bad = tmp_path / "c.jsonl"
    bad.write_text(json.dumps({"id": 1, "completion": "#### 2", "gold": "2"}) + "\n"
                   + json.dumps({"id": 1, "completion": "#### 2"}) + "\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="line 2 has no field 'gold'"):
        run_eval(_eval_cfg([f"eval.completions_file={bad}"]))


def test_model_comma_lists_sweep_over_paths(tmp_path):
    a, b = tmp_path / "runA", tmp_path / "runB"
    a.mkdir(), b.mkdir()
    assert rewrite_overrides([f"model={a},{b}"]) == ["model=hub", f"model.name_or_path={a},{b}"]
    assert rewrite_overrides(["model=tiny,smollm2_135m"]) == ["model=tiny,smollm2_135m"]
    assert rewrite_overrides(["model=choice(tiny,hub)"]) == ["model=choice(tiny,hub)"]
    with pytest.raises(UserError, match="mixes config names and paths"):
        rewrite_overrides([f"model=tiny,{a}"])
    with pytest.raises(UserError, match="unknown dataset 'nope'"):
        rewrite_overrides(["dataset=gsm8k,nope"])


def _completions(tmp_path, rows, raw: bytes | None = None):
    path = tmp_path / "c.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_completions_file_accepts_chat_messages_as_the_assistant_turn(tmp_path):
    from alft_cli.eval import read_completions

    path = _completions(tmp_path, [
        {"id": 1, "completion": [{"role": "assistant", "content": "#### 4"}], "gold": 4},
        {"id": 1, "completion": "#### 5", "gold": "4"},
    ])
    assert read_completions(str(path)) == [{"id": "1", "completion": "#### 4", "gold": "4"},
                                           {"id": "1", "completion": "#### 5", "gold": "4"}]


@pytest.mark.parametrize("rows,raw,message", [
    ([{"id": "a", "completion": 4, "gold": "4"}], None, "line 1 field 'completion' is neither text nor a list"),
    ([{"id": "a", "completion": [{"role": "user", "content": "hi"}], "gold": "4"}], None,
     "line 1 field 'completion' is neither text"),
    ([{"id": "a", "completion": None, "gold": "4"}], None, "line 1 field 'completion' is neither text"),
    ([{"id": "a", "completion": "x", "gold": ["4"]}], None, "line 1 field 'gold' is an array, not text"),
    ([{"id": "a", "completion": "x", "gold": "4"}, {"id": "b", "completion": "y", "gold": "5"},
      {"id": "a", "completion": "z", "gold": "6"}], None,
     r"problem id 'a' repeats with another gold \('4' at line 1, '6' at line 3\)"),
    (None, b'{"id": "a", "completion": "x", "gold": "4"}\n\n{"id": "b", "completion": "\xff", "gold": "4"}\n',
     "line 3 is not UTF-8 text"),
    (None, b'{"id": "a", "completion": "x", "gold": "4"}\n[1, 2]\n', "line 2 is an array, not a JSON object"),
    (None, b'{"id": "a", "completion": "x", "gold": "4"}\n\n\n{"id": \n', "line 4 is not valid JSON"),
    (None, b'{"id": "a", "completion": ' + b"[" * 100_000 + b"]" * 100_000 + b', "gold": "4"}\n',
     "line 1 nests JSON too deeply"),
    (None, b'[{"id": "a", "completion": "x", "gold": "4"}]\n', "holds a JSON array, not JSON Lines"),
    (None, b"\n", "holds no rows"),
])
def test_bad_completions_files_are_one_line(tmp_path, rows, raw, message):
    from alft_cli.eval import read_completions

    with pytest.raises(UserError, match=message) as err:
        read_completions(str(_completions(tmp_path, rows, raw)))
    assert "\n" not in str(err.value)


def _scored_rows():
    # each of these crashes matplotlib's mathtext parser: "$\\alph$", "$\\frac{$x"
    return [{"id": "q$\\alph$", "variant": "identity", "completion": "#### 5", "gold": "$5"},
            {"id": "q$\\alph$", "variant": "identity", "completion": "$x^{$ #### 5", "gold": "$5"},
            {"id": "$\\frac{$x", "variant": "identity", "completion": "$$ \\alpha #### 3", "gold": "$3$"}]


def _finish(tmp_path):
    from omegaconf import OmegaConf

    from alft_cli.eval import finish

    cfg = OmegaConf.create({"dataset": {"style": "gsm8k", "strict": False}, "eval": {"show": 4}})
    return finish(tmp_path, _scored_rows(), [1, 2], {"model_label": "$\\frac{$m"}, cfg)


def test_dollar_signs_in_ids_golds_and_answers_are_plotted_as_text(tmp_path):
    metrics = _finish(tmp_path)
    assert metrics["n_problems"] == 2
    for png in ("pass_at_k.png", "answer_histograms.png"):
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG") and f"]({png})" in (tmp_path / "report.md").read_text()


def test_a_plot_that_cannot_be_drawn_never_costs_the_report(tmp_path, monkeypatch, caplog):
    from alft_cli import report

    def broken(path, *args):
        raise ValueError("no fonts on this machine")

    monkeypatch.setattr(report, "plot_histograms", broken)
    _finish(tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "](pass_at_k.png)" in text and "answer_histograms" not in text
    assert json.loads((tmp_path / "metrics.json").read_text())["n_problems"] == 2
    assert "could not draw answer_histograms.png (ValueError: no fonts on this machine)" in caplog.text
