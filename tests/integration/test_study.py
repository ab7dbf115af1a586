"""scripts/study_run.py and scripts/study_report.py end to end on the tiny model (1 seed, 2 steps, 2 conditions
+ base): the run grid resumes, and every number of the report is the one recomputed from the run files."""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = [sys.executable, str(REPO / "scripts" / "study_run.py"), "--model", "tiny", "--seeds", "0", "--steps", "2",
       "--conditions", "base", "correctness", "coherence", "--eval-limit", "3", "--eval-n", "2", "--ood-limit", "0",
       "--train-set", "dataset.train_size=16", "heldout.size=4", "heldout.max_new_tokens=8",
       "trainer.max_completion_length=8", "--eval-set", "eval.max_new_tokens=8"]
RUNS = ["base/seed0/eval-heldout", "correctness/seed0/train", "correctness/seed0/eval-heldout",
        "coherence/seed0/train", "coherence/seed0/eval-heldout"]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def _row(md: str, label: str) -> list[str]:
    """The cells of the first markdown table row that starts with `label`."""
    line = next(x for x in md.splitlines() if x.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def _heldout(study: Path, cond: str) -> dict:
    return json.loads((study / cond / "seed0" / "eval-heldout" / "metrics.json").read_text())


@pytest.mark.slow
def test_study_runs_resumes_and_reports_numbers_from_the_run_files(tmp_path):
    study, results = tmp_path / "study", tmp_path / "results"
    out = _run(*RUN, "--out", str(study))
    finished = [line for line in out.splitlines() if line.startswith("[")]
    assert [line.split()[2] for line in finished] == RUNS and "FAILED" not in out
    again = _run(*RUN, "--out", str(study))
    assert again.count("skipped (done)") == len(RUNS)

    _run(sys.executable, str(REPO / "scripts" / "study_report.py"), str(study), "--out-dir", str(results))
    md = (results / "study.md").read_text()
    for png in ("study_curves.png", "study_pass_at_k.png"):
        assert (results / png).read_bytes()[:4] == b"\x89PNG" and f"]({png})" in md
    labels = json.loads((study / "study.json").read_text())["labels"]
    for cond in ("base", "correctness", "coherence"):
        m = _heldout(study, cond)
        cells = _row(md, labels[cond])
        assert cells[:4] == ["1", f"{m['pass@1']:.3f}", f"{m['maj@2']:.3f}", f"{m['pass@2']:.3f}"]
        assert cells[5:8] == [f"{m[k]:.3f}" for k in ("coherence", "answer_entropy", "unparsed_rate")]
    train = study / "coherence" / "seed0" / "train"
    greedy = json.loads((train / "metrics.json").read_text())["heldout_accuracy_after"]
    times = [json.loads(x)["step_time"] for x in (train / "train_log.jsonl").read_text().splitlines()
             if "step_time" in x]
    before = [json.loads((study / c / "seed0" / "train" / "metrics.json").read_text())["heldout_accuracy_before"]
              for c in ("correctness", "coherence")]
    assert _row(md, labels["coherence"])[4] == f"{greedy:.3f}" and _row(md, labels["coherence"])[-1] == (
        f"{statistics.mean(times):.3f}")
    assert _row(md, labels["base"])[4] == f"{statistics.mean(before):.3f}"
    assert "| GRPO, gold correctness | 2 × 16 (4 × 1 × 4) |" in md and "(1 × 4 × 4)" in md
    assert "Equal budget across conditions: yes" in md and "alft train model=tiny objective=coherence" in md

    # Change the held-out pass@1 of the runs: the gap fraction follows the files.
    for cond, value in (("base", 0.2), ("correctness", 0.6), ("coherence", 0.4)):
        file = study / cond / "seed0" / "eval-heldout" / "metrics.json"
        file.write_text(json.dumps({**_heldout(study, cond), "pass@1": value}))
    _run(sys.executable, str(REPO / "scripts" / "study_report.py"), str(study), "--out-dir", str(results))
    p = {c: _heldout(study, c)["pass@1"] for c in ("base", "correctness", "coherence")}
    expected = (p["coherence"] - p["base"]) / (p["correctness"] - p["base"])
    summary = json.loads((results / "study.json").read_text())
    assert summary["gap_fraction"]["coherence"]["pass@1"] == pytest.approx(expected) == pytest.approx(0.5)
    md = (results / "study.md").read_text()
    gap_table = md.split("## Fraction")[1]
    assert _row(gap_table, labels["coherence"])[0] == f"{expected:.3f}"
    assert f"pass@1 {100 * expected:.0f}%" in md


def test_verdicts_use_the_seeds_spread():
    report = _script("study_report")
    assert report.verdict((0.60, 0.01, 3), (0.50, 0.01, 3))[0] == "win"
    assert report.verdict((0.50, 0.01, 3), (0.60, 0.01, 3))[0] == "lose"
    assert report.verdict((0.52, 0.05, 3), (0.50, 0.05, 3))[0] == "tie"
    assert report.verdict((0.60, None, 1), (0.50, 0.01, 3))[0] == "n/a"
    assert report.gap_fraction((0.4, None, 1), (0.2, None, 1), (0.6, None, 1)) == pytest.approx(0.5)
    assert report.gap_fraction((0.4, None, 1), (0.2, None, 1), (0.2, None, 1)) is None
    # a gap inside the seeds' noise (gold − base ≤ 2·SE) has no meaningful fraction
    assert report.gap_fraction((0.6, 0.01, 3), (0.50, 0.01, 3), (0.70, 0.01, 3)) == pytest.approx(0.5)
    assert report.gap_fraction((0.6, 0.01, 3), (0.50, 0.01, 3), (0.51, 0.01, 3)) is None
    assert report.gap_fraction((0.6, 0.01, 3), (0.50, 0.01, 3), (0.40, 0.01, 3)) is None


def test_conditions_share_the_trainer_batch():
    """Only the objective differs between conditions: no condition touches the batch geometry or steps."""
    run = _script("study_run")
    for _, overrides in run.CONDITIONS.values():
        assert all(o.startswith("objective") for o in overrides), overrides


def test_a_study_may_gain_ood_evals_but_keeps_its_protocol(tmp_path):
    """--evals picks the eval sets of this call; ood_limit may go from 0 to n once, nothing else may change."""
    run = _script("study_run")
    gsm8k, svamp = tmp_path / "gsm8k.jsonl", tmp_path / "svamp.json"
    gsm8k.write_text("{}\n"), svamp.write_text("[]\n")
    base = ["--out", str(tmp_path / "s"), "--model", "tiny", "--seeds", "0", "--steps", "2", "--conditions",
            "base", "coherence", "--gsm8k", str(gsm8k), "--svamp", str(svamp)]

    def write(*extra: str) -> list[str]:
        args = run.parse_args([*base, *extra])
        sets = run.eval_sets(args)
        runs = run.plan(args, sets)
        run.write_study_json(args, runs, list(sets))
        return [r.name for r in runs]

    assert write("--ood-limit", "0") == ["base/seed0/eval-heldout", "coherence/seed0/train",
                                         "coherence/seed0/eval-heldout"]
    assert write("--ood-limit", "5", "--evals", "gsm8k", "svamp") == [
        "base/seed0/eval-gsm8k", "base/seed0/eval-svamp", "coherence/seed0/train", "coherence/seed0/eval-gsm8k",
        "coherence/seed0/eval-svamp"]
    study = json.loads((tmp_path / "s" / "study.json").read_text())
    assert study["protocol"]["ood_limit"] == 5 and study["eval_sets"] == ["gsm8k", "heldout", "svamp"]
    assert len(study["invocations"]) == 2 and "dataset=svamp" in study["commands"]["base/seed0/eval-svamp"]
    for changed in (["--ood-limit", "7"], ["--ood-limit", "5", "--steps", "3"], ["--ood-limit", "0"]):
        with pytest.raises(SystemExit, match="study_run: .* holds a study with other"):
            write(*changed)
