"""Study v2 (issue 12): scripts/study_stats.py against hand-checked cases, the arms' equal budget from the
composed configs, scripts/study_run.py's resume from the committed results files (with a stand-in for the
`alft` commands, and once for real on the tiny model), scripts/study_report.py's numbers recomputed from
those files, and the Makefile's guards around the study 2 runner (one at a time; uncommitted results named)."""

from __future__ import annotations

import fcntl
import importlib.util
import itertools
import json
import math
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

REPO = Path(__file__).resolve().parents[2]


def _script(name: str):
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- statistics, by hand
def test_permutation_test_is_exact_on_hand_counted_cases():
    s = _script("study_stats")
    # relabelings of {1,2,3,4} into two pairs: only the observed one has a difference >= 2
    assert s.permutation_p([3, 4], [1, 2]) == (pytest.approx(1 / 6), True)
    # margin 2 shifts a to [5, 6] against [4, 5]: differences 1, -1, 0, 0, 1, -1 -> p = 2/6
    assert s.permutation_p([3, 4], [4, 5], margin=2)[0] == pytest.approx(1 / 3)
    assert s.permutation_p([1, 2], [3, 4])[0] == pytest.approx(1.0)


def test_permutation_p_counts_every_relabeling_with_ties_and_margins():
    s = _script("study_stats")
    rng = np.random.default_rng(0)
    for trial in range(60):  # values on a 1/8 grid: many tied sums, as per-seed pass@1 on a 1/800 grid
        a, b = rng.integers(0, 6, rng.integers(1, 7)) / 8, rng.integers(0, 6, rng.integers(1, 7)) / 8
        margin = (0.0, 0.25)[trial % 2]
        pooled, observed = np.concatenate([a + margin, b]), (a + margin).mean() - b.mean()
        diffs = []
        for idx in itertools.combinations(range(len(pooled)), len(a)):
            first = np.isin(np.arange(len(pooled)), idx)
            diffs.append(pooled[first].mean() - pooled[~first].mean())
        brute = np.mean(np.asarray(diffs) >= observed - 1e-12)
        assert s.permutation_p(a, b, margin) == (pytest.approx(brute, abs=1e-12), True)


def test_permutation_p_is_exact_at_the_studys_sixteen_seeds_and_estimated_beyond_forty():
    s = _script("study_stats")
    low, high = np.arange(16) / 800, 0.5 + np.arange(16) / 800
    assert s.permutation_p(high, low) == (pytest.approx(1 / math.comb(32, 16), rel=1e-9), True)
    assert s.permutation_p(high, low[:15]) == (pytest.approx(1 / math.comb(31, 16), rel=1e-9), True)
    p, exact = s.permutation_p(np.r_[high, 0.7, 0.8, 0.9, 1.0, 1.1], np.r_[low, 0.1, 0.2, 0.3, 0.4])
    assert not exact and p < 1e-3


def test_welch_matches_the_formula():
    s = _script("study_stats")
    # means 2 and 1/3, variances 1 and 1/3: SE² = 1/3 + 1/9 = 4/9, t = (5/3) / (2/3) = 2.5, df = 3.2
    t, df, p = s.one_sided_welch([1, 2, 3], [0, 0, 1])
    assert (t, df) == (pytest.approx(2.5), pytest.approx(3.2))
    assert p == pytest.approx(stats.t.sf(2.5, 3.2))
    # non-inferiority margin: a + 0.5 against b
    assert s.one_sided_welch([1, 2, 3], [0, 0, 1], margin=0.5)[0] == pytest.approx((5 / 3 + 0.5) / (2 / 3))
    assert math.isnan(s.one_sided_welch([1], [0, 1])[2])


def test_holm_adjusts_in_order_and_skips_missing_tests():
    s = _script("study_stats")
    # sorted 0.01, 0.03, 0.04 -> 3·0.01, 2·0.03, max(0.06, 1·0.04)
    assert s.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = s.holm([math.nan, 0.02, 0.04])
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.04, 0.04])
    assert s.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("level", ["seeds", "problems", "samples"])
def test_hierarchical_bootstrap_resamples_each_level(level):
    """Each level alone: values 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4."""
    s = _script("study_stats")
    n, c = {"seeds": (np.full((2, 3), 4), np.array([[4, 4, 4], [0, 0, 0]])),  # seed means 1 and 0
            "problems": (np.ones((1, 2)), np.array([[1, 0]])),  # one sample of each of two problems
            "samples": (np.full((1, 1), 2), np.array([[1]]))}[level]  # c* ~ Binomial(2, 1/2)
    lo, hi, reps = s.hierarchical_bootstrap([(n, c)], [1], n_boot=4000, seed=1)
    assert (lo, hi) == (0.0, 1.0)
    for value, prob in ((0.0, 0.25), (0.5, 0.5), (1.0, 0.25)):
        assert np.mean(np.isclose(reps, value)) == pytest.approx(prob, abs=0.03)


def test_hierarchical_bootstrap_pairs_problems_across_arms():
    """Two arms with the same per-problem outcomes differ by exactly 0 in every replicate (paired problems);
    a constant gap stays that gap."""
    s = _script("study_stats")
    n, c = np.ones((1, 4)), np.array([[1, 0, 1, 0]])
    lo, hi, reps = s.hierarchical_bootstrap([(n, c), (n, c)], [1, -1], n_boot=500)
    assert (lo, hi) == (0.0, 0.0) and not reps.any()
    lo, hi, _ = s.hierarchical_bootstrap([(n, np.ones((1, 4))), (n, np.zeros((1, 4)))], [1, -1], n_boot=200)
    assert (lo, hi) == (1.0, 1.0)
    with pytest.raises(ValueError, match="same, non-empty problem columns"):
        s.hierarchical_bootstrap([(n, c), (np.ones((1, 3)), np.zeros((1, 3)))], [1, -1])


def _seed_record(p: float, problems: int, seed: int = 0) -> dict:
    """One seed's study record whose pass@1 is p (to 1/(4·problems)): `problems` problems × 4 samples."""
    right = round(4 * problems * p)
    cs = [right // problems + (i < right % problems) for i in range(problems)]
    return {"seed": seed, "protocol": {"eval_n": 4},
            "metrics": {"sampled": {"maj@4": p, "pass@4": p, "answer_entropy": 0.0, "unparsed_rate": 0.0},
                        "greedy": {"pass@1": p}},
            "problems": [{"id": f"q{i}", "variant": "identity", "n": 4, "c": c} for i, c in enumerate(cs)]}


def test_seed_rule_and_minimum_detectable_effect():
    s = _script("study_stats")
    # large n: the normal approximation (z_0.95 + z_0.8) · σ · sqrt(2/n)
    assert s.mde(1.0, 10_000, 0.05) == pytest.approx((1.6449 + 0.8416) * math.sqrt(2 / 10_000), rel=1e-3)
    assert s.pooled_sd([[0, 2], [1, 3], [5]]) == (pytest.approx(math.sqrt(2)), 2)
    # the plan's rule: n = ⌈2 (z_{1−α} + z_0.8)² σ² / Δ²⌉ from σ of the first 6 seeds, then min(n, 16)
    z = 2.1280 + 0.8416  # z_{1 − 0.05/3}, z_0.8
    assert s.seeds_needed(0.03, 0.05, 0.05 / 3)[0] == 7  # 17.64 · 0.03² / 0.05² = 6.35
    assert s.seeds_needed(0.04, 0.05, 0.05 / 3)[0] == 12  # 11.29
    for sigma in (0.01, 0.0291, 0.03, 0.04, 0.0476, 0.05, 0.086):
        n = math.ceil(2 * z**2 * sigma**2 / 0.05**2)
        assert s.seeds_needed(sigma, 0.05, 0.05 / 3)[0] == min(max(n, 6), 16), sigma
    assert s.seeds_needed(0.01, 0.05, 0.05 / 3)[0] == 6
    n, why = s.seeds_needed(0.086, 0.05, 0.05 / 3, have=6)
    assert n == 16 and "minimum detectable effect and stop" in why  # σ far above 0.06: extend to 16, then stop
    assert s.seeds_needed(0.086, 0.05, 0.05 / 3, have=3) == (6, "3 seeds so far: run the plan's first 6")


def test_the_seed_rule_is_sized_on_the_first_six_seeds():
    """PLAN.md: σ of seeds 0–5 fixes the number of seeds; later seeds change the MDE, not the decision."""
    report, stats_ = _script("study_report"), _script("study_stats")

    first = {arm: [0.3, 0.375, 0.3, 0.375, 0.3, 0.375] for arm in report.LABEL_FREE}  # σ = 0.041
    by_arm = {arm: [_seed_record(p, 20, s) for s, p in enumerate(v + [0.0, 1.0])] for arm, v in first.items()}
    rule = report.seed_rule(by_arm, report.parse_args(["results"]))
    sigma6 = stats_.pooled_sd(list(first.values()))[0]
    assert (rule["recommended_seeds"], rule["why"]) == (12, stats_.seeds_needed(sigma6, 0.05, 0.05 / 3, have=8)[1])
    assert rule["seeds_now"] == 8 and rule["pooled_sd"] > sigma6  # seeds 6 and 7 widen σ, not the rule
    assert not rule["complete"] and not rule["stops_at_mde"]  # 8 of 12 seeds


def test_the_seed_rule_paragraph_says_when_the_plan_stops_with_its_minimum_detectable_effect():
    report, stats_ = _script("study_report"), _script("study_stats")
    rule = {"pooled_sd": 0.097, "df": 60, "alpha": 0.05 / 3, "seeds_now": 16, "mde_now": 0.106,
            "mde_at_most": 0.106, "recommended_seeds": 16, "why": "σ = 0.046 over the first 6 seeds …: 16 seeds",
            "complete": True, "stops_at_mde": True}
    text = "\n".join(report.seed_rule_lines(rule))
    assert "t): 0.106 with 16 seeds." in text and "16 in every label-free arm: the plan's seeds are in" in text
    assert "above the plan's 0.06: as the plan says, the study stops at 16 seeds" in text
    assert "its minimum detectable effect is 0.106" in text and "so far" not in text
    quiet = "\n".join(report.seed_rule_lines({**rule, "pooled_sd": 0.05, "stops_at_mde": False}))
    assert "stops" not in quiet and "the plan's seeds are in" in quiet
    early = "\n".join(report.seed_rule_lines({**rule, "seeds_now": 9, "mde_now": 0.14, "complete": False,
                                               "stops_at_mde": False}))
    assert "0.140 with 9 seeds, 0.106 with 16." in early and "at least 9 in every label-free arm so far" in early
    assert "stops" not in early and stats_.STOP_SD == 0.06


def test_the_plans_test_keeps_the_familywise_error_at_alpha():
    """The report's verdicts (one-sided exact permutation tests on 6 vs 6 per-seed means, Holm over the three
    contrasts, supported at p < 0.05) under the global null, non-inferiority at its boundary (C3 = C1 + 0.02),
    σ = 0.05: at most α of simulated studies support any contrast (2,000 studies: 4.3 %; without Holm, 13 %
    on 1,000). The first study's rule, |Δ| > 2·SE with 3 seeds, supports a single null contrast in about
    11 % of such studies (issue 12)."""
    report = _script("study_report")
    args = report.parse_args(["results", "--boot", "2"])
    rng = np.random.default_rng(12)

    studies, any_supported, old_rule = 300, 0, 0
    shift = {"coherence": 0.0, "coherence_null": 0.0, "random": 0.0, "majority": 0.02}
    for _ in range(studies):
        by_arm = {arm: [_seed_record(p, 200) for p in 0.35 + d + 0.05 * rng.standard_normal(6)]
                  for arm, d in shift.items()}
        any_supported += any(r["verdict"] == "supported" for r in report.primary(by_arm, args))
        a, b = 0.35 + 0.05 * rng.standard_normal(3), 0.35 + 0.05 * rng.standard_normal(3)
        old_rule += abs(a.mean() - b.mean()) > 2 * math.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 3)
    se = math.sqrt(0.05 * 0.95 / studies)
    assert 0 < any_supported / studies <= 0.05 + 2 * se, any_supported
    assert old_rule / studies > 0.08, old_rule


def test_parallel_runs_share_the_cpu_threads(monkeypatch):
    run = _script("study_run")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(run.os, "cpu_count", lambda: 16)
    assert [run.child_env(j)["OMP_NUM_THREADS"] for j in (1, 2, 3, 32)] == ["16", "8", "5", "1"]
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert run.child_env(2)["OMP_NUM_THREADS"] == "4"


# ---------------------------------------------------------------- arms
def test_every_arm_trains_one_problem_of_16_completions_per_step():
    run = _script("study_run")
    transforms = run.PROMPTS
    for arm, (_, overrides) in run.ARMS.items():
        if overrides is None:
            continue
        cfg = run.compose_train(["model=tiny", *run.train_overrides(arm, 3, transforms), "trainer.max_steps=80"])
        b = run.budget(cfg, 80)
        assert run.check_budget(b, 80) is None, (arm, b)
        c1_layout = arm.startswith("coherence") or arm == "random"  # C4 keeps C1's prompts and layout
        assert (b["variants"], b["generations"]) == ((4, 4) if c1_layout else (1, 16)), arm
        if arm == "random":
            assert cfg["objective"]["params"]["seed"] == 3
    assert "problems_per_step 2.0 (not 1)" in run.check_budget(
        {"steps": 80, "completions_per_step": 16, "problems_per_step": 2.0}, 80)


def test_null_arm_trains_identical_prompts_and_c1_distinct_ones():
    from omegaconf import OmegaConf

    from alft_cli.data import Problem, variant_labels
    from alft_cli.train import training_rows

    run = _script("study_run")
    transforms = ["identity", "paraphrase", "reorder", "paraphrase+reorder"]
    problem = Problem(uid="p0", question="State the final answer to the following arithmetic problem: 3 + 4 =",
                      gold="7")
    for arm, distinct in (("coherence_null", 1), ("coherence", 4)):
        cfg = OmegaConf.create(run.compose_train(["model=tiny", *run.train_overrides(arm, 0, transforms)]))
        rows = training_rows([problem], cfg)
        assert [r["variant"] for r in rows] == variant_labels(cfg.transforms)
        assert len({r["prompt"][-1]["content"] for r in rows}) == distinct, [r["prompt"] for r in rows]


# ---------------------------------------------------------------- the runner with a stand-in for `alft`
QUALITY = {"base": 0.3, "coherence": 0.6, "coherence_null": 0.45, "majority": 0.5, "random": 0.3, "correctness": 0.7}


def fake_alft(calls: list[str]):
    """A stand-in for run_alft: writes the files `alft train` / `alft eval` would, with answers whose
    accuracy depends on the arm, seed and step (read from the model path)."""
    from alft_cli.scoring import compute_metrics

    def run_alft(argv: list[str], run_dir: Path, env: dict | None = None) -> float:
        kv = dict(a.lstrip("+").split("=", 1) for a in argv[2:])
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "stdout.log").write_text(f"$ {shlex.join(argv)}\n")
        calls.append(f"{argv[1]} {run_dir.as_posix().split('/out/')[1]}")
        if argv[1] == "train":
            steps, saves = int(kv["trainer.max_steps"]), int(kv.get("trainer.save_steps", 0))
            transforms = kv["transforms"].strip("[]").split(",") if "transforms" in kv else None
            cfg = {"trainer": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2,
                               "num_generations": int(kv["trainer.num_generations"])},
                   "transforms": transforms}
            (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
            (run_dir / "train_log.jsonl").write_text("".join(
                json.dumps({"step": s, "loss": 0.1, "reward": s / steps, "answers/answer_entropy": 1 - s / steps,
                            "answers/majority_share": 0.5, "answers/unparsed_rate": 0.1, "step_time": 1.0}) + "\n"
                for s in range(1, steps + 1)))
            models = ["final_model", *(f"checkpoint-{s}" for s in range(saves, steps + 1, saves or steps + 1) if saves)]
            for m in models:
                (run_dir / m).mkdir(exist_ok=True)
                (run_dir / m / "config.json").write_text("{}")
            (run_dir / "metrics.json").write_text(json.dumps({"steps": steps}))
            return 1.0
        model = kv["model"]
        arm = "base" if "/" not in model else Path(model).parents[2].name
        step = 0 if "/" not in model else int(model.split("-")[-1]) if "checkpoint" in model else 2
        rng = random.Random(f"{arm}{kv['seed']}{step}{kv['eval.n']}")
        quality = QUALITY[arm] * (0.8 + 0.1 * step) + rng.uniform(-0.1, 0.1)
        n = int(kv["eval.n"])
        rows = [{"id": f"q{i}", "variant": v, "completion": "", "gold": "1", "answer": a, "correct": a == "1"}
                for v in kv["transforms"].strip("[]").split(",") for i in range(int(kv["eval.limit"]))
                for a in (("1" if rng.random() < quality else rng.choice(["2", None])) for _ in range(n))]
        (run_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        ks = [1, n] if n > 1 else [1]
        (run_dir / "metrics.json").write_text(json.dumps({**compute_metrics(rows, ks),
                                                          "protocol": {"checker_version": "test",
                                                                       "dtype": kv.get("model.dtype")}}))
        return 1.0

    return run_alft


def _git(repo: Path, *cmd: str) -> str:
    return subprocess.run(["git", *cmd], cwd=repo, check=True, capture_output=True, text=True).stdout


def _problems_pass1(record: dict) -> float:
    first = record["problems"][0]["variant"]
    return statistics.mean(p["c"] / p["n"] for p in record["problems"] if p["variant"] == first)


def test_runner_resumes_from_committed_results_and_the_report_recomputes_them(tmp_path, monkeypatch, capsys):
    run, report, stats_ = _script("study_run"), _script("study_report"), _script("study_stats")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t"), monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t"), monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")
    calls: list[str] = []
    monkeypatch.setattr(run, "REPO", repo)
    monkeypatch.setattr(report, "REPO", repo)
    monkeypatch.setattr(run, "run_alft", fake_alft(calls))
    results, out = repo / "docs" / "results" / "t", tmp_path / "out"
    argv = ["--study", "t", "--results", str(results), "--out", str(out), "--model", "tiny", "--seeds", "0", "1",
            "2", "--steps", "2", "--eval-steps", "1", "2", "--eval-limit", "6", "--eval-n", "4", "--commit",
            "--jobs", "2"]
    assert run.main(argv) == 0
    files = sorted(str(p.relative_to(results)) for p in results.rglob("step*.json"))
    assert len(files) == 3 * (1 + 5 * 2) and "runs/base/seed1/step0.json" in files
    assert len(calls) == 3 * (2 + 5 * 5)  # base: 2 evals; trained arms: 1 training + 2 × 2 evals
    assert len(_git(repo, "log", "--oneline").splitlines()) == 2 + len(files)  # init, study.json, one per file
    assert not _git(repo, "status", "--porcelain")
    assert not list(out.rglob("checkpoint-*")) and not list(out.rglob("final_model"))  # models deleted

    rec = json.loads((results / "runs" / "coherence" / "seed1" / "step1.json").read_text())
    assert rec["budget"] == {"steps": 2, "completions_per_step": 16, "variants": 4, "generations": 4,
                             "problems_per_step": 1.0}
    assert rec["curve"]["step"] == [1] and not rec["commit"]["train"]["dirty"]
    assert _git(repo, "cat-file", "-t", rec["commit"]["train"]["commit"]).strip() == "commit"
    assert "checkpoint-1" in rec["commands"]["sampled"] and "final_model" not in rec["commands"]["greedy"]
    # every model is scored in the training precision (tiny: float32), not hub.yaml's bfloat16 for a path
    assert all("model.dtype=float32" in rec["commands"][w] for w in ("sampled", "greedy"))
    ids = [p["id"] for p in rec["problems"]]
    assert len(ids) == 12 and {p["variant"] for p in rec["problems"]} == {"identity", "paraphrase"}
    assert rec["metrics"]["sampled"]["pass@1"] == pytest.approx(_problems_pass1(rec))
    assert 0 <= rec["metrics"]["sampled"]["agreement"] <= 1  # the cross-variant agreement is kept
    assert all(p["greedy"] in (0, 1) for p in rec["problems"][:6]) and rec["problems"][6]["greedy"] is None

    # A fresh machine: outputs gone, nothing runs again.
    shutil.rmtree(out)
    calls.clear()
    assert run.main(argv) == 0 and calls == []
    # A lost step-1 file: the model is gone, so its arm and seed train again and only step 1 is evaluated.
    kept = (results / "runs" / "majority" / "seed2" / "step2.json").read_text()
    (results / "runs" / "majority" / "seed2" / "step1.json").unlink()
    assert run.main(argv) == 0
    assert calls == ["train majority/seed2/train", "eval majority/seed2/step1/eval-sampled",
                     "eval majority/seed2/step1/eval-greedy"]
    assert (results / "runs" / "majority" / "seed2" / "step2.json").read_text() == kept
    assert "majority/seed2/step1" in _git(repo, "log", "-1", "--format=%s")
    # A different protocol in the same results directory is refused.
    with pytest.raises(SystemExit, match="holds a study with other eval_steps, steps;"):
        run.main([*argv, "--steps", "3", "--eval-steps", "3"])

    # The report: every primary number recomputed from the files.
    report.main([str(results), "--boot", "300"])
    summary = json.loads((results / "report.json").read_text())
    md = (results / "report.md").read_text()
    assert "Equal budget, 1 problem × 16 per step: yes" in md and "WARNING" not in md
    per_seed = {arm: [_problems_pass1(json.loads((results / "runs" / arm / f"seed{s}" / "step2.json").read_text()))
                      for s in range(3)] for arm in QUALITY if arm != "base"}
    expected_p = []
    for c, (name, a, b, margin) in zip(summary["contrasts"], report.CONTRASTS):
        assert c["name"] == name
        assert c["effect"] == pytest.approx(statistics.mean(per_seed[a]) - statistics.mean(per_seed[b]))
        assert c["p_permutation"] == pytest.approx(stats_.permutation_p(per_seed[a], per_seed[b], margin)[0])
        assert c["p_welch"] == pytest.approx(stats_.one_sided_welch(per_seed[a], per_seed[b], margin)[2])
        assert c["ci"][0] <= c["effect"] + 0.05 and c["effect"] - 0.05 <= c["ci"][1]
        expected_p.append(c["p_permutation"])
        assert f"| {name} | 3/3 | {c['effect']:+.3f} |" in md
    for c, p in zip(summary["contrasts"], stats_.holm(expected_p)):
        assert c["p_holm"] == pytest.approx(p)
        assert c["verdict"] == "interim: " + ("supported" if p < 0.05 else "not supported")  # 3 of 6 seeds
    sigma, _ = stats_.pooled_sd([per_seed[a] for a in report.LABEL_FREE])
    assert summary["seed_rule"]["pooled_sd"] == pytest.approx(sigma)
    assert f"**Seeds per label-free arm: {summary['seed_rule']['recommended_seeds']}**" in md
    assert "; at least 3 in every label-free arm so far)." in md
    assert summary["interim"] and "**Interim: 3 of the plan's 6 seeds**" in md
    assert summary["stats"]["coherence"]["2"]["pass@1"]["mean"] == pytest.approx(statistics.mean(per_seed["coherence"]))
    for png in ("curves.png", "pass_at_1.png"):
        assert (results / png).read_bytes()[:4] == b"\x89PNG"
    with monkeypatch.context() as m:  # had the seed rule asked for 3 seeds, these would be the verdicts
        m.setattr(report.study_stats, "seeds_needed", lambda *a, **k: (3, "3 seeds"))
        report.main([str(results), "--boot", "50"])
    final = json.loads((results / "report.json").read_text())
    assert not final["interim"] and "Interim" not in (results / "report.md").read_text()
    assert [c["verdict"] for c in final["contrasts"]] == [c["verdict"][len("interim: "):] for c in summary["contrasts"]]

    # A protocol change that only shapes training leaves the untrained base arm's files valid; others do not.
    study_file = results / "study.json"
    original = study_file.read_text()
    study = json.loads(original)
    study["protocol"]["train_common"] = [*study["protocol"]["train_common"], "trainer.logging_steps=1"]
    study_file.write_text(json.dumps(study))
    report.main([str(results), "--boot", "50"])
    warned = [x for x in (results / "report.md").read_text().splitlines() if "protocol differs" in x]
    assert warned and not any("base/" in x for x in warned) and any("coherence/seed0/step1" in x for x in warned)
    study["protocol"]["eval_limit"] = 7
    study_file.write_text(json.dumps(study))
    report.main([str(results), "--boot", "50"])
    assert "base/seed0/step0: protocol differs from study.json" in (results / "report.md").read_text()
    study_file.write_text(original)

    # Runs from two commits that differ in training code are flagged.
    assert "identical in alft_cli, conf, pyproject.toml" in md
    (repo / "alft_cli").mkdir()
    (repo / "alft_cli" / "rewards.py").write_text("changed\n")
    _git(repo, "add", "alft_cli"), _git(repo, "commit", "-q", "-m", "change training code")
    file = results / "runs" / "random" / "seed0" / "step2.json"
    rec = json.loads(file.read_text())
    rec["commit"]["train"]["commit"] = _git(repo, "rev-parse", "HEAD").strip()
    file.write_text(json.dumps(rec))
    report.main([str(results), "--boot", "50"])
    md = (results / "report.md").read_text()
    assert "training or scoring code differs in alft_cli/rewards.py: rerun the affected arms" in md


def test_left_over_runs_are_reused_only_by_the_command_that_made_them(tmp_path, monkeypatch):
    run = _script("study_run")
    calls: list[str] = []
    monkeypatch.setattr(run, "REPO", tmp_path)
    monkeypatch.setattr(run, "run_alft", fake_alft(calls))
    results, out = tmp_path / "results", tmp_path / "out"
    argv = ["--study", "t", "--results", str(results), "--out", str(out), "--model", "tiny", "--seeds", "0",
            "--steps", "2", "--eval-steps", "2", "--eval-limit", "4", "--eval-n", "2", "--arms", "base",
            "coherence", "--keep-models"]
    assert run.main(argv) == 0 and len(calls) == 2 + 1 + 2
    # The results files lost, the scratch kept: the same command reuses every model and eval ...
    shutil.rmtree(results)
    calls.clear()
    assert run.main(argv) == 0 and calls == []
    # ... another task (a new study in a fresh results directory) trains and evaluates everything again.
    shutil.rmtree(results)
    assert run.main([*argv, "--set", "dataset=addition"]) == 0
    assert len(calls) == 2 + 1 + 2 and calls[0].startswith("eval base/seed0/step0")
    record = json.loads((results / "runs" / "base" / "seed0" / "step0.json").read_text())
    assert "dataset=addition" in record["commands"]["sampled"]


def test_an_interrupted_training_goes_on_from_its_checkpoint(tmp_path, monkeypatch):
    run = _script("study_run")
    calls: list[str] = []
    fake = fake_alft(calls)
    seen: list[list[str]] = []
    killed: list[bool] = []

    def interrupted_once(argv, run_dir, env=None):
        seen.append(sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else [])
        if argv[1] == "train" and not killed:  # the first training dies after its first checkpoint
            killed.append(True)
            run_dir.mkdir(parents=True)
            (run_dir / "stdout.log").write_text(f"$ {shlex.join(argv)}\n")
            (run_dir / "checkpoint-20").mkdir()
            raise RuntimeError("killed")
        return fake(argv, run_dir, env)

    monkeypatch.setattr(run, "REPO", tmp_path)
    monkeypatch.setattr(run, "run_alft", interrupted_once)
    argv = ["--study", "t", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"), "--model",
            "tiny", "--seeds", "0", "--steps", "40", "--eval-steps", "40", "--eval-limit", "4", "--eval-n", "2",
            "--arms", "coherence"]
    assert run.main(argv) == 1  # the run failed; its directory is kept
    assert run.main(argv) == 0
    assert seen[1] == ["checkpoint-20", "stdout.log"] and calls[0] == "train coherence/seed0/train"
    train = run.Unit("coherence", 0, run.parse_args(argv)).train_argv()
    assert "trainer.resume_from_checkpoint=auto" in train and "trainer.save_steps=20" in train
    # a directory another command left behind is not resumed
    shutil.rmtree(tmp_path / "results")
    state = tmp_path / "out" / "coherence" / "seed0" / "train" / "study_train.json"
    assert json.loads(state.read_text())["resumed"] is True
    seen.clear()
    assert run.main([*argv, "--train-set", "trainer.learning_rate=1e-5"]) == 0
    assert seen[0] == []


# ---------------------------------------------------------------- the Makefile's study 2 guards
def _make_probe(recipe: str, tree: Path) -> subprocess.CompletedProcess:
    """Run `recipe` as a target of the repository's Makefile, with STUDY2_TREE at `tree`."""
    argv = ["make", "-s", "--eval", f"probe: ; {recipe}", "probe", f"STUDY2_TREE={tree}"]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def _makefile_rules() -> tuple[dict[str, str], dict[str, tuple[list[str], str]]]:
    """The Makefile's variables (name -> value) and rules (target -> (prerequisites, recipe)), lines joined."""
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    variables, rules, target = {}, {}, None
    for line in text.splitlines():
        if line.startswith("\t") and target:
            rules[target] = (rules[target][0], rules[target][1] + line + "\n")
        elif match := re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*[:?]?=(.*)", line):
            variables[match[1]], target = match[2], None
        elif match := re.match(r"([^\s:#=.][^\s:=]*):(?!=)(.*)", line):
            target = match[1]
            rules[target] = (match[2].split(";")[0].split(), "")
        else:
            target = None
    return variables, rules


def test_every_makefile_target_that_runs_the_venv_installs_it_first():
    variables, rules = _makefile_rules()
    uses_venv = {"BIN"}  # variables that run something from the venv, directly or through another variable
    while grown := {name for name, value in variables.items()
                    if name not in uses_venv and any(f"$({used})" in value for used in uses_venv)}:
        uses_venv |= grown

    def prerequisites(target: str) -> set[str]:
        found = set(rules.get(target, ([], ""))[0])
        return found.union(*(prerequisites(name) for name in found))

    runners = {target for target, (_, recipe) in rules.items()
               if target != "$(VENV)/.installed" and any(f"$({name})" in recipe for name in uses_venv)}
    assert {"study2-merge", "study2-extend", "test", "demo"} <= runners
    assert [target for target in sorted(runners) if "install" not in prerequisites(target)] == []


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("flock")), reason="needs make and flock")
def test_a_second_study_2_runner_exits_with_75_and_starts_nothing(tmp_path):
    (tmp_path / "outputs").mkdir()
    lock, recipe = tmp_path / "outputs" / "study2.lock", "@$(call locked,echo ran); exit $$status"
    with lock.open("w") as held:  # the first runner: flock(1) takes the same flock(2) lock
        fcntl.flock(held, fcntl.LOCK_EX)
        second = _make_probe(recipe, tmp_path)
    assert "ran" not in second.stdout.split()
    assert f"another study 2 runner holds {lock}" in second.stdout
    assert "Error 75" in second.stderr
    alone = _make_probe(recipe, tmp_path)
    assert (alone.returncode, alone.stdout.split()) == (0, ["ran"])


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_results_written_in_the_worktree_but_not_committed_are_named(tmp_path):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    runs = tmp_path / "docs" / "results" / "study2" / "runs" / "coherence" / "seed3"
    runs.mkdir(parents=True)
    (runs / "step40.json").write_text("{}")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "step40"], check=True)
    assert _make_probe("@$(STUDY2_UNCOMMITTED)", tmp_path).stdout == ""
    (runs / "step80.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a result")
    assert _make_probe("@$(STUDY2_UNCOMMITTED)", tmp_path).stdout.splitlines() == [
        f"make: not committed in {tmp_path}: docs/results/study2/runs/coherence/seed3/step80.json"]


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_a_fresh_machine_recreates_the_study_branch_so_that_it_merges_back_cleanly(tmp_path):
    repo, tree = tmp_path / "repo", tmp_path / "study2"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    study = repo / "docs" / "results" / "study2" / "study.json"

    def commit(where: Path, message: str) -> str:
        subprocess.run([*git, "-C", str(where), "add", "-A"], check=True)
        subprocess.run([*git, "-C", str(where), "commit", "-qm", message], check=True)
        return subprocess.run([*git, "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()

    def session(invocation: str) -> subprocess.CompletedProcess:
        """A machine with only the main branch: make the worktree, add a result there, merge it back."""
        identity = {f"GIT_{who}_{what}": "t" for who in ("AUTHOR", "COMMITTER") for what in ("NAME", "EMAIL")}
        made = subprocess.run(["make", "-s", "-f", str(REPO / "Makefile"), "study2-tree",
                               f"STUDY2_TREE={tree}", f"STUDY2_CODE={code}"], cwd=repo, capture_output=True,
                              text=True, check=False, env={**os.environ, **identity})
        assert made.returncode == 0, made.stderr
        in_tree = tree / study.relative_to(repo)
        in_tree.write_text(json.dumps({"invocations": [*json.loads(in_tree.read_text())["invocations"],
                                                       invocation]}, indent=1) + "\n")
        commit(tree, f"run {invocation}")
        merged = subprocess.run([*git, "merge", "--no-edit", "study2-runs"], capture_output=True, text=True,
                                check=False)
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=True)
        subprocess.run([*git, "branch", "-qD", "study2-runs"], check=True)
        return merged

    subprocess.run(["git", "init", "-qb", "main", str(repo)], check=True)
    (repo / "alft_cli").mkdir()
    (repo / "alft_cli" / "train.py").write_text("v1\n")
    study.parent.mkdir(parents=True)
    study.write_text(json.dumps({"invocations": []}, indent=1) + "\n")
    code = commit(repo, "the study's code")
    (repo / "alft_cli" / "train.py").write_text("v2\n")  # main moves on; the study keeps its code
    commit(repo, "later code")
    assert session("first").returncode == 0
    (repo / "scripts.txt").write_text("main moves on\n")
    commit(repo, "more")
    for invocation in ("second", "third"):  # a fresh branch from `code` would conflict in study.json
        merged = session(invocation)
        assert merged.returncode == 0, merged.stdout
    assert json.loads(study.read_text())["invocations"] == ["first", "second", "third"]
    assert (repo / "alft_cli" / "train.py").read_text() == "v2\n"


# ---------------------------------------------------------------- for real, on the tiny model
@pytest.mark.slow
def test_dry_run_says_how_far_an_unfinished_training_got(tmp_path, monkeypatch, capsys):
    run = _script("study_run")
    argv = ["--study", "t", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"), "--model",
            "tiny", "--seeds", "0", "1", "2", "--steps", "10", "--eval-steps", "5", "10", "--arms", "coherence",
            "--dry-run"]
    for seed, logged in ((0, 7), (1, 10)):
        train = tmp_path / "out" / "coherence" / f"seed{seed}" / "train"
        (train / "checkpoint-5").mkdir(parents=True)
        (train / "checkpoint-5" / "trainer_state.json").write_text("{}")
        (train / "checkpoint-10").mkdir()  # cut short: no trainer_state.json, not resumable
        (train / "train_log.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, logged + 1)))
    (tmp_path / "out" / "coherence" / "seed1" / "train" / "metrics.json").write_text("{}")
    assert run.main(argv) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("# ")]
    assert lines == ["# coherence/seed0: done [], to do [5, 10] (training logged step 7 of 10, resumes from checkpoint-5)",
                     "# coherence/seed1: done [], to do [5, 10] (trained)",
                     "# coherence/seed2: done [], to do [5, 10]"]


def test_report_warns_when_evals_ran_in_different_precisions():
    report = _script("study_report")

    def rec(*dtypes):
        return {"metrics": {w: {"dtype": d} if d else {} for w, d in zip(("sampled", "greedy"), dtypes)}}

    same = {"base": {0: {0: rec("float32", "float32")}}, "coherence": {0: {80: rec("float32", "float32")}}}
    assert report.precision_warnings(same) == []
    mixed = {**same, "random": {3: {40: rec("bfloat16", "float32")}}}
    assert report.precision_warnings(mixed) == [
        ("evals ran in different precisions (bfloat16: 1, e.g. random/seed3/step40 sampled; float32: 5, e.g. "
         "base/seed0/step0 sampled)")]
    old = {**same, "majority": {1: {80: rec(None, None)}}}
    assert report.precision_warnings(old) == [
        "2 eval(s) do not record their precision, e.g. majority/seed1/step80 sampled"]


def test_report_checks_that_a_run_retrained_between_its_steps_sampled_alike():
    report = _script("study_report")

    def rec(step, commit, rewards, kl):
        curve = {"step": list(range(1, len(rewards) + 1)), "reward": rewards, "kl": kl}
        return {"step": step, "commit": {"train": {"commit": commit}}, "curve": curve}

    step40 = rec(40, "a", [0.1, 0.2], [0.0, 0.1])
    once = {"coherence": {0: {40: step40, 80: rec(80, "a", [0.1, 0.2, 0.3], [0.0, 0.1, 0.2])}}}
    warnings, note = report.retraining_check(once)
    curves = ", ".join(report.SAMPLED_CURVE)
    assert warnings == [] and note == ("every run's evaluated steps come from trainings that sampled alike "
                                       f"(their curves' {curves} agree step for step)")
    # trained anew (another commit) with the same samples: kl may move in the last bits, the rewards may not
    again = {"coherence": {4: {40: step40, 80: rec(80, "b", [0.1, 0.2, 0.3], [0.0, 0.1 + 1e-6, 0.2])}}}
    warnings, note = report.retraining_check(again)
    assert warnings == [] and note.startswith("1 run(s) trained anew between evaluated steps, their train "
                                              "commits differ (coherence/seed4); every run's")
    drifted = {"random": {1: {40: step40, 80: rec(80, "b", [0.1, 0.25, 0.3], [0.0, 0.1, 0.2])}}}
    warnings, note = report.retraining_check(drifted)
    assert warnings == [("random/seed1: the trainings behind steps 40 and 80 differ in reward from step 2: "
                         "its evals are of different runs")]
    assert note == ("1 run(s) trained anew between evaluated steps, their train commits differ "
                    "(random/seed1); some runs' trainings sampled differently (warnings above)")


def test_study_on_the_tiny_model_resumes_without_outputs(tmp_path):
    results, out = tmp_path / "results", tmp_path / "out"
    cmd = [sys.executable, str(REPO / "scripts" / "study_run.py"), "--study", "t", "--results", str(results),
           "--out", str(out), "--model", "tiny", "--arms", "coherence", "--seeds", "0", "--steps", "2",
           "--eval-steps", "1", "2", "--eval-limit", "3", "--eval-n", "2", "--max-new-tokens", "8",
           "--set", "dataset.train_size=16", "--train-set", "trainer.max_completion_length=8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for step in (1, 2):
        rec = json.loads((results / "runs" / "coherence" / "seed0" / f"step{step}.json").read_text())
        assert rec["budget"]["completions_per_step"] == 16 and rec["curve"]["step"] == list(range(1, step + 1))
        assert len(rec["problems"]) == 3 * 4 and rec["metrics"]["greedy"]["n_problems"] == 3  # 3 problems × 4 prompts
        assert rec["metrics"]["sampled"]["pass@1"] == pytest.approx(_problems_pass1(rec))
        assert rec["metrics"]["sampled"]["dtype"] == rec["metrics"]["greedy"]["dtype"] == "float32"  # as trained
    assert not list(out.rglob("checkpoint-*")) and not list(out.rglob("final_model"))
    shutil.rmtree(out)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    assert "coherence/seed0: done" in again and not out.joinpath("coherence", "seed0", "train").exists()
