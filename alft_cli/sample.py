"""`alft sample`: n completions per prompt (per transformation), their answers and answer histograms."""

from __future__ import annotations

import json
import logging
from collections import Counter

from omegaconf import DictConfig

from alft_cli.runs import run_dir, write_json

log = logging.getLogger(__name__)


def run_sample(cfg: DictConfig) -> list[dict]:
    from alft_cli.answers import extract_answer
    from alft_cli.data import build_messages, load_split
    from alft_cli.generation import generate
    from alft_cli.models import load_model_and_tokenizer, resolve_model
    from alft_cli.transforms import make_variants

    scfg = cfg.sample
    model, tokenizer = load_model_and_tokenizer(resolve_model(cfg.model), cfg.model.get("dtype", "float32"))
    problems = load_split(cfg.dataset, scfg.split)[: int(scfg.limit)]
    names = list(scfg.transforms)
    jobs = [(p, j, q) for p in problems for j, q in enumerate(make_variants(p.question, names, seed=cfg.seed))]
    prompts = [build_messages(q, cfg.dataset.prompt) for _, _, q in jobs]
    outs = generate(model, tokenizer, prompts, n=scfg.n, temperature=scfg.temperature, top_p=scfg.top_p,
                    max_new_tokens=scfg.max_new_tokens, batch_size=scfg.batch_size, seed=cfg.seed)
    out = run_dir()
    samples, histograms = [], []
    for (problem, j, question), completions in zip(jobs, outs):
        answers = [extract_answer(c, cfg.dataset.style) for c in completions]
        for c, a in zip(completions, answers):
            samples.append({"id": problem.uid, "variant": names[j], "prompt": question, "completion": c,
                            "answer": a})
        counts = Counter("<unparsed>" if a is None else a for a in answers)
        histograms.append({"id": problem.uid, "variant": names[j], "gold": problem.gold,
                           "counts": dict(counts.most_common())})
    _write_jsonl(out / "samples.jsonl", samples)
    _write_jsonl(out / "histograms.jsonl", histograms)
    write_json(out / "metrics.json", {"n_prompts": len(jobs), "n_samples": len(samples)})
    for h in histograms[: scfg.show]:
        log.info("%s [%s] gold=%s  %s", h["id"], h["variant"], h["gold"], h["counts"])
    return samples


def _write_jsonl(path, rows) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
