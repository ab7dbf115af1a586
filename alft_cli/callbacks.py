"""Callbacks: the training log (a transformers TrainerCallback) and the sweep summaries (Hydra Callbacks).

`JsonlMetricsCallback` appends every logged dict of `alft train` to `train_log.jsonl`; `SweepSummary`
(conf/eval.yaml `hydra.callbacks`) puts one table over every job of an `alft eval -m …` sweep into the
sweep directory, and `TrainSweepSummary` (conf/train.yaml) one over the settings of an `alft train -m …`
sweep, mean ± SD over each setting's seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from transformers import TrainerCallback

from alft_cli.report import TRAIN_COLUMNS, seed_summary, write_comparison, write_train_sweep


class JsonlMetricsCallback(TrainerCallback):
    """Append every logged dict (reward components, answer statistics, loss) to a JSONL file."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_begin(self, args, state, control, **kwargs):
        """On resume, drop rows logged after the checkpoint (those steps are trained again)."""
        if state.is_world_process_zero and self.path.exists():
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            kept = [r for r in rows if r.get("step", 0) <= state.global_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            with self.path.open("a") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")


class SweepSummary(Callback):
    """After `alft eval -m …`: one table over the jobs' metrics.json in the sweep directory, and when the models
    are training runs of which some differ only in their seed, one over their training settings (mean ± SD)."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        jobs = _jobs(sweep)
        if not jobs:
            return
        metrics = [json.loads((j / "metrics.json").read_text()) for j in jobs]
        overrides = [_overrides(j) for j in jobs]
        varying = [[o for o in job if any(o not in other for other in overrides)] for job in overrides]
        results = []
        for job, m, extra in zip(jobs, metrics, varying):
            label = m.get("protocol", {}).get("model_label", job.name)
            extra = [o for o in extra if not o.startswith("model.name_or_path=")]
            results.append((f"{label} ({', '.join(extra)})" if extra else label, m))
        runs = [training_run(m.get("protocol", {}).get("model")) for m in metrics]
        settings = None
        if all(runs) and len({tuple(ov) for ov, _ in runs}) < len(runs):  # some settings have several seeds
            mine = [[o for o in ov if not o.startswith(("model=", "model.name_or_path="))] for ov in overrides]
            settings = [([*eval_ov, *train_ov], seed) for eval_ov, (train_ov, seed) in zip(mine, runs)]
        table = write_comparison(sweep, results, {"sweep": str(sweep), "jobs": len(jobs)}, settings)
        print(f"\n{table}\n\nsweep summary: {sweep / 'report.md'}")


class TrainSweepSummary(Callback):
    """After `alft train -m …`: held-out accuracy per setting, mean ± SD over its seeds, in the sweep directory."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        jobs = []
        for job in _jobs(sweep):
            train_ov, seed = _setting(job)
            m = json.loads((job / "metrics.json").read_text())
            before, after = m.get("heldout_accuracy_before"), m.get("heldout_accuracy_after")
            jobs.append((train_ov, seed, {**m, "change": None if None in (before, after) else after - before}))
        if jobs:
            rows = seed_summary(jobs, [k for k, _ in TRAIN_COLUMNS])
            table = write_train_sweep(sweep, rows, str(sweep))
            print(f"\n{table}\n\nsweep summary: {sweep / 'report.md'}")


def training_run(model: str | None) -> tuple[list[str], Any] | None:
    """(overrides without `seed=`, seed) of the `alft train` run whose directory is `model` or holds it (a
    `final_model/` or `checkpoint-N/`); None for a model that is no training run, or no model (re-scored
    completions: not the directory the sweep was started in)."""
    if not model:
        return None
    path = Path(model)
    for run in (path, path.parent):
        if (run / "config.yaml").is_file() and (run / "metrics.json").is_file() and (run / "final_model").is_dir():
            return _setting(run)
    return None


def _setting(run: Path) -> tuple[list[str], Any]:
    """(overrides without `seed=`, seed) of a run directory."""
    import yaml

    seed = (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("seed")
    return [o for o in _overrides(run) if not o.startswith("seed=")], seed


def _jobs(sweep: Path) -> list[Path]:
    """The finished jobs of a sweep directory (numbered sub-directories with a metrics.json), in order."""
    return sorted((p.parent for p in sweep.glob("*/metrics.json") if p.parent.name.isdigit()), key=lambda p: int(p.name))


def _overrides(job: Path) -> list[str]:
    import yaml

    file = job / ".hydra" / "overrides.yaml"
    return [o for o in yaml.safe_load(file.read_text()) or [] if not o.startswith("hydra.")] if file.is_file() else []
