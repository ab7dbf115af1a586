"""Run the pre-registered study v2 of issue 12: every arm × seed trained by `alft train` at equal budget and
evaluated by `alft eval` at several steps; each evaluated (arm, seed, step) becomes one small committed JSON.

Arms (ARMS below; every one 1 problem × 16 completions per optimizer step, the same steps, lr, β and
temperature; only the objective and how the 16 completions split over prompts differ):
  base            the base model, not trained (evaluated at step 0)
  coherence       C1 Coherence-GRPO: the m distinct prompts of --transforms × G = 16/m
  coherence_null  C2 the same objective on m identical (identity) prompts × G = 16/m
  majority        C3 TTRL majority vote pooled over G = 16 completions of 1 prompt
  random          C4 random reward on C1's prompts and layout: everything but the answer signal (it keeps the
                  unparsed penalty)
  correctness     C5 gold GRPO, 1 prompt × 16: the reference

Each model is scored twice on the held-out split: `sampled` (--eval-n samples per problem and variant at
temperature 0.7 under --eval-transforms: pass@1, maj@n, pass@n, answer entropy, cross-variant agreement)
and `greedy` (1 greedy sample of the identity prompt), every model in the precision the runs train in (the
--model config's dtype, passed to every eval as model.dtype). A trained arm saves a checkpoint at every
--eval-steps point before the last, evaluates it and deletes it; the last point is the final model.

Results (committed; numbers only, no models), under --results (default docs/results/<study>):
  study.json                         the protocol and the arms' overrides; a study keeps one protocol
  runs/<arm>/seed<s>/step<k>.json    one evaluated model: metrics of both evals, per-problem counts, the
                                     training curve up to step k, the steps × completions budget, wall
                                     times, the commands and the git commit it trained and was scored with
Scratch (not committed), under --out (default outputs/study/<study>): `alft` run directories
<arm>/seed<s>/train/ and <arm>/seed<s>/step<k>/eval-{sampled,greedy}/, each with stdout.log.

Resume: a step<k>.json that exists is never redone, whatever is left in --out; so on a fresh machine
check out the branch and run the same command. A model or eval left in --out is reused only when the exact
same command made it (stdout.log's first line, study_train.json). A run whose model is gone (a fresh
machine, a deleted checkpoint) is trained again in full; an interrupted training goes on from its newest
checkpoint (every 20 steps). --commit `git commit`s each step<k>.json the moment it is written (and
study.json first). --jobs N runs N (arm, seed) pipelines at once; one SmolLM2-135M run needs
about 1 GB of memory (and a core; on a GPU several fit). Final models are deleted once all of a run's
files are written unless --keep-models. Summarise with scripts/study_report.py.

Usage: .venv/bin/python scripts/study_run.py --study study2 --seeds 0 1 2 3 4 5 --steps 80 --eval-steps 40 80
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPLETIONS_PER_STEP = 16
PROMPTS = ["identity", "paraphrase", "paraphrase", "paraphrase"]  # 4 distinct templates (docs/results/study2/PILOT.md)
TEMPERATURE = 0.7
# Config keys the arms and evals set (one place to follow a rename).
TRANSFORMS, EVAL_TRANSFORMS, G = "transforms", "transforms", "trainer.num_generations"
# Every training run: no built-in greedy held-out pass (the study's greedy eval scores each checkpoint); an
# interrupted one goes on from its newest complete checkpoint when started again (saved every RESUME_EVERY
# steps, and at every eval step).
TRAIN_COMMON = ["heldout.limit=0", "trainer.resume_from_checkpoint=auto"]
RESUME_EVERY = 20
# name -> (label, `alft train` overrides; None: not trained). Filled in per run: {seed}, {transforms} (the
# study's m distinct prompts), {identical} (identity m times) and {g} (16 / m).
ARMS: dict[str, tuple[str, list[str] | None]] = {
    "base": ("base model (no training)", None),
    "coherence": ("C1 Coherence-GRPO (m distinct prompts × G = 16/m)",
                  ["objective=coherence", TRANSFORMS + "=[{transforms}]", G + "={g}"]),
    "coherence_null": ("C2 coherence-null (the same objective, m identical prompts × G = 16/m)",
                       ["objective=coherence", TRANSFORMS + "=[{identical}]", G + "={g}"]),
    "majority": ("C3 TTRL majority (1 prompt × G = 16)", ["objective=majority", f"{G}={COMPLETIONS_PER_STEP}"]),
    "random": ("C4 random reward: everything but the answer signal (C1's m prompts × G = 16/m)",
               ["objective=random", "objective.params.seed={seed}", TRANSFORMS + "=[{transforms}]", G + "={g}"]),
    "correctness": ("C5 gold GRPO, reference (1 prompt × G = 16)",
                    ["objective=correctness", f"{G}={COMPLETIONS_PER_STEP}"]),
}
EVALS = ("sampled", "greedy")
CURVE = {"reward": ("reward",), "accuracy": ("answers/accuracy", "rewards/correctness/mean"),
         "answer_entropy": ("answers/answer_entropy",), "majority_share": ("answers/majority_share",),
         "unparsed_rate": ("answers/unparsed_rate",), "agreement": ("answers/agreement",), "kl": ("kl",),
         "completion_length": ("completions/mean_length",), "step_time": ("step_time",)}
LOCK = threading.Lock()  # printing and git


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="study2", help="study name (default: study2)")
    p.add_argument("--results", type=Path, help="committed results directory (default: docs/results/<study>)")
    p.add_argument("--out", type=Path, help="scratch run directories (default: outputs/study/<study>)")
    p.add_argument("--model", default="smollm2_135m", help="model= of every run (default: smollm2_135m)")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), metavar="ARM",
                   help=f"arms to run (default: all of {', '.join(ARMS)})")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(6)), help="seeds (default: 0..5)")
    p.add_argument("--steps", type=int, default=80, help="optimizer steps per training run (default: 80)")
    p.add_argument("--eval-steps", type=int, nargs="+", default=[40, 80],
                   help="steps whose model is evaluated; the last is --steps (default: 40 80)")
    p.add_argument("--transforms", nargs="+", default=PROMPTS,
                   help="C1's prompt transforms, m of them with 16 %% m == 0; a repeated name gives another "
                        f"rewrite where it can (default: {' '.join(PROMPTS)}, the pilot's choice)")
    p.add_argument("--eval-limit", type=int, default=200, help="held-out problems per eval (default: 200)")
    p.add_argument("--eval-n", type=int, default=4, help="samples per problem and variant (default: 4)")
    p.add_argument("--eval-transforms", nargs="+", default=PROMPTS,
                   help=f"prompt variants of the sampled eval; the first is the headline (default: {' '.join(PROMPTS)})")
    p.add_argument("--max-new-tokens", type=int, default=32, help="eval.max_new_tokens (default: 32)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="common",
                   help="Hydra overrides of every train and eval, e.g. the task: dataset.task_args.min_terms=2")
    p.add_argument("--train-set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides of every train")
    p.add_argument("--eval-set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides of every eval")
    p.add_argument("--jobs", type=int, default=1, help="(arm, seed) pipelines at once, ~1 GB each (default: 1)")
    p.add_argument("--commit", action="store_true", help="git commit every results file as it is written")
    p.add_argument("--keep-models", action="store_true", help="keep final models (default: deleted when done)")
    p.add_argument("--dry-run", action="store_true", help="print what is done and the commands still to run")
    args = p.parse_args(argv)
    args.eval_steps = sorted(set(args.eval_steps))
    if args.steps < 1 or args.eval_steps[-1] != args.steps or args.eval_steps[0] < 1:
        p.error(f"--eval-steps {args.eval_steps} must lie in 1..--steps and end at --steps ({args.steps})")
    if COMPLETIONS_PER_STEP % len(args.transforms) or len(args.transforms) < 2:
        p.error(f"--transforms needs m >= 2 names, m a divisor of {COMPLETIONS_PER_STEP}")
    if args.eval_limit < 1 or args.eval_n < 2 or args.jobs < 1:
        p.error("need --eval-limit >= 1, --eval-n >= 2 and --jobs >= 1")
    args.results = (args.results or REPO / "docs" / "results" / args.study).expanduser().resolve()
    args.out = (args.out or REPO / "outputs" / "study" / args.study).expanduser().resolve()
    if args.commit and not args.results.is_relative_to(REPO):
        p.error(f"--commit needs --results inside the repository {REPO}")
    return args


def alft_executable() -> str:
    """The `alft` console script next to this Python (the venv's), else the one on PATH."""
    return shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"


def train_overrides(arm: str, seed: int, transforms: list[str]) -> list[str]:
    """An arm's `alft train` overrides for one seed (ARMS filled in)."""
    m = len(transforms)
    fill = {"seed": seed, "transforms": ",".join(transforms), "identical": ",".join(["identity"] * m),
            "g": COMPLETIONS_PER_STEP // m}
    return [o.format(**fill) for o in ARMS[arm][1] or []]


def budget(cfg: dict, steps: int) -> dict:
    """steps, completions per optimizer step, prompt variants m, G and problems per step of a resolved train
    config (one process: per-device batch × gradient accumulation)."""
    def get(key: str):
        node = cfg
        for part in key.split("."):
            node = (node or {}).get(part)
        return node

    per_step = int(get("trainer.per_device_train_batch_size")) * int(get("trainer.gradient_accumulation_steps"))
    m, g = len(get(TRANSFORMS) or ["identity"]), int(get(G))
    return {"steps": steps, "completions_per_step": per_step, "variants": m, "generations": g,
            "problems_per_step": per_step / (m * g)}


def check_budget(b: dict, steps: int) -> str | None:
    """Why a budget is not the study's (1 problem × 16 completions per step, `steps` steps), else None."""
    want = {"steps": steps, "completions_per_step": COMPLETIONS_PER_STEP, "problems_per_step": 1}
    bad = [f"{k} {b[k]} (not {v})" for k, v in want.items() if b[k] != v]
    return ", ".join(bad) or None


def compose_train(overrides: list[str]) -> dict:
    """The resolved `alft train` config of these overrides (Hydra's compose, no run)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from alft_cli.cli import conf_dir, rewrite_overrides

    GlobalHydra.instance().clear()
    overrides = rewrite_overrides([o for o in overrides if not o.startswith("hydra.")])  # model=<path>, as alft
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)


@dataclass(frozen=True)
class Unit:
    """One arm and seed: its training run (unless base) and one evaluated model per stage (step)."""

    arm: str
    seed: int
    args: argparse.Namespace

    @property
    def name(self) -> str:
        return f"{self.arm}/seed{self.seed}"

    @property
    def trained(self) -> bool:
        return ARMS[self.arm][1] is not None

    @property
    def stages(self) -> list[int]:
        return self.args.eval_steps if self.trained else [0]

    @property
    def scratch(self) -> Path:
        return self.args.out / self.arm / f"seed{self.seed}"

    @property
    def train_dir(self) -> Path:
        return self.scratch / "train"

    def result(self, step: int) -> Path:
        return self.args.results / "runs" / self.arm / f"seed{self.seed}" / f"step{step}.json"

    def missing(self) -> list[int]:
        return [s for s in self.stages if not self.result(s).is_file()]

    def model_at(self, step: int) -> Path | None:
        """The model of `step` left in the scratch directory, else None."""
        if not self.trained:
            return None
        if not (self.train_dir / "metrics.json").is_file():
            return None
        path = self.train_dir / ("final_model" if step == self.args.steps else f"checkpoint-{step}")
        return path if (path / "config.json").is_file() else None

    def progress(self) -> str | None:
        """How far the training in the scratch directory got (its log and newest checkpoint), if it started."""
        log = self.train_dir / "train_log.jsonl"
        if not self.trained or not log.is_file():
            return None
        if (self.train_dir / "metrics.json").is_file():
            return "trained"
        steps = [json.loads(x).get("step", 0) for x in log.read_text().splitlines() if x.strip()]
        saved = [int(c.name.split("-")[1]) for c in self.train_dir.glob("checkpoint-*")
                 if (c / "trainer_state.json").is_file()]
        return (f"training logged step {max(steps, default=0)} of {self.args.steps}, "
                f"resumes from {f'checkpoint-{max(saved)}' if saved else 'step 0'}")

    def train_argv(self) -> list[str]:
        a = self.args
        save = ["trainer.save_strategy=steps", f"trainer.save_steps={math.gcd(*a.eval_steps[:-1], RESUME_EVERY)}",
                "trainer.save_total_limit=null"]
        return [alft_executable(), "train", f"model={a.model}", *train_overrides(self.arm, self.seed, a.transforms),
                f"seed={self.seed}", f"trainer.max_steps={a.steps}", *save, *TRAIN_COMMON, *a.common,
                *a.train_set, f"hydra.run.dir={self.train_dir}"]

    def eval_argv(self, step: int, which: str) -> list[str]:
        a = self.args
        model = a.model if not self.trained else str(self.train_dir / (
            "final_model" if step == a.steps else f"checkpoint-{step}"))
        if which == "sampled":
            how = [f"eval.n={a.eval_n}", f"eval.k=[1,{a.eval_n}]", f"eval.temperature={TEMPERATURE}",
                   f"{EVAL_TRANSFORMS}=[{','.join(a.eval_transforms)}]"]
        else:
            how = ["eval.n=1", "eval.k=[1]", "eval.temperature=0", f"{EVAL_TRANSFORMS}=[identity]"]
        return [alft_executable(), "eval", f"model={model}", f"model.dtype={a.model_dtype}",
                f"eval.limit={a.eval_limit}", *how,
                f"eval.max_new_tokens={a.max_new_tokens}", f"seed={self.seed}", *a.common, *a.eval_set,
                f"hydra.run.dir={self.scratch / f'step{step}' / f'eval-{which}'}"]


def protocol(args: argparse.Namespace) -> dict:
    """What decides every run's numbers: a results directory holds runs of one protocol only."""
    return {"model": args.model, "steps": args.steps, "eval_steps": args.eval_steps,
            "completions_per_step": COMPLETIONS_PER_STEP, "transforms": args.transforms,
            "eval_limit": args.eval_limit, "eval_n": args.eval_n, "temperature": TEMPERATURE,
            "eval_transforms": args.eval_transforms, "max_new_tokens": args.max_new_tokens,
            "set": args.common, "train_set": args.train_set, "eval_set": args.eval_set,
            "train_common": TRAIN_COMMON}


def write_study_json(args: argparse.Namespace) -> Path:
    """study.json, merged with earlier calls; exit when their protocol differs from this one."""
    file = args.results / "study.json"
    old = json.loads(file.read_text()) if file.is_file() else {}
    new = protocol(args)
    changed = sorted(k for k in new if old and old["protocol"].get(k) != new[k])
    if changed:
        sys.exit(f"study_run: {file} holds a study with other {', '.join(changed)}; use another --study")
    arms = [a for a in ARMS if a in set(old.get("arms", [])) | set(args.arms)]
    invocation = {"time": datetime.now().isoformat(timespec="seconds"),
                  "command": shlex.join(["python", "scripts/study_run.py", *sys.argv[1:]])}
    study = {"protocol": new, "arms": arms, "labels": {a: ARMS[a][0] for a in arms},
             "overrides": {a: train_overrides(a, 0, args.transforms) for a in arms},
             "seeds": sorted(set(old.get("seeds", [])) | set(args.seeds)),
             "invocations": [*old.get("invocations", []), invocation]}
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(study, indent=2) + "\n")
    return file


def git_state() -> dict:
    """The checked-out commit and whether tracked or new files differ from it (results and outputs aside)."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=True).stdout

    try:
        changed = git("--no-optional-locks", "status", "--porcelain", "--", ".", ":(exclude)docs/results", ":(exclude)outputs").splitlines()
        return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(changed),
                "dirty_files": [line[3:] for line in changed][:20]}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": True, "dirty_files": []}


def git_commit(path: Path, message: str) -> None:
    """Commit just `path` (under LOCK)."""
    rel = str(path.relative_to(REPO))
    for cmd in (["add", "--", rel], ["commit", "-q", "-m", message, "--", rel]):
        proc = subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=False)
        if proc.returncode and "nothing" not in proc.stdout + proc.stderr:
            raise RuntimeError(f"git {cmd[0]} of {rel} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def child_env(jobs: int) -> dict[str, str]:
    """The environment of every `alft` run: with N jobs, each gets 1/N of the CPU threads (OMP_NUM_THREADS),
    since N runs of 2 threads on 2 cores oversubscribe them; an OMP_NUM_THREADS already set wins."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    return env


def run_alft(argv: list[str], run_dir: Path, env: dict[str, str] | None = None) -> float:
    """Run one `alft` command into run_dir (output in stdout.log); returns its seconds, RuntimeError if failed."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "stdout.log"
    start = time.time()
    with log.open("w") as fh:
        fh.write(f"$ {shlex.join(argv)}\n")
        fh.flush()
        proc = subprocess.run(argv, check=False, cwd=run_dir, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode or not (run_dir / "metrics.json").is_file():
        raise RuntimeError(f"exit {proc.returncode}, see {log}")
    return round(time.time() - start, 1)


def command_of(run_dir: Path) -> str | None:
    """The command an `alft` run directory was made by (the first line of its stdout.log), else None."""
    try:
        with (run_dir / "stdout.log").open() as fh:
            line = fh.readline().rstrip("\n")
    except OSError:
        return None
    return line[2:] if line.startswith("$ ") else None


def train_curve(train_dir: Path, upto: int) -> dict[str, list]:
    """Per-step columns of train_log.jsonl up to step `upto` (CURVE keys; None where a step lacks one)."""
    rows = [json.loads(x) for x in (train_dir / "train_log.jsonl").read_text().splitlines() if x.strip()]
    rows = [r for r in rows if "loss" in r and r["step"] <= upto]
    curve = {"step": [r["step"] for r in rows]}
    for name, keys in CURVE.items():
        curve[name] = [next((r[k] for k in keys if k in r), None) for r in rows]
    return curve


def problem_rows(sampled: Path, greedy: Path) -> list[dict]:
    """Per-problem counts of an eval: id, variant, n, c, unparsed, the parsed answers' histogram, the correct
    answers among them, maj (maj@n, ties split) and greedy (the greedy eval's 0/1, first variant only)."""
    from alft_cli.metrics import maj_at_k
    from alft_cli.scoring import group_problems

    def scored(run: Path) -> list[dict]:
        return [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines() if x.strip()]

    greedy_correct = {p.id: int(p.correct[0]) for p in next(iter(group_problems(scored(greedy)).values()))}
    rows = []
    for i, (variant, problems) in enumerate(group_problems(scored(sampled)).items()):
        for p in problems:
            hist: dict[str, int] = {}
            for a in p.answers:
                if a is not None:
                    hist[a] = hist.get(a, 0) + 1
            labels = dict(zip(p.answers, p.correct))
            rows.append({"id": p.id, "variant": variant, "n": len(p.answers), "c": sum(p.correct),
                         "unparsed": sum(a is None for a in p.answers), "hist": hist,
                         "correct": sorted(a for a in hist if labels[a]),
                         "maj": maj_at_k(p.answers, labels, len(p.answers)),
                         "greedy": greedy_correct.get(p.id) if i == 0 else None})
    return rows


def dumps(record: dict) -> str:
    """JSON with one line per top-level key and one line per problem (diff- and grep-friendly)."""
    lines = []
    for key, value in record.items():
        if key == "problems":
            inner = ",\n".join("  " + json.dumps(r) for r in value)
            lines.append(f' "problems": [\n{inner}\n ]')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def eval_metrics(run: Path) -> dict:
    keep = ("n_problems", "samples_per_problem", "pass@1", "answer_entropy", "distinct_answers", "unparsed_rate",
            "agreement", "variants")
    m = json.loads((run / "metrics.json").read_text())
    out = {k: m[k] for k in m if k in keep or k.startswith(("pass@", "maj@")) and not k.endswith("_ci")}
    out["checker_version"] = m.get("protocol", {}).get("checker_version")
    out["dtype"] = m.get("protocol", {}).get("dtype")
    return out


class Pipeline:
    """Runs one Unit: (re)train when a missing stage's model is gone, then evaluate and write each stage."""

    def __init__(self, unit: Unit, say: Callable[[str], None]):
        self.unit, self.say = unit, say

    def run(self) -> bool:
        u, missing = self.unit, self.unit.missing()
        if not missing:
            self.say(f"{u.name}: done ({', '.join(f'step{s}' for s in u.stages)} in {u.args.results.name})")
            return True
        try:
            train = self.ensure_models(missing)
            for step in missing:
                self.stage(step, train)
            self.tidy()
            return True
        except RuntimeError as err:
            self.say(f"{u.name}: FAILED: {err}")
            return False

    def ensure_models(self, missing: list[int]) -> dict | None:
        """The training facts (budget, commit, wall time, command); trains again unless every missing stage's
        model is still on disk."""
        u = self.unit
        if not u.trained:
            return None
        state, argv = u.train_dir / "study_train.json", u.train_argv()
        command = shlex.join(argv)
        done = state.is_file() and json.loads(state.read_text())["command"] == command
        if not done or not all(u.model_at(s) for s in missing):
            resumed = not done and command_of(u.train_dir) == command  # an interrupted run of this command:
            if not resumed:  # it goes on from its newest complete checkpoint; else start over
                shutil.rmtree(u.scratch, ignore_errors=True)  # stale models and eval caches go with it
            with LOCK:
                commit = git_state()
            seconds = run_alft(argv, u.train_dir, child_env(u.args.jobs))
            b = budget(yaml.safe_load((u.train_dir / "config.yaml").read_text()),
                       json.loads((u.train_dir / "metrics.json").read_text())["steps"])
            facts = {"command": command, "commit": commit, "wall_seconds": seconds, "budget": b,
                     "resumed": resumed}
            state.write_text(json.dumps(facts, indent=2) + "\n")
            wanted = {s for s in missing if s < u.args.steps}  # the last step's model is final_model
            for ckpt in u.train_dir.glob("checkpoint-*"):
                if int(ckpt.name.split("-")[1]) not in wanted:
                    shutil.rmtree(ckpt)
            why = check_budget(b, u.args.steps)
            self.say(f"{u.name}: trained in {seconds:.0f} s" + (f" — BUDGET DIFFERS: {why}" if why else ""))
        return json.loads(state.read_text())

    def stage(self, step: int, train: dict | None) -> None:
        """Both evals of the model at `step`, then its results file (committed with --commit)."""
        u, seconds, commands = self.unit, {}, {}
        with LOCK:
            commit = git_state()
        for which in EVALS:
            argv = u.eval_argv(step, which)
            run = Path(argv[-1].split("=", 1)[1])
            commands[which] = shlex.join(argv)
            made_by = command_of(run)
            if made_by == commands[which] and (run / "metrics.json").is_file():
                seconds[which] = None  # finished earlier by this very command
                continue
            if made_by != commands[which]:  # another protocol's (or no) run: never reused, nor resumed
                shutil.rmtree(run, ignore_errors=True)
            seconds[which] = run_alft(argv, run, child_env(u.args.jobs))
        runs = {w: u.scratch / f"step{step}" / f"eval-{w}" for w in EVALS}
        record = {
            "arm": u.arm, "label": ARMS[u.arm][0], "seed": u.seed, "step": step, "protocol": protocol(u.args),
            "commit": {"train": train["commit"] if train else None, "eval": commit},
            "budget": train["budget"] if train else None,
            "wall_seconds": {"train": train["wall_seconds"] if train else None,
                             **{f"eval_{w}": s for w, s in seconds.items()}},
            "metrics": {w: eval_metrics(runs[w]) for w in EVALS},
            "commands": {"train": train["command"] if train else None, **commands},
            "curve": train_curve(u.train_dir, step) if train else None,
            "problems": problem_rows(runs["sampled"], runs["greedy"]),
        }
        file = u.result(step)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(dumps(record))
        m = record["metrics"]
        line = (f"{u.name}/step{step}: pass@1 {m['sampled']['pass@1']:.3f}, greedy {m['greedy']['pass@1']:.3f}"
                + (f", agreement {m['sampled']['agreement']:.3f}" if "agreement" in m["sampled"] else ""))
        if u.args.commit:
            with LOCK:
                git_commit(file, f"study {u.args.study}: {u.name}/step{step} ({line.split(': ', 1)[1]})")
        self.say(line + (" [committed]" if u.args.commit else ""))
        if u.trained and step != u.args.steps:
            shutil.rmtree(u.train_dir / f"checkpoint-{step}", ignore_errors=True)

    def tidy(self) -> None:
        """Delete the models once every stage's file exists (unless --keep-models)."""
        u = self.unit
        if u.trained and not u.missing() and not u.args.keep_models:
            shutil.rmtree(u.train_dir / "final_model", ignore_errors=True)
            for ckpt in u.train_dir.glob("checkpoint-*"):
                shutil.rmtree(ckpt)


def say(text: str) -> None:
    with LOCK:
        print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def check_plan(args: argparse.Namespace) -> None:
    """Exit before any run when an arm's composed training config is not 1 problem × 16 completions per step."""
    for arm in args.arms:
        if ARMS[arm][1] is None:
            continue
        overrides = [f"model={args.model}", *train_overrides(arm, 0, args.transforms), f"trainer.max_steps={args.steps}",
                     *TRAIN_COMMON, *args.common, *args.train_set]
        why = check_budget(budget(compose_train(overrides), args.steps), args.steps)
        if why:
            sys.exit(f"study_run: arm {arm} would train {why}; fix ARMS or --train-set")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.model_dtype = compose_train([f"model={args.model}", *args.common, *args.train_set])["model"]["dtype"]
    units = [Unit(arm, seed, args) for seed in args.seeds for arm in args.arms]
    if args.dry_run:
        for u in units:
            todo = u.missing()
            progress = u.progress() if todo else None
            print(f"# {u.name}: done {[s for s in u.stages if s not in todo]}, to do {todo}"
                  + (f" ({progress})" if progress else ""))
            if todo and u.trained and not all(u.model_at(s) for s in todo):
                print(shlex.join(u.train_argv()))
            for step in todo:
                print("\n".join(shlex.join(u.eval_argv(step, w)) for w in EVALS))
        return 0
    check_plan(args)
    study = write_study_json(args)
    if args.commit:
        git_commit(study, f"study {args.study}: protocol and arms")
    todo = sum(len(u.missing()) for u in units)
    say(f"study {args.study}: {len(units)} runs ({len(args.arms)} arms × {len(args.seeds)} seeds), {todo} evaluated "
        f"models to write under {args.results}, {args.jobs} at once")
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        ok = list(pool.map(lambda u: Pipeline(u, say).run(), units))
    except KeyboardInterrupt:  # the running `alft`s got the signal too; start no further run
        pool.shutdown(wait=False, cancel_futures=True)
        say("interrupted: the finished results files are kept; run the same command to resume")
        return 130
    pool.shutdown()
    say(f"finished: {sum(ok)} of {len(units)} runs complete; report: python scripts/study_report.py {args.results}")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
