"""Run the controlled study of issue 8: each condition × seed trained by `alft train`, scored by `alft eval`.

Conditions (all with the trainer's batch: the same completions per optimizer step and the same steps):
base (no training), correctness (gold GRPO), majority (TTRL), coherence (Coherence-GRPO, geometric consensus,
plug-in estimator), random (random-reward control), entropy_correctness (Diversity-GRPO) and coherence_minimax
(Coherence-GRPO with the minimax estimator). Evaluations of each model:
  heldout  held-out arithmetic, eval.n samples at temperature 0.7 under [identity, paraphrase]: pass@1, maj@n,
           pass@n, answer entropy and cross-variant agreement
  gsm8k    GSM8K test, greedy (out of distribution; skipped when the file is absent or --ood-limit is 0)
  svamp    SVAMP, greedy (the same)

Study directory (--out):
  study.json                       protocol, conditions, eval sets and the exact commands
  <condition>/seed<s>/train/       an `alft train` run directory (metrics.json, train_log.jsonl, final_model/)
  <condition>/seed<s>/eval-<set>/  an `alft eval` run directory (metrics.json, samples.jsonl, report.md)
  every run directory also holds stdout.log, the command's output

Each run is one `alft` subprocess with its own `hydra.run.dir` rather than one Hydra multirun: a run whose
metrics.json exists is skipped (re-run the same command to resume; an interrupted eval keeps its finished
prompts), a failed run does not stop the others, and runs go seed by seed, so that a study stopped early
already has whole seeds to report. One line is printed per finished run; run it in the background with
`nohup … > study.out &`. Summarise with scripts/study_report.py.

Usage: .venv/bin/python scripts/study_run.py --out outputs/study/smollm2 --seeds 0 1 2 --steps 50
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
HELDOUT_TEMPERATURE = 0.7
OOD_MAX_NEW_TOKENS = 128
EVAL_SETS = ("heldout", "gsm8k", "svamp")
# name -> (label, `alft train` overrides; "{seed}" is replaced by the seed). base is evaluated, never trained.
CONDITIONS: dict[str, tuple[str, list[str]]] = {
    "base": ("base model (no training)", []),
    "correctness": ("GRPO, gold correctness", ["objective=correctness"]),
    "majority": ("TTRL majority vote", ["objective=majority"]),
    "coherence": ("Coherence-GRPO (geometric, plug-in)", ["objective=coherence",
                  "objective.params.consensus=geometric", "objective.params.estimator=plugin"]),
    "random": ("random reward (control)", ["objective=random", "objective.params.seed={seed}"]),
    "entropy_correctness": ("Diversity-GRPO (correctness + entropy)", ["objective=entropy_correctness"]),
    "coherence_minimax": ("Coherence-GRPO (geometric, minimax)", ["objective=coherence",
                          "objective.params.consensus=geometric", "objective.params.estimator=minimax"]),
}


@dataclass(frozen=True)
class Run:
    """One `alft` command with its run directory; `needs` is a train run that must have finished first."""

    name: str
    run_dir: Path
    argv: list[str]
    needs: Path | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Conditions: " + ", ".join(CONDITIONS))
    p.add_argument("--out", type=Path, default=REPO / "outputs" / "study" / "smollm2",
                   help="study directory (default: outputs/study/smollm2)")
    p.add_argument("--model", default="smollm2_135m",
                   help="model= of every train and eval (default: smollm2_135m)")
    p.add_argument("--steps", type=int, default=50, help="optimizer steps per training run (default: 50)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS),
                   metavar="NAME", help="conditions to run (default: all)")
    p.add_argument("--eval-limit", type=int, default=100, help="held-out problems per eval (default: 100)")
    p.add_argument("--eval-n", type=int, default=8,
                   help="samples per held-out problem and variant; k = [1, n] (default: 8)")
    p.add_argument("--ood-limit", type=int, default=50,
                   help="GSM8K/SVAMP problems per greedy eval; 0 skips them (default: 50)")
    p.add_argument("--gsm8k", type=Path, default=SHARED_DATA / "gsm8k" / "test.jsonl",
                   help="GSM8K test JSONL")
    p.add_argument("--svamp", type=Path, default=SHARED_DATA / "svamp" / "SVAMP.json", help="SVAMP JSON")
    p.add_argument("--train-set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="extra Hydra overrides for every `alft train` (e.g. heldout.size=50)")
    p.add_argument("--eval-set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="extra Hydra overrides for every `alft eval` (e.g. eval.batch_size=32)")
    p.add_argument("--evals", nargs="+", default=list(EVAL_SETS), choices=EVAL_SETS, metavar="SET",
                   help="eval sets to run now (default: all; e.g. --evals heldout first, the rest later)")
    p.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = p.parse_args(argv)
    if args.steps < 1 or args.eval_limit < 1 or args.eval_n < 2 or args.ood_limit < 0:
        p.error("need --steps >= 1, --eval-limit >= 1, --eval-n >= 2 and --ood-limit >= 0")
    args.out = args.out.expanduser().resolve()
    return args


def alft_executable() -> str:
    """The `alft` console script next to this Python (the venv's), else the one on PATH."""
    return shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"


def eval_sets(args: argparse.Namespace) -> dict[str, list[str]]:
    """Eval set name -> its `alft eval` overrides; out-of-distribution sets only when their file exists."""
    n = args.eval_n
    sets = {"heldout": [f"eval.limit={args.eval_limit}", f"eval.n={n}", f"eval.k=[1,{n}]",
                        f"eval.temperature={HELDOUT_TEMPERATURE}", "transforms=[identity,paraphrase]",
                        "eval.max_new_tokens=32"]} if "heldout" in args.evals else {}
    if not args.ood_limit:
        return sets
    greedy = [f"eval.limit={args.ood_limit}", "eval.n=1", "eval.k=[1]", "eval.temperature=0",
              f"eval.max_new_tokens={OOD_MAX_NEW_TOKENS}"]
    ood = {"gsm8k": (args.gsm8k, ["dataset=gsm8k", f"dataset.heldout_path={args.gsm8k.resolve()}"]),
           "svamp": (args.svamp, ["dataset=svamp", f"dataset.path={args.svamp.resolve()}"])}
    for name, (path, dataset) in ood.items():
        if name not in args.evals:
            continue
        if path.is_file():
            sets[name] = [*dataset, *greedy]
        else:
            print(f"skipping the {name} eval: {path} not found", flush=True)
    return sets


def plan(args: argparse.Namespace, sets: dict[str, list[str]]) -> list[Run]:
    """All runs, seed by seed; within a seed each condition's training precedes its evals."""
    alft, runs = alft_executable(), []
    for seed in args.seeds:
        for cond in args.conditions:
            base = args.out / cond / f"seed{seed}"
            model, train_dir = args.model, None
            if cond != "base":
                train_dir = base / "train"
                overrides = [o.format(seed=seed) for o in CONDITIONS[cond][1]]
                runs.append(Run(f"{cond}/seed{seed}/train", train_dir, [
                    alft, "train", f"model={args.model}", *overrides, f"seed={seed}",
                    f"trainer.max_steps={args.steps}", *args.train_set, f"hydra.run.dir={train_dir}"]))
                model = str(train_dir)
            for name, overrides in sets.items():
                run_dir = base / f"eval-{name}"
                runs.append(Run(f"{cond}/seed{seed}/eval-{name}", run_dir, [
                    alft, "eval", f"model={model}", *overrides, f"seed={seed}", *args.eval_set,
                    f"hydra.run.dir={run_dir}"], needs=train_dir))
    return runs


def protocol(args: argparse.Namespace) -> dict:
    """The options that decide every run's numbers: a study directory holds runs of one protocol only."""
    return {"model": args.model, "steps": args.steps, "eval_limit": args.eval_limit, "eval_n": args.eval_n,
            "heldout_temperature": HELDOUT_TEMPERATURE, "ood_limit": args.ood_limit,
            "ood_max_new_tokens": OOD_MAX_NEW_TOKENS, "gsm8k": str(args.gsm8k.resolve()),
            "svamp": str(args.svamp.resolve()), "train_set": args.train_set, "eval_set": args.eval_set}


def write_study_json(args: argparse.Namespace, runs: list[Run], sets: list[str]) -> None:
    """Write study.json, merged with earlier calls; exit when their protocol differs from this one."""
    file = args.out / "study.json"
    old = json.loads(file.read_text()) if file.is_file() else {}
    new = protocol(args)
    changed = sorted(k for k in new if old and old["protocol"].get(k) != new[k])
    # A study without out-of-distribution evals (ood_limit 0) may gain them: no earlier run used the limit.
    adds_ood = changed == ["ood_limit"] and old["protocol"]["ood_limit"] == 0
    if changed and not adds_ood:
        sys.exit(f"study_run: {args.out} holds a study with other {', '.join(changed)} ({old['protocol']}); "
                 "use another --out")
    conditions = [c for c in CONDITIONS if c in set(old.get("conditions", [])) | set(args.conditions)]
    invocation = {"time": datetime.now().isoformat(timespec="seconds"),
                  "command": shlex.join(["python", "scripts/study_run.py", *sys.argv[1:]])}
    study = {
        "protocol": new,
        "conditions": conditions,
        "labels": {c: CONDITIONS[c][0] for c in conditions},
        "seeds": sorted(set(old.get("seeds", [])) | set(args.seeds)),
        "eval_sets": sorted(set(old.get("eval_sets", [])) | set(sets)),
        "invocations": [*old.get("invocations", []), invocation],
        "commands": {**old.get("commands", {}), **{r.name: shlex.join(r.argv) for r in runs}},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(study, indent=2) + "\n")


def summary(run: Run) -> str:
    """One line of numbers from a finished run's metrics.json (and train_log.jsonl)."""
    m = json.loads((run.run_dir / "metrics.json").read_text())
    if "heldout_accuracy_after" in m:
        log = [json.loads(x) for x in (run.run_dir / "train_log.jsonl").read_text().splitlines() if x.strip()]
        times = [r["step_time"] for r in log if "step_time" in r]
        per_step = f", {sum(times) / len(times):.1f} s/step" if times else ""
        return (f"{m['steps']} steps{per_step}, greedy held-out accuracy "
                f"{m['heldout_accuracy_before']:.3f} -> {m['heldout_accuracy_after']:.3f}")
    ks = sorted(int(k.split("@")[1]) for k in m if k.startswith("pass@") and not k.endswith("_ci"))
    parts = [f"pass@1 {m['pass@1']:.3f}"]
    if ks[-1] > 1:
        parts += [f"maj@{ks[-1]} {m[f'maj@{ks[-1]}']:.3f}", f"pass@{ks[-1]} {m[f'pass@{ks[-1]}']:.3f}"]
    if "coherence" in m:
        parts.append(f"agreement {m['coherence']:.3f}")
    return ", ".join(parts) + f" on {m['n_problems']} problems"


def execute(run: Run) -> str:
    """Run one command unless its metrics.json exists; returns the status line ('FAILED' on a failure)."""
    if (run.run_dir / "metrics.json").is_file():
        return f"skipped (done): {summary(run)}"
    if run.needs is not None and not (run.needs / "metrics.json").is_file():
        return "FAILED: its training run did not finish"
    run.run_dir.mkdir(parents=True, exist_ok=True)
    log = run.run_dir / "stdout.log"
    start = time.time()
    with log.open("w") as fh:
        fh.write(f"$ {shlex.join(run.argv)}\n")
        fh.flush()
        proc = subprocess.run(run.argv, check=False, cwd=run.run_dir, stdout=fh, stderr=subprocess.STDOUT)
    took = f"{time.time() - start:.0f} s"
    if proc.returncode or not (run.run_dir / "metrics.json").is_file():
        return f"FAILED (exit {proc.returncode}, {took}), see {log}"
    return f"{took}: {summary(run)}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sets = eval_sets(args)
    runs = plan(args, sets)
    if args.dry_run:
        print("\n".join(shlex.join(r.argv) for r in runs))
        return 0
    write_study_json(args, runs, list(sets))
    print(f"study {args.out}: {len(runs)} runs ({len(args.conditions)} conditions x {len(args.seeds)} seeds)",
          flush=True)
    failed = 0
    for i, run in enumerate(runs, 1):
        status = execute(run)
        failed += status.startswith("FAILED")
        print(f"[{i:>3}/{len(runs)}] {run.name:<40} {status}", flush=True)
    print(f"done: {len(runs) - failed} of {len(runs)} runs finished; report: "
          f".venv/bin/python scripts/study_report.py {args.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
