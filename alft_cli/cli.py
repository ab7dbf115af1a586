"""`alft` dispatcher: pops the sub-command word and runs that command's Hydra app.

Each sub-command is one `@hydra.main` over `conf/<command>.yaml`, so `-m`, `--cfg job` and `--help`
work for all of them. User errors end as one `alft: error: …` line with exit status 2.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from alft_cli.configs import conf_dir, group_choices
from alft_cli.errors import UserError
from alft_cli.telemetry import configure_cuda_allocator

USAGE = """usage: alft <command> [hydra overrides]

Answer-level fine-tuning of language models (Distributional Alignment Game, Coherence-GRPO).

commands:
  train    GRPO on an answer-level objective       alft train experiment=gsm8k_coherence
  eval     pass@k, maj@k, entropy of checkpoints   alft eval model=outputs/train/<date>/<time> eval.n=8 eval.k=[1,8]
  sample   completions and answer histograms       alft sample model=tiny sample.n=4

`alft train resume=<run dir>` (or `alft eval resume=<run dir>`) continues an interrupted run.

Every command takes Hydra overrides (key=value), -m for sweeps, --cfg job to print the config,
and --help for its options. Run `alft <command> --help` for details.
"""


def _task(command: str) -> Callable:
    from alft_cli.eval import run_eval
    from alft_cli.sample import run_sample
    from alft_cli.train import run_train

    return {"train": run_train, "eval": run_eval, "sample": run_sample}[command]


COMMANDS = ("train", "eval", "sample")


# Groups that need a Hydra plugin, with the plugin and the extra that installs it.
PLUGIN_GROUPS = {"launcher": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
                 "hparams_search": ("hydra_plugins.hydra_optuna_sweeper", "sweep")}


# Keys that moved: old override -> what to write instead (one line for users of the old name).
MOVED_KEYS = {f"{old}.transforms": "transforms" for old in ("objective", "eval", "sample")}


def rewrite_overrides(args: list[str]) -> list[str]:
    """Check config-group choices; `model=<path or hub id>` becomes `model=hub model.name_or_path=…`.

    Every group is in the primary defaults lists (`experiment: null` and the like, as in
    lightning-hydra-template), so `+experiment=NAME` is accepted as `experiment=NAME`.

    A comma list (a `-m` sweep) is checked item by item; a list of paths or hub ids becomes
    `model=hub model.name_or_path=a,b`, so `alft eval -m model=runA,runB` sweeps over models.
    """
    groups = {p.name for p in conf_dir().iterdir() if p.is_dir()}
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        name = key.lstrip("+~")
        if name in MOVED_KEYS:
            raise UserError(f"{name} is now {MOVED_KEYS[name]} (one key for train, eval and sample): "
                            f"{MOVED_KEYS[name]}={value}")
        if not sep or name not in groups or value in ("null", "") or "(" in value:
            out.append(arg)  # "(": a Hydra sweep function such as choice(...) or glob(...)
            continue
        if key == f"+{name}":
            key, arg = name, arg[1:]
        if name == "accelerate":
            raise UserError(f"conf/accelerate/{value}.yaml is an `accelerate launch --config_file` file, not an alft "
                            "option: accelerate launch --config_file conf/accelerate/<layout>.yaml $(which alft) train …")
        choices, values = group_choices(name), value.split(",")
        unknown = [v for v in values if v not in choices]
        if not unknown and name in PLUGIN_GROUPS:
            _require_plugin(*PLUGIN_GROUPS[name], option=arg)
        if not unknown:
            out.append(arg)
        elif name == "model" and all("/" in v or Path(v).exists() for v in values):
            out += ["model=hub", f"model.name_or_path={value}"]
        elif name == "model" and len(unknown) < len(values) and all("/" in v or Path(v).exists() for v in unknown):
            raise UserError(f"model={value} mixes config names and paths; sweep over one kind, "
                            "or use eval.models=[...] with alft eval")
        else:
            raise UserError(f"unknown {name} {unknown[0]!r} (choices: {', '.join(choices)})")
    return out


def _require_plugin(module: str, extra: str, option: str) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # no Hydra plugin installed at all
        found = False
    if not found:
        raise UserError(f"{option} needs the Hydra plugin {module.split('.')[-1]}: pip install 'alft[{extra}]'")


def _hydra_app(command: str) -> Callable[[], None]:
    import hydra
    from omegaconf import DictConfig

    def app(cfg: DictConfig) -> float | None:
        from alft_cli.runs import check_run_dir, interrupted_message, run_dir, run_dir_lock, write_config

        out = run_dir()
        try:
            with run_dir_lock(out):
                check_run_dir(command, cfg, out)
                write_config(cfg, out)
                return optimized_value(cfg, _task(command)(cfg))
        except UserError as err:
            _fail(err)
        except KeyboardInterrupt:
            print(interrupted_message(command, out), file=sys.stderr)
            sys.exit(130)

    from omegaconf import OmegaConf

    from alft_cli.runs import UNIQUE_DIR_RESOLVER, unique_dir

    # cached: a sweep's jobs (load_sweep_config copies the cache, also into submitit's processes) reuse the
    # directory the launching process claimed
    OmegaConf.register_new_resolver(UNIQUE_DIR_RESOLVER, unique_dir, replace=True, use_cache=True)
    app.__name__ = command
    return hydra.main(config_path=str(conf_dir()), config_name=command, version_base="1.3")(app)


def optimized_value(cfg: Any, metrics: Any) -> float | None:
    """What a sweeper (Optuna) optimises: `metrics[cfg.optimized_metric]` when the config names a metric."""
    key = cfg.get("optimized_metric")
    if not key:
        return None
    if not isinstance(metrics, dict) or key not in metrics:
        raise UserError(f"optimized_metric={key!r} is not a metric of this command "
                        f"(choices: {', '.join(sorted(metrics or {}))})")
    if metrics[key] is None:
        raise UserError(f"optimized_metric={key!r} was not measured in this run (heldout.limit=0?)")
    return float(metrics[key])


def distributed_overrides(args: list[str]) -> list[str]:
    """Hydra overrides that give every process of one launch the same run directory, written by rank 0.

    Hydra names run directories with `${now:…}`, which can differ by a second between processes. `ALFT_RUN_DIR`
    names the directory outright (any launch, any number of nodes); otherwise, when WORLD_SIZE > 1, the first
    process to start publishes its clock in the launcher's rendezvous store (accelerate launch and torchrun
    run one per launch, at MASTER_ADDR:MASTER_PORT) and every process fills `${now:…}` with it. Processes
    other than rank 0 write neither `.hydra/` nor a log file.
    """
    mode = "sweep" if {"-m", "--multirun"} & set(args) else "run"
    fixed = os.environ.get("ALFT_RUN_DIR")
    out = []
    if not any(a.startswith(f"hydra.{mode}.dir=") for a in args) and (
            fixed or int(os.environ.get("WORLD_SIZE", "1")) > 1):
        if not fixed:
            when = _launch_time()
            pattern = _unwrap_unique(yaml.safe_load((conf_dir() / "hydra" / "default.yaml").read_text())[mode]["dir"])
            fixed = re.sub(r"\$\{now:([^}]*)\}", lambda m: when.strftime(m.group(1)), pattern)
        out.append(f"hydra.{mode}.dir={fixed}")
    if int(os.environ.get("RANK", "0")) > 0:
        out += ["hydra.output_subdir=null", "hydra/job_logging=stdout"]
    return out


def _unwrap_unique(pattern: str) -> str:
    """A run-directory pattern without its `alft_unique_dir` wrapper: every process of a launch shares one."""
    match = re.fullmatch(r"\$\{alft_unique_dir:'(.*)'\}", pattern)
    return match.group(1) if match else pattern


def _launch_time() -> datetime:
    """The start time of the first process of this distributed launch (first writer wins in the store)."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() != "true":
        raise UserError("WORLD_SIZE > 1 outside accelerate launch/torchrun: set ALFT_RUN_DIR (one run directory "
                        "shared by every process) or hydra.run.dir")
    from torch.distributed import TCPStore

    store = TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                     timeout=timedelta(minutes=5))
    first = store.compare_set("alft/launch_time", "", datetime.now().isoformat())
    return datetime.fromisoformat(first.decode())


def refuse_busy_run_dir(args: list[str]) -> None:
    """An explicit `hydra.run.dir` that another live alft process runs in is refused before Hydra writes its
    `.hydra/` and log there (the app holds the lock itself: alft_cli.runs.run_dir_lock)."""
    from alft_cli.runs import run_dir_lock

    given = [a.partition("=")[2] for a in args if a.startswith("hydra.run.dir=")]
    if given and "${" not in given[-1] and not {"-m", "--multirun"} & set(args):
        with run_dir_lock(Path(given[-1]).expanduser()):
            pass


def _fail(err: Exception) -> None:
    print(f"alft: error: {err}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        _fail(UserError(f"unknown command {command!r} (choices: {', '.join(COMMANDS)})"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    configure_cuda_allocator()  # before torch is imported
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        from alft_cli.runs import resume_overrides

        rest = resume_overrides(command, rest)
        rest = [*rewrite_overrides(rest), *distributed_overrides(rest)]
        refuse_busy_run_dir(rest)
    except UserError as err:
        _fail(err)
    sys.argv = [f"alft {command}", *rest]
    try:
        _hydra_app(command)()
    except KeyboardInterrupt:  # before the run directory exists (inside it: the app's own message)
        print(f"alft: interrupted (alft {command})", file=sys.stderr)
        sys.exit(130)
