"""Summarise a study directory of scripts/study_run.py: docs/results/<name>.md, <name>.json and two PNGs.

Every number is read from the run files: eval-*/metrics.json (pass@1, maj@n, pass@n, answer entropy,
cross-variant agreement, GSM8K/SVAMP greedy accuracy), train/metrics.json (greedy held-out accuracy after
training; the base model's is `heldout_accuracy_before`), train/train_log.jsonl (`step_time`, learning curves)
and train/config.yaml (completions per step). Per condition: mean ± sample std over seeds.

Computed statements:
- gap fraction of a condition c: (c − base) / (gold GRPO − base) on the seed means, per metric, where gold
  GRPO beats the base model by more than 2·SE (below: n/a);
- Coherence-GRPO vs each other condition, per metric: win when Δ = mean_coh − mean_other > 2·SE, lose
  when Δ < −2·SE, else tie, with SE = sqrt(s_coh²/n_coh + s_other²/n_other) from the seeds' std (n/a
  below 2 seeds);
- the same for the minimax estimator against the plug-in one within Coherence-GRPO, and for Diversity-GRPO
  (correctness + entropy) against gold GRPO.

Usage: .venv/bin/python scripts/study_report.py outputs/study/smollm2 [--name NAME] [--out-dir docs/results]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GOLD, COHERENCE, MINIMAX, BASE = "correctness", "coherence", "coherence_minimax", "base"
DIVERSITY = "entropy_correctness"
Stat = tuple[float, float | None, int]  # mean, sample std (None below 2 seeds), number of seeds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("study", type=Path, help="study directory written by scripts/study_run.py")
    p.add_argument("--name", help="report name: <out-dir>/<name>.md (default: the study directory's name)")
    p.add_argument("--out-dir", type=Path, default=REPO / "docs" / "results", help="default: docs/results")
    p.add_argument("--smooth", type=int, default=5,
                   help="moving-average window of the learning curves, in steps (default: 5)")
    return p.parse_args(argv)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def train_log(train_dir: Path) -> list[dict]:
    """The per-step rows of a run's train_log.jsonl (the final summary row has no `loss`)."""
    file = train_dir / "train_log.jsonl"
    rows = [json.loads(x) for x in file.read_text().splitlines() if x.strip()] if file.is_file() else []
    return [r for r in rows if "loss" in r]


def metric_keys(n: int, eval_sets: list[str]) -> list[tuple[str, str, bool]]:
    """(key, column label, judged: higher is better) of every reported metric."""
    keys = [("pass@1", "pass@1", True), (f"maj@{n}", f"maj@{n}", True), (f"pass@{n}", f"pass@{n}", True),
            ("greedy", "greedy acc.", True), ("coherence", "agreement", True),
            ("answer_entropy", "answer entropy", False), ("unparsed_rate", "unparsed", False),
            ("step_time", "s/step", False)]
    return keys + [(s, f"{s.upper()} greedy", True) for s in ("gsm8k", "svamp") if s in eval_sets]


def seed_values(study: Path, cond: str, seed: int, n: int) -> dict[str, float]:
    """The metrics of one condition and seed that exist on disk."""
    out: dict[str, float] = {}
    held = read_json(study / cond / f"seed{seed}" / "eval-heldout" / "metrics.json")
    if held:
        for key in ("pass@1", f"maj@{n}", f"pass@{n}", "coherence", "answer_entropy", "unparsed_rate"):
            if key in held:
                out[key] = float(held[key])
    for name in ("gsm8k", "svamp"):
        ood = read_json(study / cond / f"seed{seed}" / f"eval-{name}" / "metrics.json")
        if ood:
            out[name] = float(ood["pass@1"])
    if cond == BASE:
        before = [m["heldout_accuracy_before"] for m in (read_json(p) for p in
                  sorted(study.glob(f"*/seed{seed}/train/metrics.json"))) if m]
        if before:
            out["greedy"] = statistics.mean(before)
        return out
    train = study / cond / f"seed{seed}" / "train"
    metrics = read_json(train / "metrics.json")
    if metrics:
        out["greedy"] = float(metrics["heldout_accuracy_after"])
        times = [r["step_time"] for r in train_log(train) if "step_time" in r]
        if times:
            out["step_time"] = statistics.mean(times)
    return out


def stat(values: list[float]) -> Stat | None:
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None, len(values)


def fmt(s: Stat | None) -> str:
    if s is None:
        return "–"
    return f"{s[0]:.3f} ± {s[1]:.3f}" if s[1] is not None else f"{s[0]:.3f}"


def verdict(a: Stat | None, b: Stat | None) -> tuple[str, str]:
    """(win|tie|lose|n/a, the numbers) for a against b: |Δ| > 2·SE of the difference of the seed means."""
    if a is None or b is None:
        return "n/a", "missing runs"
    delta = a[0] - b[0]
    if a[1] is None or b[1] is None:
        return "n/a", f"Δ = {delta:+.3f}, 1 seed: no spread"
    two_se = 2 * math.sqrt(a[1] ** 2 / a[2] + b[1] ** 2 / b[2])
    word = "win" if delta > two_se + 1e-12 else "lose" if delta < -two_se - 1e-12 else "tie"
    return word, f"Δ = {delta:+.3f}, 2·SE = {two_se:.3f}"


def gap_fraction(c: Stat | None, base: Stat | None, gold: Stat | None) -> float | None:
    """(c − base) / (gold − base) on the means; None when a run is missing or gold GRPO does not beat the base
    model (gold − base within 2·SE of the seeds' spread, or zero): a fraction of no gap is noise."""
    if c is None or base is None or gold is None or abs(gold[0] - base[0]) < 1e-12:
        return None
    if verdict(gold, base)[0] in ("tie", "lose"):
        return None
    return (c[0] - base[0]) / (gold[0] - base[0])


def budget(study: Path, cond: str, seeds: list[int]) -> set[str]:
    """steps × completions per step (problems × variants × G) of a condition's finished runs."""
    seen = set()
    for seed in seeds:
        train = study / cond / f"seed{seed}" / "train"
        cfg, metrics = train / "config.yaml", read_json(train / "metrics.json")
        if not cfg.is_file() or metrics is None:
            continue
        c = yaml.safe_load(cfg.read_text())
        t = c["trainer"]
        per_step = t["per_device_train_batch_size"] * t["gradient_accumulation_steps"]
        transforms = c.get("transforms") or c["objective"].get("transforms")  # runs before the key moved: objective.*
        m, g = len(transforms or ["identity"]), t["num_generations"]
        seen.add(f"{metrics['steps']} × {per_step} ({per_step // (m * g)} × {m} × {g})")
    return seen


def plot_curves(study: Path, conds: list[str], labels: dict, seeds: list[int], smooth: int,
                out: Path) -> None:
    """Reward and training accuracy per step, mean over seeds, trailing moving average of `smooth` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for cond in conds:
        for ax, keys in zip(axes, (("reward",), ("answers/accuracy", "rewards/correctness/mean"))):
            by_step: dict[int, list[float]] = defaultdict(list)
            for seed in seeds:
                for row in train_log(study / cond / f"seed{seed}" / "train"):
                    key = next((k for k in keys if k in row), None)
                    if key:
                        by_step[row["step"]].append(row[key])
            steps = sorted(by_step)
            means = [statistics.mean(by_step[s]) for s in steps]
            smoothed = [statistics.mean(means[max(0, i - smooth + 1): i + 1]) for i in range(len(means))]
            if steps:
                ax.plot(steps, smoothed, label=labels[cond])
    axes[0].set(title="reward (each objective's own scale)", xlabel="step")
    axes[1].set(title="training accuracy of the sampled completions", xlabel="step", ylim=(0, 1))
    axes[1].legend(fontsize=8)
    fig.suptitle(f"mean over seeds, moving average of {smooth} steps")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_bars(rows: dict[str, dict[str, Stat | None]], keys: list[str], labels: dict, out: Path) -> None:
    """Grouped bars of pass@1, maj@n and pass@n per condition; error bars: std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = list(rows)
    width = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(conds)), 4.2))
    for i, key in enumerate(keys):
        stats = [rows[c].get(key) for c in conds]
        ax.bar([x + i * width for x in range(len(conds))], [s[0] if s else 0 for s in stats], width,
               yerr=[(s[1] or 0) if s else 0 for s in stats], capsize=3, label=key)
    ax.set_xticks([x + width * (len(keys) - 1) / 2 for x in range(len(conds))])
    ax.set_xticklabels([labels[c] for c in conds], rotation=20, ha="right", fontsize=8)
    ax.set(ylim=(0, 1), ylabel="held-out accuracy", title="held-out arithmetic (mean ± std over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---" * len(header) + "|",
            *("| " + " | ".join(r) + " |" for r in body)]


def comparison(title: str, a: str, others: list[str], rows: dict, keys: list,
               labels: dict) -> tuple[list[str], dict]:
    """Markdown lines and verdicts of condition `a` against each of `others` on the judged metrics."""
    judged = [(k, lab) for k, lab, j in keys if j]
    lines, verdicts, body = [f"### {title}", ""], {}, []
    for other in others:
        cells, words = [labels[other]], defaultdict(list)
        for key, lab in judged:
            word, why = verdict(rows[a].get(key), rows[other].get(key))
            verdicts[f"{other}:{key}"] = word
            words[word].append(lab)
            cells.append(f"**{word}** ({why})")
        body.append(cells)
        said = "; ".join(f"{w}s on {', '.join(ls)}" if w != "n/a" else f"n/a on {', '.join(ls)}"
                         for w, ls in words.items())
        lines.append(f"- {labels[a]} vs {labels[other]}: {said}.")
    return lines + ["", *table(["against", *(lab for _, lab in judged)], body), ""], verdicts


def intro(study: Path, name: str, meta: dict) -> list[str]:
    """Title and protocol paragraph."""
    p, n = meta["protocol"], meta["protocol"]["eval_n"]
    sizes = sorted({m["n_heldout"] for m in map(read_json, study.glob("*/seed*/train/metrics.json")) if m})
    text = (f"Seeds {meta['seeds']}, {p['steps']} training steps per run. Held-out arithmetic: "
            f"{p['eval_limit']} problems, {n} samples per problem and variant at temperature "
            f"{p['heldout_temperature']} under [identity, paraphrase]; pass@k, maj@k and answer entropy are "
            "those of the identity prompts, agreement is the cross-variant agreement of the majority "
            "answers. `greedy acc.` is the training run's own greedy held-out accuracy on "
            f"{', '.join(map(str, sizes)) or '?'} problems (base: before training).")
    if p["ood_limit"]:
        text += (f" GSM8K/SVAMP (out of distribution): greedy accuracy on {p['ood_limit']} problems, "
                 f"{p['ood_max_new_tokens']} new tokens.")
    return [f"# Study `{name}`: does label-free Coherence-GRPO improve `{p['model']}`?", "",
            text + " Cells: mean ± sample std over seeds; `n`: seeds found.", ""]


def budget_section(study: Path, trained: list[str], labels: dict, seeds: list[int]) -> list[str]:
    """Steps and completions per step of every trained condition, and whether they are equal."""
    budgets = {c: budget(study, c, seeds) for c in trained}
    totals = sorted({b.split(" (")[0] for bs in budgets.values() for b in bs})
    body = [[labels[c], ", ".join(sorted(b)) or "–"] for c, b in budgets.items()]
    equal = (f"Equal budget across conditions: {'yes' if len(totals) == 1 else 'NO'} "
             f"({', '.join(totals) or 'no finished runs'}).")
    what = "steps × completions per optimizer step (problems × variants × G), from each run's config files:"
    return ["## Budget", "", what, "", *table(["condition", "budget"], body), "", equal, ""]


def gap_section(gaps: dict, heads: list[str], labels: dict) -> list[str]:
    cells = [[labels[c], *("–" if g[k] is None else f"{g[k]:.3f}" for k in heads)] for c, g in gaps.items()]
    what = ("(c − base) / (gold − base) on the seed means: 1 = as good as gold GRPO, 0 = no better than the "
            "base model, < 0 = worse; – where a run is missing or gold GRPO does not beat the base model by "
            "more than 2·SE.")
    title = "## Fraction of the (gold GRPO − base) gap closed"
    return [title, "", what, "", *table(["condition", *heads], cells), ""]


def commands_section(study: Path, name: str, meta: dict) -> list[str]:
    """The study's invocations and the `alft` command of every run of the first seed."""
    first = meta["seeds"][0]
    report_cmd = f"python scripts/study_report.py {study}" + (f" --name {name}" if name != study.name else "")
    runs = [_pretty(cmd, study) for run, cmd in meta["commands"].items() if f"/seed{first}/" in run]
    return ["## Commands", "", f"`$STUDY` = `{study}`.", "", "```bash",
            *dict.fromkeys(i["command"] for i in meta["invocations"]), report_cmd, "```", "",
            f"The `alft` runs of seed {first} (other seeds change `seed=` and the directory):", "",
            "```bash", *runs, "```", ""]


def verdict_section(conds: list[str], rows: dict, gaps: dict, keys: list,
                    labels: dict) -> tuple[list[str], dict]:
    """Gap closed by Coherence-GRPO, its verdicts against every condition, minimax against plug-in and
    Diversity-GRPO against gold GRPO."""
    md = ["## Where Coherence-GRPO wins, ties and loses", "",
          "Win: Δ > 2·SE; lose: Δ < −2·SE; else tie; SE = sqrt(s₁²/n₁ + s₂²/n₂) from the seeds' std.", ""]
    if COHERENCE not in gaps:
        return md + ["Coherence-GRPO was not run.", ""], {}
    closed = ", ".join(f"{k} {'n/a' if g is None else f'{100 * g:.0f}%'}" for k, g in gaps[COHERENCE].items())
    others = [c for c in conds if c not in (COHERENCE, MINIMAX)]
    lines, verdicts = comparison("Coherence-GRPO against each condition", COHERENCE, others, rows, keys,
                                 labels)
    md += [f"- Gap closed by Coherence-GRPO: {closed}.", "", *lines]
    result = {"coherence": verdicts}
    if MINIMAX in rows:
        lines, result["minimax"] = comparison("Minimax estimator against plug-in (Coherence-GRPO, G = 4)",
                                              MINIMAX, [COHERENCE], rows, keys, labels)
        md += lines
    if DIVERSITY in rows and GOLD in rows:
        lines, result["diversity"] = comparison("Diversity-GRPO (correctness + entropy) against gold GRPO",
                                                DIVERSITY, [GOLD], rows, keys, labels)
        md += lines
    return md, result


def report(study: Path, name: str, out_dir: Path, smooth: int) -> Path:
    """Write <out_dir>/<name>.md, <name>.json, <name>_curves.png and <name>_pass_at_k.png."""
    meta = json.loads((study / "study.json").read_text())
    labels, seeds, n = meta["labels"], meta["seeds"], meta["protocol"]["eval_n"]
    keys = metric_keys(n, meta["eval_sets"])
    conds = [c for c in meta["conditions"] if any((study / c / f"seed{s}").is_dir() for s in seeds)]
    trained = [c for c in conds if c != BASE]
    values = {c: [seed_values(study, c, s, n) for s in seeds] for c in conds}
    rows = {c: {k: stat([v[k] for v in values[c] if k in v]) for k, _, _ in keys} for c in conds}
    heads = ["pass@1", f"maj@{n}", f"pass@{n}", "greedy"]
    base, gold = rows.get(BASE, {}), rows.get(GOLD, {})
    gaps = {c: {k: gap_fraction(rows[c][k], base.get(k), gold.get(k)) for k in heads}
            for c in trained if c != GOLD}
    out_dir.mkdir(parents=True, exist_ok=True)
    curves, bars = out_dir / f"{name}_curves.png", out_dir / f"{name}_pass_at_k.png"
    plot_curves(study, trained, labels, seeds, smooth, curves)
    plot_bars(rows, heads[:3], labels, bars)

    results = [[labels[c], str(max((s[2] for s in rows[c].values() if s), default=0)),
                *(fmt(rows[c][k]) for k, _, _ in keys)] for c in conds]
    verdicts_md, verdicts = verdict_section(conds, rows, gaps, keys, labels)
    md = [*intro(study, name, meta), "## Results", "",
          *table(["condition", "n", *(lab for _, lab, _ in keys)], results), "",
          f"![pass@k]({bars.name})", "", f"![learning curves]({curves.name})", "",
          *budget_section(study, trained, labels, seeds), *gap_section(gaps, heads, labels), *verdicts_md,
          *commands_section(study, name, meta)]
    path = out_dir / f"{name}.md"
    path.write_text("\n".join(md))
    summary = {"protocol": meta["protocol"], "seeds": seeds, "values": values,
               "stats": {c: {k: list(s) if s else None for k, s in rows[c].items()} for c in conds},
               "gap_fraction": gaps, "verdicts": verdicts}
    (out_dir / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return path


def _pretty(cmd: str, study: Path) -> str:
    """A recorded command with the study directory as $STUDY and the venv's alft as `alft`."""
    head, _, rest = cmd.partition(" ")
    return ("alft" if head.endswith("/alft") else head) + " " + rest.replace(str(study), "$STUDY")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    study = args.study.expanduser().resolve()
    if not (study / "study.json").is_file():
        print(f"study_report: {study} has no study.json (run scripts/study_run.py first)", file=sys.stderr)
        return 2
    print(f"report: {report(study, args.name or study.name, args.out_dir, args.smooth)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
