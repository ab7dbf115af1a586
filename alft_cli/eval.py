"""`alft eval`: sample n completions per held-out problem and report pass@k, maj@k and answer statistics.

Extract-then-score: completions are generated (or read from `eval.completions_file`), answers extracted
and checked with `alft_cli.answers`, and the metrics computed by `alft_cli.metrics`. Every number is
written with its protocol (model, dataset, n, k, temperature, template, checker version).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alft_cli.errors import UserError
from alft_cli.runs import run_dir, write_json

log = logging.getLogger(__name__)


def score(rows: list[dict], style: str, ks: list[int]) -> tuple[dict, list[dict]]:
    """Extract and check every completion; return (metrics, scored rows). Rows: id, completion, gold."""
    from alft_cli.answers import check_answer, extract_answer
    from alft_cli.metrics import ProblemSamples, summarize

    by_id: dict[str, list[dict]] = defaultdict(list)
    scored = []
    for row in rows:
        answer = extract_answer(row["completion"], style)
        out = {**row, "answer": answer, "correct": check_answer(answer, row["gold"], style)}
        scored.append(out)
        by_id[str(row["id"])].append(out)
    problems = [
        ProblemSamples(uid, tuple(r["answer"] for r in rs), tuple(r["correct"] for r in rs))
        for uid, rs in by_id.items()
    ]
    n_min = min(len(p.answers) for p in problems)
    usable = [k for k in ks if k <= n_min]
    if len(usable) < len(ks):
        log.warning("dropping k > n = %d from %s", n_min, ks)
    return summarize(problems, usable), scored


def read_completions(path: str) -> list[dict]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"eval.completions_file not found: {file}")
    rows = []
    for i, line in enumerate(file.read_text().splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [k for k in ("id", "completion", "gold") if k not in row]
        if missing:
            raise UserError(f"{file} row {i + 1} has no field {missing[0]!r} (need id, completion, gold)")
        rows.append(row)
    return rows


def generate_completions(cfg: DictConfig) -> tuple[list[dict], dict]:
    """Sample `eval.n` completions for each held-out problem; returns rows and the protocol."""
    from alft_cli.data import build_messages, load_split
    from alft_cli.generation import generate
    from alft_cli.models import load_model_and_tokenizer, resolve_model

    ecfg = cfg.eval
    path = resolve_model(cfg.model)
    model, tokenizer = load_model_and_tokenizer(path, cfg.model.get("dtype", "float32"))
    problems = load_split(cfg.dataset, ecfg.split)
    if ecfg.limit:
        problems = problems[: int(ecfg.limit)]
    prompts = [build_messages(p.question, cfg.dataset.prompt) for p in problems]
    outs = generate(model, tokenizer, prompts, n=ecfg.n, temperature=ecfg.temperature, top_p=ecfg.top_p,
                    max_new_tokens=ecfg.max_new_tokens, batch_size=ecfg.batch_size, seed=cfg.seed)
    rows = [{"id": p.uid, "completion": c, "gold": p.gold} for p, cs in zip(problems, outs) for c in cs]
    protocol = {"model": str(path), "prompt_template": cfg.dataset.prompt.template,
                "system_prompt": cfg.dataset.prompt.get("system"), "shots": 0}
    return rows, protocol


def run_eval(cfg: DictConfig) -> dict:
    from alft_cli.answers import CHECKER_VERSION

    ecfg = cfg.eval
    ks = [int(k) for k in ecfg.k]
    if ecfg.completions_file:
        rows, protocol = read_completions(ecfg.completions_file), {"completions_file": ecfg.completions_file}
    else:
        if max(ks) > ecfg.n:
            raise UserError(f"eval.k={ks} needs eval.n >= {max(ks)} samples per problem (eval.n={ecfg.n})")
        rows, protocol = generate_completions(cfg)
    metrics, scored = score(rows, cfg.dataset.style, ks)
    if not ecfg.completions_file and ecfg.temperature == 0:
        metrics["greedy_accuracy"] = metrics["pass@1"]
    metrics["protocol"] = {
        **protocol, "dataset": OmegaConf.to_container(cfg.dataset, resolve=True), "split": ecfg.split,
        "n": ecfg.n, "k": ks, "temperature": ecfg.temperature, "top_p": ecfg.top_p,
        "max_new_tokens": ecfg.max_new_tokens, "checker_style": cfg.dataset.style,
        "checker_version": CHECKER_VERSION,
    }
    out = run_dir()
    write_json(out / "metrics.json", metrics)
    with (out / "samples.jsonl").open("w") as fh:
        for row in scored:
            fh.write(json.dumps(row) + "\n")
    headline = {k: v for k, v in metrics.items() if k.startswith(("pass@", "maj@")) and not k.endswith("_ci")}
    log.info("%s", "  ".join(f"{k}={v:.3f}" for k, v in headline.items()))
    return metrics
