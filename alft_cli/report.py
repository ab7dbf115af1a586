"""Human-readable output: the eval summary table, `report.md`, PNG plots, the eval and training sweep summaries.

`summary_table` is the one table format of evals: one row per model, headline metrics with 95% bootstrap
CIs. `seed_summary` groups a training sweep's jobs by setting and gives mean ± SD over their seeds.
Plots use matplotlib's Agg backend (no display needed). Nothing here imports torch.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alft_cli.runs import write_json
from alft_cli.scoring import UNPARSED

log = logging.getLogger(__name__)
Result = tuple[str, dict]  # (model label, metrics.json dict)
_TAIL = ("greedy_accuracy", "agreement", "answer_entropy", "distinct_answers", "unparsed_rate")


def _columns(results: Sequence[Result]) -> list[str]:
    keys = {k for _, m in results for k in m}
    ranked = sorted((k for k in keys if re.fullmatch(r"(pass|maj)@\d+", k)),
                    key=lambda k: (k.startswith("maj"), int(k.split("@")[1])))
    undecided = ["undecided_rate"] if any(m.get("undecided_rate") for _, m in results) else []  # only when it bites
    return ["n_problems", *ranked, *(k for k in _TAIL if k in keys), *undecided]


def _cell(metrics: dict, key: str) -> str:
    if key not in metrics:
        return "–"
    value = metrics[key]
    if isinstance(value, int):
        return str(value)
    ci = metrics.get(f"{key}_ci")
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def summary_table(results: Sequence[Result], first: str = "model") -> str:
    """Markdown table: one row per model (or `first`); `[lo, hi]` are 95% bootstrap CIs over problems."""
    cols = _columns(results)
    lines = [f"| {first} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, metrics in results:
        lines.append(f"| {label} | " + " | ".join(_cell(metrics, c) for c in cols) + " |")
    return "\n".join(lines)


def _protocol_lines(protocol: dict) -> list[str]:
    lines = []
    for key, value in protocol.items():
        if key == "prompt_template":
            lines.append(f"- prompt_template:\n\n  ```\n  {str(value).replace(chr(10), chr(10) + '  ')}\n  ```")
        elif isinstance(value, dict):
            lines.append(f"- {key}: " + ", ".join(f"{k}={v}" for k, v in value.items() if v is not None))
        else:
            lines.append(f"- {key}: {value}")
    return lines


def write_report(out: Path, results: Sequence[Result], protocol: dict, plots: Sequence[str]) -> Path:
    """`report.md`: the table, per-variant numbers when there are several, the protocol, the plots."""
    text = ["# alft eval", "", summary_table(results), "",
            ("Cells: mean over problems [95% bootstrap CI]; pass@k is the unbiased estimator, maj@k the "
             "exact expected majority-vote accuracy over size-k subsets (ties split evenly).")]
    for label, metrics in results:
        if "variants" in metrics:
            text += ["", f"## Transformations ({label})", "",
                     summary_table(list(metrics["variants"].items()), "transformation")]
    text += ["", "## Protocol", "", *_protocol_lines(protocol), ""]
    text += [f"![{Path(p).stem}]({p})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(text) + "\n")
    return path


PLAIN_TEXT = {"text.parse_math": False}  # ids, golds and answers are data: a `$` is a dollar, not mathtext


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def try_plot(plot: Callable[..., Path], path: Path, *args: Any) -> list[str]:
    """`[file name]` of a plot drawn by `plot(path, *args)`; `[]` and a warning when it cannot be drawn,
    so that a plot never costs the report."""
    try:
        return [plot(path, *args).name]
    except Exception as err:  # noqa: BLE001 (matplotlib raises many types: fonts, mathtext, backends, disk)
        log.warning("could not draw %s (%s: %s); report.md goes without it", path.name, type(err).__name__, err)
        return []


def plot_pass_at_k(path: Path, results: Sequence[Result]) -> Path:
    """pass@k (solid) and maj@k (dashed) against k, one colour per model."""
    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, (label, metrics) in enumerate(results):
            curve, colour = metrics["curve"], f"C{i}"
            ax.plot(curve["k"], curve["pass@k"], "o-", color=colour, label=f"{label} pass@k")
            ax.plot(curve["k"], curve["maj@k"], "s--", color=colour, label=f"{label} maj@k")
        ax.set_xscale("log", base=2)
        ax.set_xticks(results[0][1]["curve"]["k"], [str(k) for k in results[0][1]["curve"]["k"]])
        ax.set_xlabel("k (samples)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_histograms(path: Path, hists: Sequence[dict], top: int = 8) -> Path:
    """Answer-count bars for a few problems (`alft_cli.scoring.answer_histograms`); correct answers green,
    the rest grey, unparsed red."""
    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):
        fig, axes = plt.subplots(1, max(1, len(hists)), figsize=(3.2 * max(1, len(hists)), 3), squeeze=False)
        for ax, h in zip(axes[0], hists):
            items = list(h["counts"].items())[:top]
            labels = [_short(a, 10) for a, _ in items]
            colours = ["tab:green" if a in h["correct"] else "tab:red" if a == UNPARSED else "tab:gray"
                       for a, _ in items]
            ax.bar(range(len(items)), [c for _, c in items], color=colours)
            ax.set_xticks(range(len(items)), labels, rotation=45, ha="right", fontsize=7)
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.set_title(f"{_short(h['id'], 24)} (gold {_short(h['gold'], 10)})", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _short(text: str, width: int) -> str:
    """`text`, or its last `width` characters after an ellipsis (ids differ at the end)."""
    return text if len(text) <= width else "…" + text[-width + 1 :]


def write_comparison(out: Path, results: Sequence[Result], protocol: dict,
                     settings: Sequence[tuple[list[str], Any]] | None = None) -> str:
    """Several models: `metrics.json` (label → metrics), `report.md` and one pass@k plot; returns the table(s).

    With `settings[i]` = (training overrides without the seed, training seed) of result i, the headline
    metrics per training setting, mean ± SD over its seeds, go into both too (`settings`, `## Over training
    seeds`)."""
    out.mkdir(parents=True, exist_ok=True)
    columns = [(k, k) for k in _columns(results) if k != "n_problems"]
    rows = None if settings is None else seed_summary(
        [(ov, seed, m) for (ov, seed), (_, m) in zip(settings, results)], [k for k, _ in columns])
    write_json(out / "metrics.json", {"models": dict(results), **({} if rows is None else {"settings": rows})})
    plots = try_plot(plot_pass_at_k, out / "pass_at_k.png", results) if all("curve" in m for _, m in results) else []
    report = write_report(out, results, protocol, plots)
    if rows is None:
        return summary_table(results)
    seeds = seed_table(rows, columns)
    with report.open("a") as fh:
        fh.write("\n## Over training seeds\n\nThe models grouped by how they were trained (the training overrides "
                 "that differ between them, the seed aside): mean ± sample SD over the seeds of each setting.\n\n"
                 f"{seeds}\n")
    return f"{summary_table(results)}\n\n{seeds}"


TRAIN_COLUMNS = (("heldout_accuracy_before", "held-out before"), ("heldout_accuracy_after", "held-out after"),
                 ("change", "change"), ("wall_seconds", "wall s"))
_FORMATS = {"change": ("+", 3), "wall_seconds": ("", 0)}  # (sign, digits); others: ("", 3)


def seed_summary(jobs: Sequence[tuple[list[str], Any, dict]], keys: Sequence[str]) -> list[dict]:
    """Jobs of a sweep, (overrides without the training seed, training seed, numbers), grouped by setting: the
    overrides that differ between jobs. Per setting: its seeds and the mean, sample SD and count of each of
    `keys` (a job without a number for a key does not count for it)."""
    varying = {o for overrides, _, _ in jobs for o in overrides if any(o not in other for other, _, _ in jobs)}
    groups: dict[tuple[str, ...], list[tuple[Any, dict]]] = {}
    for overrides, seed, numbers in jobs:
        groups.setdefault(tuple(o for o in overrides if o in varying), []).append((seed, numbers))
    return [{"setting": ", ".join(key) or "every job", "seeds": [seed for seed, _ in members],
             **{k: _mean_sd([m.get(k) for _, m in members]) for k in keys}} for key, members in groups.items()]


def _mean_sd(values: Sequence[float | None]) -> dict:
    known = [v for v in values if v is not None]
    return {"mean": statistics.mean(known) if known else None,
            "sd": statistics.stdev(known) if len(known) > 1 else None, "n": len(known)}


def _mean_sd_cell(stat: dict, key: str) -> str:
    """`mean ± sd` (`mean` alone for one value, `–` for none)."""
    if stat["mean"] is None:
        return "–"
    sign, digits = _FORMATS.get(key, ("", 3))
    mean = f"{stat['mean']:{sign}.{digits}f}"
    return mean if stat["sd"] is None else f"{mean} ± {stat['sd']:.{digits}f}"


def seed_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """Markdown table of `seed_summary` rows: setting, seeds, then `columns` (key, header) as mean ± SD."""
    lines = ["| setting | seeds | " + " | ".join(h for _, h in columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {', '.join(map(str, r['seeds']))} | "
                     + " | ".join(_mean_sd_cell(r[k], k) for k, _ in columns) + " |")
    return "\n".join(lines)


def write_train_sweep(out: Path, rows: Sequence[dict], sweep: str) -> str:
    """A training sweep's `metrics.json` (`settings`: the `seed_summary` rows) and `report.md`; returns the table."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"settings": list(rows)})
    table = seed_table(rows, TRAIN_COLUMNS)
    (out / "report.md").write_text(
        f"# Training sweep `{sweep}`\n\nHeld-out greedy accuracy per setting (the overrides that differ between "
        "jobs), mean ± sample SD over its seeds; change: after − before, per seed. Unless the sweep changes the "
        "dataset, every job is scored on the same held-out problems, so the SD is the spread between training "
        "seeds.\n\n"
        f"{table}\n")
    return table
