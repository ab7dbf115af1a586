"""`alft eval`: sample n completions per held-out problem and report pass@k, maj@k and answer statistics.

Extract-then-score: completions are generated (or read from `eval.completions_file`), answers extracted
and checked with `alft_cli.answers`, the numbers computed by `alft_cli.scoring`/`alft_cli.metrics` and
written with their protocol (model, dataset, split, n, k, temperature, template, checker version).

Run directory: `metrics.json`, `samples.jsonl` (one row per completion; a valid `eval.completions_file`),
`report.md`, `pass_at_k.png`, `answer_histograms.png`, and the generation cache
`completions.partial.jsonl` (one line per finished prompt, appended as generation goes) with its
protocol in `completions.meta.json`: re-running in the same `hydra.run.dir` (after an interruption, or
with a larger `eval.limit`) generates only the prompts not in the cache. With several models
(`eval.models=[a,b]`) each gets a sub-directory and the run directory holds the comparison.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alft_cli.backends import Job, Sampling, build_jobs, make_backend, run_jobs
from alft_cli.data import json_type, read_json_rows
from alft_cli.errors import UserError
from alft_cli.runs import run_dir, write_json
from alft_cli.validate import check_eval

log = logging.getLogger(__name__)
CACHE, CACHE_META = "completions.partial.jsonl", "completions.meta.json"
SMOLLM2_LABEL = "SmolLM2-135M-Instruct (Q4_1, dequantized)"


def run_eval(cfg: DictConfig) -> dict:
    """Evaluate per `cfg` into the run directory; returns metrics.json (`{"models": …}` for several)."""
    ks = check_eval(cfg)
    out = run_dir()
    if cfg.eval.completions_file:
        return _rescore(cfg, ks, out)
    models = model_entries(cfg)
    jobs = build_jobs(cfg.dataset, cfg.eval.split, cfg.eval.limit, cfg.transforms, cfg.seed)
    if not jobs:
        raise UserError(f"no problems to evaluate in dataset split {cfg.eval.split!r} (eval.limit={cfg.eval.limit})")
    results = []
    for i, (label, model_cfg) in enumerate(models):
        model_out = out if len(models) == 1 else out / _slug(i, label)
        rows, protocol = generate_rows(cfg, label, model_cfg, jobs, model_out)
        results.append((label, finish(model_out, rows, ks, {**protocol, "limit": cfg.eval.limit}, cfg)))
    if len(results) == 1:
        print(summary(results, out))
        return results[0][1]
    from alft_cli.report import write_comparison

    per_model = ("model", "model_label", "model_source", "dtype", "backend")
    common = {k: v for k, v in results[0][1]["protocol"].items() if k not in per_model}
    print(write_comparison(out, results, {"models": ", ".join(label for label, _ in results), **common}))
    print(f"report: {out / 'report.md'}")
    return {"models": dict(results)}


def model_entries(cfg: DictConfig) -> list[tuple[str, Any]]:
    """(label, model config) for each model: `eval.models` when given, else `model`."""
    from alft_cli.configs import conf_dir, group_choices

    names = [str(m) for m in cfg.eval.get("models") or []]
    if not names:
        return [(model_label(cfg.model), cfg.model)]
    if len(set(names)) < len(names):
        raise UserError(f"eval.models={names} lists a model twice")
    choices = group_choices("model")
    entries = []
    for name in names:
        if name in choices:
            entries.append((name, OmegaConf.load(conf_dir() / "model" / f"{name}.yaml")))
        elif "/" in name or Path(name).expanduser().exists():
            hub = OmegaConf.load(conf_dir() / "model" / "hub.yaml")
            entries.append((name, OmegaConf.merge(hub, {"name_or_path": name})))
        else:
            raise UserError(f"eval.models entry {name!r} is not a model config ({', '.join(choices)}), "
                            "a local directory or a hub id")
    return entries


def model_label(model_cfg: Any) -> str:
    """What a model is called in tables: the hub id or path as given, `tiny`, or the SmolLM2 name."""
    return {"tiny": "tiny", "smollm2_gguf": SMOLLM2_LABEL}.get(model_cfg.source, str(model_cfg.name_or_path))


def _slug(i: int, label: str) -> str:
    return f"{i}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_.")[-48:]


def generation_protocol(cfg: DictConfig, label: str, model_cfg: Any, path: Path) -> dict:
    """What decides which completions are generated for the model at `path`: the resume key."""
    from alft_cli.models import model_dtype

    e, d = cfg.eval, cfg.dataset
    return {
        "model": str(path), "model_label": label, "model_source": model_cfg.source,
        "dtype": model_dtype(model_cfg, path),
        "dataset": OmegaConf.to_container(d, resolve=True), "split": e.split,
        "prompt_template": d.prompt.template, "system_prompt": d.prompt.get("system"), "shots": 0,
        "transforms": list(cfg.transforms), "n": int(e.n), "temperature": float(e.temperature),
        "top_p": float(e.top_p), "max_new_tokens": int(e.max_new_tokens), "seed": int(cfg.seed),
    }


def generate_rows(cfg: DictConfig, label: str, model_cfg: Any, jobs: Sequence[Job], out: Path
                  ) -> tuple[list[dict], dict]:
    """Completions for every job, reusing the run directory's cache; returns rows and the protocol."""
    from alft_cli.models import resolve_model

    e = cfg.eval
    path = resolve_model(model_cfg)
    protocol = generation_protocol(cfg, label, model_cfg, path)
    done, meta = _load_cache(out, protocol)
    todo = [j for j in jobs if (j.uid, j.variant) not in done]
    if len(todo) < len(jobs):
        log.info("%s: %d of %d prompts already in %s", label, len(jobs) - len(todo), len(jobs), out / CACHE)
    if todo:
        if e.backend not in meta["backends"]:
            meta["backends"].append(str(e.backend))
            write_json(out / CACHE_META, meta)
        sampling = Sampling(int(e.n), float(e.temperature), float(e.top_p), int(e.max_new_tokens))
        backend = make_backend(e, model_cfg, path, sampling, "eval")
        with (out / CACHE).open("a") as fh:
            for job, completions in run_jobs(backend, todo, e.chunk, int(cfg.seed), len(jobs) - len(todo), label):
                fh.write(json.dumps({"id": job.uid, "variant": job.variant, "prompt": job.question,
                                     "gold": job.gold, "completions": completions}) + "\n")
                fh.flush()
                done[(job.uid, job.variant)] = completions
    rows = [{"id": j.uid, "variant": j.variant, "completion": c, "gold": j.gold}
            for j in jobs for c in done[(j.uid, j.variant)]]
    return rows, {**protocol, "backend": "+".join(meta["backends"])}


def _load_cache(out: Path, protocol: dict) -> tuple[dict[tuple[str, str], list[str]], dict]:
    """Finished prompts of an earlier run in `out` and the cache's meta (UserError on another protocol)."""
    out.mkdir(parents=True, exist_ok=True)
    meta_file, cache = out / CACHE_META, out / CACHE
    if not meta_file.is_file() or not cache.is_file():
        meta = {"protocol": protocol, "backends": []}
        write_json(meta_file, meta)
        cache.write_text("")
        return {}, meta
    meta = json.loads(meta_file.read_text())
    changed = [k for k in protocol if meta["protocol"].get(k) != protocol[k]]
    if changed:
        key, was = changed[0], meta["protocol"].get(changed[0])
        what = f"another {key} config" if isinstance(was, dict) else f"{key}={was!r}, not {protocol[key]!r}"
        raise UserError(f"{out} holds completions generated with {what}; use a new hydra.run.dir or delete {CACHE}")
    done = {}
    for line in cache.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the interruption
            continue
        if len(row["completions"]) == protocol["n"]:
            done[(row["id"], row["variant"])] = row["completions"]
    return done, meta


def finish(out: Path, rows: list[dict], ks: list[int], protocol: dict, cfg: DictConfig) -> dict:
    """Score rows and write metrics.json, samples.jsonl, report.md and the plots into `out`."""
    from alft_cli.answers import CHECKER_VERSION
    from alft_cli.report import plot_histograms, plot_pass_at_k, try_plot, write_report
    from alft_cli.scoring import DEFAULT_VARIANT, answer_histograms, compute_metrics, score_rows

    style, strict = cfg.dataset.style, bool(cfg.dataset.get("strict", False))
    scored = score_rows(rows, style, strict)
    metrics = compute_metrics(scored, ks)
    if protocol.get("temperature") == 0:
        metrics["greedy_accuracy"], metrics["greedy_accuracy_ci"] = metrics["pass@1"], metrics["pass@1_ci"]
    metrics["protocol"] = {**protocol, "k": ks, "checker_style": style,
                           "checker_strict": strict, "checker_version": CHECKER_VERSION}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    with (out / "samples.jsonl").open("w") as fh:
        for row in scored:
            fh.write(json.dumps(row) + "\n")
    label = protocol.get("model_label", "completions")
    plots = try_plot(plot_pass_at_k, out / "pass_at_k.png", [(label, metrics)])
    first = str(scored[0].get("variant") or DEFAULT_VARIANT)
    hists = answer_histograms(scored, variant=first, limit=int(cfg.eval.show))
    if hists:
        plots += try_plot(plot_histograms, out / "answer_histograms.png", hists)
    write_report(out, [(label, metrics)], metrics["protocol"], plots)
    return metrics


def summary(results: list[tuple[str, dict]], out: Path) -> str:
    from alft_cli.report import summary_table

    return f"\n{summary_table(results)}\n\nreport: {out / 'report.md'}"


def read_completions(path: str) -> list[dict]:
    """Rows of an `eval.completions_file` (JSONL: id, completion, gold; optional variant). A completion is
    text or a list of chat messages (its assistant turns are the completion); one gold per id."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"eval.completions_file not found: {file}")
    rows, golds = [], {}
    for where, row in read_json_rows(file):
        missing = [k for k in ("id", "completion", "gold") if k not in row]
        if missing:
            raise UserError(f"{where} has no field {missing[0]!r} (need id, completion, gold)")
        out = {"id": _scalar(row, "id", where), "completion": _completion_text(row["completion"], where),
               "gold": _scalar(row, "gold", where)}
        if "variant" in row:
            out["variant"] = _scalar(row, "variant", where)
        first = golds.setdefault(out["id"], (out["gold"], where))
        if first[0] != out["gold"]:
            raise UserError(f"{file}: problem id {out['id']!r} repeats with another gold ({first[0]!r} at "
                            f"{first[1].removeprefix(f'{file} ')}, {out['gold']!r} at {where.removeprefix(f'{file} ')}); "
                            "every problem needs its own id")
        rows.append(out)
    if not rows:
        raise UserError(f"eval.completions_file {file} holds no rows")
    return rows


def _scalar(row: dict, key: str, where: str) -> str:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UserError(f"{where} field {key!r} is {json_type(value)}, not text or a number")
    return str(value)


def _completion_text(value: Any, where: str) -> str:
    """A completion as text: a string, or the assistant turns of a list of chat messages (as TRL logs them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                 for m in value):
        turns = [m["content"] for m in value if m.get("role", "assistant") == "assistant"]
        if turns:
            return "\n".join(turns)
    raise UserError(f"{where} field 'completion' is neither text nor a list of chat messages with an assistant "
                    f"turn ({{'role': 'assistant', 'content': '…'}}); got {json.dumps(value)[:60]}")


def _rescore(cfg: DictConfig, ks: list[int], out: Path) -> dict:
    """Score saved completions without a model."""
    file = cfg.eval.completions_file
    protocol = {"model_label": Path(file).name, "completions_file": str(Path(file).expanduser().resolve())}
    metrics = finish(out, read_completions(file), ks, protocol, cfg)
    print(summary([(protocol["model_label"], metrics)], out))
    return metrics
