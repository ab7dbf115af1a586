"""Analyse a study v2 results directory of scripts/study_run.py: report.md, report.json and two PNGs.

Every number is read from the committed runs/<arm>/seed<s>/step<k>.json files (no model, no outputs/):
pass@1 per seed is the mean over the held-out problems of c/n of the headline (first) prompt variant.

The pre-registered analysis (issue 12, docs/results/<study>/PLAN.md), at --step (default: the last):
- three primary contrasts on per-seed means of pass@1: C1 − C2 > 0, C1 − C4 > 0 and C1 ≥ C3 − 0.02
  (non-inferiority, margin 0.02); each with the effect (difference of the seed means), a 95 %
  hierarchical bootstrap CI (seeds, then problems shared by both arms, then samples), a one-sided Welch
  t-test and an exact permutation test on the per-seed means; Holm's correction across the three on the
  --test p-values; verdict: supported when the adjusted p < --alpha, marked interim while an arm has fewer
  seeds than the seed rule asks for;
- secondary metrics, descriptive: maj@n, pass@n, greedy accuracy, cross-variant agreement, answer entropy,
  unparsed rate, pass@n drop (base − arm);
- the seed rule: pooled seed σ of pass@1 over the label-free arms, the minimum detectable effect (80 %
  power, one-sided α/3: Holm's first step) and the recommended number of seeds;
- provenance: the budget of every run (1 problem × 16 completions per step, equal steps) and the distinct
  git commits per arm; runs trained or scored with different code are flagged loudly, and so is a run whose
  evaluated steps come from two trainings (resumed on a fresh machine) that did not sample alike.

Usage: .venv/bin/python scripts/study_report.py docs/results/study2 [--step 80] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study_run
import study_stats

REPO = Path(__file__).resolve().parents[1]
BASE, C1 = "base", "coherence"
LABEL_FREE = ("coherence", "coherence_null", "majority", "random")
# (name, arm a, arm b, margin): H1 mean(a) − mean(b) > −margin
CONTRASTS = (("C1 − C2 > 0", "coherence", "coherence_null", 0.0), ("C1 − C4 > 0", "coherence", "random", 0.0),
             ("C1 ≥ C3 − 0.02", "coherence", "majority", 0.02))
TRAINING_FILES = ("alft_cli", "conf", "pyproject.toml")  # a difference here may change training or scoring


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="results directory of scripts/study_run.py (holds study.json)")
    p.add_argument("--step", type=int, help="evaluated step of the primary analysis (default: the last)")
    p.add_argument("--out-dir", type=Path, help="where report.md etc. go (default: the results directory)")
    p.add_argument("--test", choices=("permutation", "welch"), default="permutation",
                   help="the test whose Holm-adjusted p decides the verdicts (default: permutation)")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise level (default: 0.05)")
    p.add_argument("--effect", type=float, default=0.05,
                   help="effect Δ the seed rule sizes the study for (default: 0.05, study2/PLAN.md)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates (default: 2000)")
    p.add_argument("--smooth", type=int, default=5, help="moving average of the curves, in steps (default: 5)")
    return p.parse_args(argv)


def load_runs(results: Path) -> dict[str, dict[int, dict[int, dict]]]:
    """arm -> seed -> step -> record."""
    runs: dict = defaultdict(lambda: defaultdict(dict))
    for file in sorted((results / "runs").glob("*/seed*/step*.json")):
        r = json.loads(file.read_text())
        runs[r["arm"]][r["seed"]][r["step"]] = r
    return runs


def headline(record: dict) -> list[dict]:
    """The problems of the first (headline) prompt variant."""
    first = record["problems"][0]["variant"]
    return [p for p in record["problems"] if p["variant"] == first]


def seed_values(record: dict) -> dict[str, float]:
    """One seed's numbers: pass@1 recomputed from the per-problem counts, the rest from its metrics."""
    s, g = record["metrics"]["sampled"], record["metrics"]["greedy"]
    n = record["protocol"]["eval_n"]
    probs = headline(record)
    out = {"pass@1": statistics.mean(p["c"] / p["n"] for p in probs), f"maj@{n}": s[f"maj@{n}"],
           f"pass@{n}": s[f"pass@{n}"], "greedy": g["pass@1"], "answer_entropy": s["answer_entropy"],
           "unparsed_rate": s["unparsed_rate"]}
    if "agreement" in s or "coherence" in s:  # `coherence` in evals of study 2's pinned code
        out["agreement"] = s.get("agreement", s.get("coherence"))
    return out


def counts(records: list[dict], problems: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, c) arrays (seeds × problems) of the headline variant, columns in `problems` order."""
    ns, cs = [], []
    for r in records:
        by_id = {p["id"]: p for p in headline(r)}
        ns.append([by_id[u]["n"] for u in problems])
        cs.append([by_id[u]["c"] for u in problems])
    return np.array(ns), np.array(cs)


def shared_problems(records: list[dict]) -> list[str]:
    """Problem ids of the headline variant present in every record, in the first record's order."""
    ids = [{p["id"] for p in headline(r)} for r in records]
    return [p["id"] for p in headline(records[0]) if all(p["id"] in s for s in ids)]


def describe(values: list[float]) -> dict:
    return {"mean": statistics.mean(values) if values else None,
            "sd": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def contrast(name: str, a: list[dict], b: list[dict], margin: float, args: argparse.Namespace) -> dict:
    """Effect, bootstrap CI, Welch and permutation p of H1: mean pass@1(a) − mean pass@1(b) > −margin."""
    if len(a) < 2 or len(b) < 2:
        return {"name": name, "margin": margin, "seeds": [len(a), len(b)], "effect": None, "why": "< 2 seeds"}
    x, y = [seed_values(r)["pass@1"] for r in a], [seed_values(r)["pass@1"] for r in b]
    problems = shared_problems(a + b)
    lo, hi, _ = study_stats.hierarchical_bootstrap([counts(a, problems), counts(b, problems)], [1, -1],
                                                   n_boot=args.boot)
    t, df, p_welch = study_stats.one_sided_welch(x, y, margin)
    p_perm, exact = study_stats.permutation_p(x, y, margin)
    return {"name": name, "margin": margin, "seeds": [len(x), len(y)], "effect": statistics.mean(x) - statistics.mean(y),
            "ci": [lo, hi], "shared_problems": len(problems), "welch_t": t, "welch_df": df, "p_welch": p_welch,
            "p_permutation": p_perm, "permutation_exact": exact}


def primary(by_arm: dict[str, list[dict]], args: argparse.Namespace) -> list[dict]:
    """The three contrasts with Holm-adjusted p of the chosen test and their verdicts."""
    rows = [contrast(name, by_arm.get(a, []), by_arm.get(b, []), m, args) for name, a, b, m in CONTRASTS]
    key = "p_permutation" if args.test == "permutation" else "p_welch"
    adjusted = study_stats.holm([r.get(key, math.nan) for r in rows])
    for r, p in zip(rows, adjusted):
        r["p_holm"] = p
        r["verdict"] = "n/a" if math.isnan(p) else "supported" if p < args.alpha else "not supported"
    return rows


def seed_rule(by_arm: dict[str, list[dict]], args: argparse.Namespace) -> dict:
    """The plan's seed rule (study_stats.seeds_needed): σ of the label-free arms' first RULE_SEEDS seeds sizes
    the study; the minimum detectable effect uses every seed so far. `complete`: every label-free arm has the
    plan's seeds; `stops_at_mde`: complete at MOST_SEEDS with σ above STOP_SD (the plan reports the MDE, stops)."""
    per_seed = [[(r["seed"], seed_values(r)["pass@1"]) for r in by_arm.get(a, [])] for a in LABEL_FREE]
    groups = [[v for _, v in g] for g in per_seed]
    first = [[v for s, v in g if s < study_stats.RULE_SEEDS] for g in per_seed]
    sigma, df = study_stats.pooled_sd(groups)
    alpha = args.alpha / len(CONTRASTS)
    seeds = min((len(g) for g in groups if g), default=0)
    n, why = study_stats.seeds_needed(study_stats.pooled_sd(first)[0], args.effect, alpha, have=seeds)
    complete = seeds >= n
    return {"pooled_sd": sigma, "df": df, "alpha": alpha, "seeds_now": seeds,
            "mde_now": study_stats.mde(sigma, seeds, alpha) if seeds > 1 and not math.isnan(sigma) else None,
            "mde_at_most": None if math.isnan(sigma) else study_stats.mde(sigma, study_stats.MOST_SEEDS, alpha),
            "recommended_seeds": n, "why": why, "complete": complete,
            "stops_at_mde": complete and seeds >= study_stats.MOST_SEEDS and sigma > study_stats.STOP_SD}


def seed_rule_lines(rule: dict) -> list[str]:
    """The report's seed-rule paragraph; once the plan's seeds are in, whether σ stops the study there."""
    sd, now, most = (_p3(rule[k]) for k in ("pooled_sd", "mde_now", "mde_at_most"))
    seeds = rule["seeds_now"]
    mde = f"{now} with {study_stats.count_seeds(seeds)}"
    if seeds != study_stats.MOST_SEEDS:
        mde += f", {most} with {study_stats.MOST_SEEDS}"
    lines = [(f"Pooled seed SD of pass@1 over the label-free arms: {sd} ({rule['df']} df); minimum detectable "
              f"effect (80 % power, one-sided α = {rule['alpha']:.4f}, t): {mde}."),
             f"**Seeds per label-free arm: {rule['recommended_seeds']}** ({rule['why']}; "
             + (f"{seeds} in every label-free arm: the plan's seeds are in)." if rule["complete"]
                else f"at least {seeds} in every label-free arm so far).")]
    if rule["stops_at_mde"]:
        lines.append(f"σ over these seeds, {sd}, is above the plan's {study_stats.STOP_SD}: as the plan says, the "
                     f"study stops at {study_stats.count_seeds(seeds)}, where its minimum detectable effect is {now}.")
    return lines


def provenance(runs: dict) -> tuple[dict, list[str], str]:
    """Distinct commits per arm (train and eval), loud warnings when the code may have differed, and a note."""
    per_arm: dict[str, dict[str, list]] = {}
    everything: set[str] = set()
    warnings = []
    for arm, seeds in runs.items():
        seen: dict[str, set] = {"train": set(), "eval": set()}
        for rec in (r for steps in seeds.values() for r in steps.values()):
            for role, found in seen.items():
                c = rec["commit"][role]
                if c:
                    found.add(c["commit"][:10] + ("+dirty" if c["dirty"] else ""))
                    everything.add(c["commit"])
        per_arm[arm] = {k: sorted(v) for k, v in seen.items()}
    if any("+dirty" in c for arms in per_arm.values() for cs in arms.values() for c in cs):
        warnings.append("some runs ran from a working tree with uncommitted changes (+dirty): their code is "
                        "not exactly the recorded commit")
    note = f"{len(everything)} distinct commit(s)"
    if len(everything) > 1:
        diff = _training_diff(sorted(everything))
        if diff is None:
            warnings.append(f"runs come from {len(everything)} commits that git could not compare here: check "
                            "that they train and score identically")
        elif diff:
            warnings.append(f"runs come from {len(everything)} commits whose training or scoring code differs in "
                            f"{', '.join(diff)}: rerun the affected arms")
        else:
            note += f", identical in {', '.join(TRAINING_FILES)}"
    return per_arm, warnings, note


def precision_warnings(runs: dict) -> list[str]:
    """A warning when evals were scored in different precisions (dtype), or some do not record theirs."""
    found = defaultdict(list)
    for arm, seeds in runs.items():
        for seed, steps in seeds.items():
            for step, rec in steps.items():
                for which, m in rec["metrics"].items():
                    found[m.get("dtype")].append(f"{arm}/seed{seed}/step{step} {which}")
    unrecorded = found.pop(None, [])
    out = []
    if len(found) > 1:
        out.append("evals ran in different precisions (" + "; ".join(
            f"{dtype}: {len(where)}, e.g. {where[0]}" for dtype, where in sorted(found.items())) + ")")
    if unrecorded:
        out.append(f"{len(unrecorded)} eval(s) do not record their precision, e.g. {unrecorded[0]}")
    return out


# curve entries fixed by the sampled completions (not kl or step_time, which float kernels or the host move)
SAMPLED_CURVE = ("reward", "accuracy", "answer_entropy", "majority_share", "unparsed_rate", "agreement",
                 "completion_length")


def retraining_check(runs: dict) -> tuple[list[str], str]:
    """Warnings for a run whose evaluated steps come from trainings that sampled differently, and a note.

    A run resumed on a fresh machine retrains from scratch for the steps not yet committed (models are not
    kept), so its step files can come from two trainings (their train commits differ); the same seed and code
    should sample the same completions, which their curves over the shared steps show.
    """
    warnings, retrained = [], []
    for arm, seeds in runs.items():
        for seed, steps in seeds.items():
            recs = [steps[k] for k in sorted(steps) if steps[k].get("curve")]
            if len({r["commit"]["train"]["commit"] for r in recs if r["commit"]["train"]}) > 1:
                retrained.append(f"{arm}/seed{seed}")
            for a, b in itertools.pairwise(recs):
                for key in SAMPLED_CURVE:
                    va, vb = (dict(zip(r["curve"]["step"], r["curve"].get(key, []))) for r in (a, b))
                    bad = [s for s in sorted(va.keys() & vb.keys()) if not _same(va[s], vb[s])]
                    if bad:
                        warnings.append(f"{arm}/seed{seed}: the trainings behind steps {a['step']} and "
                                        f"{b['step']} differ in {key} from step {bad[0]}: its evals are of "
                                        "different runs")
                        break
    note = (f"{len(retrained)} run(s) trained anew between evaluated steps, their train commits differ "
            f"({', '.join(retrained)}); " if retrained else "")
    if warnings:
        return warnings, note + "some runs' trainings sampled differently (warnings above)"
    return warnings, note + ("every run's evaluated steps come from trainings that sampled alike (their "
                             f"curves' {', '.join(SAMPLED_CURVE)} agree step for step)")


def _same(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(x) and math.isnan(y))


def _training_diff(commits: list[str]) -> list[str] | None:
    """Files under TRAINING_FILES that differ between the first commit and each other one (None: git failed)."""
    files: set[str] = set()
    for other in commits[1:]:
        proc = subprocess.run(["git", "diff", "--name-only", commits[0], other, "--", *TRAINING_FILES], cwd=REPO,
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            return None
        files |= set(proc.stdout.split())
    return sorted(files)


def budget_check(runs: dict, steps: int) -> tuple[list[list[str]], list[str]]:
    """Budget table rows and the problems found (every trained run: 1 problem × 16 per step, `steps` steps)."""
    rows, bad = [], []
    for arm, seeds in runs.items():
        seen = set()
        for seed, stages in seeds.items():
            for rec in stages.values():
                b = rec["budget"]
                if b is None:
                    continue
                seen.add(f"{b['steps']} × {b['completions_per_step']} ({b['problems_per_step']:g} × "
                         f"{b['variants']} × {b['generations']})")
                why = study_run.check_budget(b, steps)
                if why:
                    bad.append(f"{arm}/seed{seed}: {why}")
        if seen:
            rows.append([arm, ", ".join(sorted(seen))])
    return rows, sorted(set(bad))


def table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---" * len(header) + "|",
            *("| " + " | ".join(r) + " |" for r in body)]


def fmt(d: dict | None) -> str:
    if not d or d["mean"] is None:
        return "–"
    return f"{d['mean']:.3f} ± {d['sd']:.3f}" if d["sd"] is not None else f"{d['mean']:.3f}"


def _p(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _p3(x: float | None) -> str:
    return _p(x, 3)


def plot_curves(runs: dict, labels: dict, step: int, smooth: int, out: Path) -> None:
    """Reward, training accuracy, answer entropy, majority share and unparsed rate per step, mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ("reward", "accuracy", "answer_entropy", "majority_share", "unparsed_rate")
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.8))
    for arm, seeds in runs.items():
        curves = [st[step]["curve"] for st in seeds.values() if st.get(step) and st[step]["curve"]]
        for ax, key in zip(axes, panels):
            by_step: dict[int, list[float]] = defaultdict(list)
            for c in curves:
                for s, v in zip(c["step"], c[key]):
                    if v is not None:
                        by_step[s].append(v)
            xs = sorted(by_step)
            means = [statistics.mean(by_step[s]) for s in xs]
            smoothed = [statistics.mean(means[max(0, i - smooth + 1): i + 1]) for i in range(len(means))]
            if xs:
                ax.plot(xs, smoothed, label=labels.get(arm, arm).split(" (")[0])
    for ax, key in zip(axes, panels):
        ax.set(title=key.replace("_", " "), xlabel="step")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"training curves: mean over seeds, moving average of {smooth} steps")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_pass1(cells: dict, labels: dict, out: Path) -> None:
    """pass@1 per arm and evaluated step, with the hierarchical bootstrap 95 % CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [(arm, step) for arm in cells for step in cells[arm]]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names)), 4))
    for i, (arm, step) in enumerate(names):
        c = cells[arm][step]
        ax.bar(i, c["mean"], yerr=[[c["mean"] - c["ci"][0]], [c["ci"][1] - c["mean"]]], capsize=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{labels.get(a, a).split(' (')[0]}\nstep {s}" for a, s in names], fontsize=7, rotation=30,
                       ha="right")
    ax.set(ylabel="held-out pass@1", ylim=(0, 1), title="pass@1 (mean over seeds, hierarchical bootstrap 95 % CI)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


# Protocol keys that only shape training: an untrained model's numbers (the base arm) do not depend on them.
TRAINING_KEYS = ("steps", "eval_steps", "completions_per_step", "transforms", "train_set", "train_common")


def protocol_differs(record: dict, proto: dict) -> bool:
    """Whether a run's protocol differs from the study's in a key that can change its numbers."""
    skip = TRAINING_KEYS if record["budget"] is None else ()
    return any(record["protocol"].get(k) != v for k, v in proto.items() if k not in skip)


def report(results: Path, out_dir: Path, args: argparse.Namespace) -> Path:
    """Write report.md, report.json, curves.png and pass_at_1.png into out_dir; returns report.md."""
    study = json.loads((results / "study.json").read_text())
    proto, labels = study["protocol"], study["labels"]
    step = args.step or proto["steps"]
    n = proto["eval_n"]
    runs = load_runs(results)
    arms = [a for a in study["arms"] if a in runs] + [a for a in runs if a not in study["arms"]]
    warnings = [f"{a}/seed{s}/step{k}: protocol differs from study.json" for a in runs for s, st in runs[a].items()
                for k, r in st.items() if protocol_differs(r, proto)]

    def at(arm: str, k: int) -> list[dict]:
        return [st[k] for _, st in sorted(runs[arm].items()) if k in st]

    keys = ["pass@1", f"maj@{n}", f"pass@{n}", "greedy", "agreement", "answer_entropy", "unparsed_rate"]
    stats: dict = {}
    cells: dict = {}
    for arm in arms:
        for k in sorted({k for st in runs[arm].values() for k in st}):
            recs = at(arm, k)
            vals = [seed_values(r) for r in recs]
            stats.setdefault(arm, {})[k] = {key: describe([v[key] for v in vals if key in v]) for key in keys}
            stats[arm][k]["seeds"] = [r["seed"] for r in recs]
            problems = shared_problems(recs)
            lo, hi, _ = study_stats.hierarchical_bootstrap([counts(recs, problems)], [1], n_boot=args.boot)
            cells.setdefault(arm, {})[k] = {"mean": stats[arm][k]["pass@1"]["mean"], "ci": [lo, hi]}
    base_n = stats.get(BASE, {}).get(0, {}).get(f"pass@{n}", {}).get("mean")
    for per_step in stats.values():
        for s in per_step.values():
            m = s[f"pass@{n}"]["mean"]
            s[f"pass@{n} drop"] = None if base_n is None or m is None else base_n - m

    by_arm = {a: at(a, step) for a in arms}
    contrasts = primary(by_arm, args)
    rule = seed_rule(by_arm, args)
    interim = not rule["complete"]  # the plan decides with its seeds in every arm
    for c in contrasts:
        c["verdict"] = f"interim: {c['verdict']}" if interim and c["verdict"] != "n/a" else c["verdict"]
    commits, commit_warnings, commit_note = provenance(runs)
    budget_rows, budget_bad = budget_check(runs, proto["steps"])
    retrain_warnings, retrain_note = retraining_check(runs)
    warnings += commit_warnings + retrain_warnings + precision_warnings(runs) + [
        f"budget differs: {b}" for b in budget_bad]

    out_dir.mkdir(parents=True, exist_ok=True)
    plot_curves(runs, labels, step, args.smooth, out_dir / "curves.png")
    plot_pass1(cells, labels, out_dir / "pass_at_1.png")

    md = [f"# Study `{results.name}`: pre-registered contrasts of Coherence-GRPO (`{proto['model']}`)", ""]
    md += [f"> **WARNING: {w}**" for w in warnings] + ([""] if warnings else [])
    md += [(f"{proto['steps']} steps × {proto['completions_per_step']} completions per step, evaluated at steps "
           f"{proto['eval_steps']}; held-out: {proto['eval_limit']} problems, {n} samples per problem and variant at "
           f"T = {proto['temperature']} under {proto['eval_transforms']} (pass@k, maj@k and entropy of the first), "
           f"greedy: 1 sample of the first; C1's prompts: {proto['transforms']}. Cells: mean ± sample SD over seeds;"
           " CI: hierarchical bootstrap 95 % (seeds, problems, samples)."), ""]
    md += ["## Results", ""]
    body = []
    for arm in arms:
        for k, s in stats[arm].items():
            c = cells[arm][k]
            drop = s[f"pass@{n} drop"]
            body.append([labels.get(arm, arm), str(k), str(s["pass@1"]["n"]),
                         f"{fmt(s['pass@1'])} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]",
                         *(fmt(s[key]) for key in keys[1:]), "–" if drop is None else f"{drop:+.3f}"])
    md += table(["arm", "step", "seeds", "pass@1 [CI]", f"maj@{n}", f"pass@{n}", "greedy", "agreement",
                 "answer entropy", "unparsed", f"pass@{n} drop"], body)
    md += ["", "![pass@1](pass_at_1.png)", "", "![training curves](curves.png)", ""]
    md += [f"## Primary contrasts (step {step})", "",
           (f"One-sided tests on the per-seed means of pass@1; Holm across the three on the {args.test} p-values, "
           f"α = {args.alpha}. Effect: difference of the seed means; CI: paired hierarchical bootstrap 95 %."), ""]
    if interim:
        md += [(f"**Interim: {rule['seeds_now']} of the plan's {rule['recommended_seeds']} seeds** in the label-free "
                "arm with the fewest. These p-values decide nothing; the verdicts come with the plan's seeds in "
                "every label-free arm (Seed rule, below)."), ""]
    md += table(["contrast", "seeds", "effect", "95 % CI", "Welch t (df)", "p Welch", "p permutation",
                 "p Holm", "verdict"],
                [[c["name"], "/".join(map(str, c["seeds"])), "–" if c["effect"] is None else f"{c['effect']:+.3f}",
                  f"[{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]" if "ci" in c else "–",
                  f"{c['welch_t']:.2f} ({c['welch_df']:.1f})" if "welch_t" in c else "–", _p(c.get("p_welch")),
                  _p(c.get("p_permutation")) + ("" if c.get("permutation_exact", True) else " (MC)"),
                  _p(c["p_holm"]), f"**{c['verdict']}**"] for c in contrasts])
    md += ["", "## Secondary metrics (descriptive, C1 minus each arm)", ""]
    sec = []
    for arm in arms:
        if arm == C1 or step not in stats.get(C1, {}) or (arm != BASE and step not in stats[arm]):
            continue
        other = stats[arm][0 if arm == BASE else step]
        sec.append([labels.get(arm, arm), *("–" if stats[C1][step][key]["mean"] is None or other[key]["mean"] is None
                                            else f"{stats[C1][step][key]['mean'] - other[key]['mean']:+.3f}"
                                            for key in keys)])
    md += table(["C1 minus", *keys], sec) if sec else ["C1 has no runs at this step."]
    md += ["", "## Seed rule", "", *seed_rule_lines(rule), ""]
    md += ["## Provenance", "", "Budget (steps × completions per step (problems × variants × G)):", "",
           *table(["arm", "budget"], budget_rows), "",
           (f"Equal budget, 1 problem × {proto['completions_per_step']} per step: "
           f"{'yes' if not budget_bad else 'NO'}."), "", f"Commits (trained with / scored with; {commit_note}):", "",
           *table(["arm", "train", "eval"], [[a, ", ".join(c["train"]) or "–", ", ".join(c["eval"])]
                                             for a, c in commits.items()]), "",
           f"Trainings: {retrain_note}.", "",
           "Commands: each run's file holds its exact `alft` commands; the study's invocations:", "", "```bash",
           *dict.fromkeys(i["command"] for i in study["invocations"]), "```", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(md))
    summary = {"protocol": proto, "step": step, "stats": stats, "pass@1_ci": cells, "contrasts": contrasts,
               "seed_rule": rule, "interim": interim, "commits": commits, "commit_note": commit_note,
               "retraining_note": retrain_note, "warnings": warnings,
               "values": {a: {s: {k: seed_values(r) for k, r in st.items()} for s, st in runs[a].items()}
                          for a in arms}}
    (out_dir / "report.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = args.results.expanduser().resolve()
    if not (results / "study.json").is_file():
        print(f"study_report: {results} has no study.json (run scripts/study_run.py first)", file=sys.stderr)
        return 2
    path = report(results, (args.out_dir or results).expanduser().resolve(), args)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
