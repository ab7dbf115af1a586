"""One variant record: the same labels and prompts in training rows, eval/sample jobs and histograms."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli.backends import build_jobs
from alft_cli.configs import conf_dir
from alft_cli.data import Problem, load_split, variant_labels, variants
from alft_cli.errors import UserError
from alft_cli.scoring import answer_histograms
from alft_cli.train import training_rows


def _train_cfg(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def test_labels_number_repeated_transforms_and_reject_bad_names():
    assert variant_labels(["identity", "paraphrase", "paraphrase"]) == ["identity", "paraphrase#1", "paraphrase#2"]
    with pytest.raises(UserError, match="^transforms: unknown transform 'nope'"):
        variant_labels(["identity", "nope"])
    with pytest.raises(UserError, match=r"^transforms=\[\] must be a non-empty list"):
        variant_labels([])
    vs = variants(Problem("p", "Compute 3 + 4.", "7"), ["identity", "paraphrase"], seed=0)
    assert [v.label for v in vs] == ["identity", "paraphrase"] and vs[0].question == "Compute 3 + 4."


def test_training_rows_and_eval_jobs_hold_the_same_variants():
    cfg = _train_cfg(["transforms=[identity,paraphrase,paraphrase]", "dataset.heldout_size=3"])
    problems = load_split(cfg.dataset, "heldout")
    rows = training_rows(problems, cfg)
    jobs = build_jobs(cfg.dataset, "heldout", None, cfg.transforms, cfg.seed)
    assert [(r["uid"], r["variant"], r["prompt"]) for r in rows] == [(j.uid, j.variant, j.messages) for j in jobs]
    assert [r["variant"] for r in rows] == ["identity", "paraphrase#1", "paraphrase#2"] * 3


def test_one_histogram_builder_for_eval_and_sample():
    rows = [{"id": "a", "variant": "identity", "gold": "1", "answer": x} for x in ("2", "1", "2", None)]
    rows += [{"id": "a", "variant": "numfmt", "gold": "1", "answer": "1"},
             {"id": "b", "variant": "identity", "gold": "5", "answer": "5"}]
    hists = answer_histograms(rows)  # sample: every problem and variant, no labels
    assert [(h["id"], h["variant"]) for h in hists] == [("a", "identity"), ("a", "numfmt"), ("b", "identity")]
    assert list(hists[0]["counts"].items()) == [("2", 2), ("1", 1), ("<unparsed>", 1)]
    assert "correct" not in hists[0]
    scored = [{**r, "correct": r["answer"] == r["gold"]} for r in rows]
    first = answer_histograms(scored, variant="identity", limit=1)  # eval's plot: first variant, `show` problems
    assert len(first) == 1 and first[0]["correct"] == {"1"} and first[0]["gold"] == "1"
