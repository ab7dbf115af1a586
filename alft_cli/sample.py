"""`alft sample`: n completions per prompt (per transformation), their answers and answer histograms.

Writes `samples.jsonl` (`id`, `variant`, `prompt`, `completion`, `answer`), `histograms.jsonl` (`id`,
`variant`, `gold`, `counts`: answer → count, unparsed as `<unparsed>`, most frequent first) and
`metrics.json` (counts), and prints the histograms of the first `sample.show` prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from alft_cli.backends import Sampling, build_jobs, make_backend, run_jobs
from alft_cli.errors import UserError
from alft_cli.runs import run_dir, write_json
from alft_cli.validate import check_sample


def run_sample(cfg: DictConfig) -> list[dict]:
    """Sample per `cfg` into the run directory; returns the sample rows."""
    from alft_cli.answers import extract_answer
    from alft_cli.models import resolve_model
    from alft_cli.scoring import answer_histograms

    check_sample(cfg)
    s = cfg.sample
    jobs = build_jobs(cfg.dataset, s.split, s.limit, cfg.transforms, cfg.seed)
    if not jobs:
        raise UserError(f"no problems to sample in dataset split {s.split!r}")
    sampling = Sampling(int(s.n), float(s.temperature), float(s.top_p), int(s.max_new_tokens))
    backend = make_backend(s, cfg.model, resolve_model(cfg.model), sampling, "sample")
    style, strict = cfg.dataset.style, bool(cfg.dataset.get("strict", False))
    samples, golds = [], []
    for job, completions in run_jobs(backend, jobs, s.chunk, int(cfg.seed)):
        samples += [{"id": job.uid, "variant": job.variant, "prompt": job.question, "completion": c,
                     "answer": extract_answer(c, style, strict=strict)} for c in completions]
        golds += [job.gold] * len(completions)
    histograms = answer_histograms([{**row, "gold": gold} for row, gold in zip(samples, golds)])
    out = run_dir()
    _write_jsonl(out / "samples.jsonl", samples)
    _write_jsonl(out / "histograms.jsonl", histograms)
    write_json(out / "metrics.json", {"n_prompts": len(jobs), "n_samples": len(samples),
                                      "unparsed_rate": sum(r["answer"] is None for r in samples) / len(samples)})
    print(console_summary(histograms[: int(s.show)], len(histograms), out))
    return samples


def console_summary(histograms: list[dict], total: int, out: Path) -> str:
    """A few answer histograms as text bars, gold marked with `*`."""
    lines = [f"\nanswer histograms ({len(histograms)} of {total} prompts; * = gold):"]
    for h in histograms:
        lines.append(f"{h['id']} [{h['variant']}] gold={h['gold']}")
        width, top = max(len(a) for a in h["counts"]), max(h["counts"].values())
        for answer, count in list(h["counts"].items())[:6]:
            mark = "*" if answer == h["gold"] else " "
            lines.append(f"  {mark} {answer:>{width}} {'█' * max(1, round(30 * count / top))} {count}")
        if len(h["counts"]) > 6:
            lines.append(f"    … {len(h['counts']) - 6} more answers")
    lines.append(f"samples: {out / 'samples.jsonl'}")
    return "\n".join(lines)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
