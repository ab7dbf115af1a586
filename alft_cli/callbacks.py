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

from alft_cli.report import seed_summary, write_comparison, write_seed_summary


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
    """After `alft eval -m …`: one table over the jobs' metrics.json in the sweep directory."""

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
        table = write_comparison(sweep, results, {"sweep": str(sweep), "jobs": len(jobs)})
        print(f"\n{table}\n\nsweep summary: {sweep / 'report.md'}")


class TrainSweepSummary(Callback):
    """After `alft train -m …`: held-out accuracy per setting, mean ± SD over its seeds, in the sweep directory."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        import yaml

        sweep = Path(config.hydra.sweep.dir)
        jobs = [(_overrides(j), yaml.safe_load((j / "config.yaml").read_text()).get("seed"),
                 json.loads((j / "metrics.json").read_text())) for j in _jobs(sweep)]
        if jobs:
            table = write_seed_summary(sweep, seed_summary(jobs), str(sweep))
            print(f"\n{table}\n\nsweep summary: {sweep / 'report.md'}")


def _jobs(sweep: Path) -> list[Path]:
    """The finished jobs of a sweep directory (numbered sub-directories with a metrics.json), in order."""
    return sorted((p.parent for p in sweep.glob("*/metrics.json") if p.parent.name.isdigit()), key=lambda p: int(p.name))


def _overrides(job: Path) -> list[str]:
    import yaml

    file = job / ".hydra" / "overrides.yaml"
    return [o for o in yaml.safe_load(file.read_text()) or [] if not o.startswith("hydra.")] if file.is_file() else []
