"""Scoring for `alft eval` (no model, no torch): completions → answers → the numbers of metrics.json.

Rows are dicts with `id`, `completion`, `gold` and optionally `variant` (the transformation that
rewrote the prompt; `identity` when absent). The headline numbers are those of the first variant
(the untransformed prompts with the default `transforms`). With several variants each gets its
own numbers, and `agreement` is the expected agreement of the majority answers of two variants of
the same problem (`alft_cli.game.groups.agreement`: ties split, as in maj@k and the training log).
Problems and variants keep their order of first appearance, so re-scoring `samples.jsonl` reproduces
`metrics.json` exactly.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from alft_cli.game.groups import agreement, counts, modes
from alft_cli.metrics import Answer, ProblemSamples, bootstrap_ci, maj_at_k, pass_at_k, summarize

log = logging.getLogger(__name__)
DEFAULT_VARIANT = "identity"
UNPARSED = "<unparsed>"


def score_rows(rows: Sequence[dict], style: str, strict: bool = False) -> list[dict]:
    """Each row plus its extracted `answer`, whether it is `correct` and whether the checker left it
    `undecided` (scored not correct; alft_cli.answers)."""
    from alft_cli.answers import Verdict, extract_answer, judge_answer

    verdicts: dict[tuple[str | None, str], Verdict] = {}
    scored = []
    for row in rows:
        answer = extract_answer(row["completion"], style, strict=strict)
        key = (answer, str(row["gold"]))
        if key not in verdicts:
            verdicts[key] = judge_answer(answer, key[1], style)
        verdict = verdicts[key]
        scored.append({**row, "answer": answer, "correct": verdict is Verdict.CORRECT,
                       "undecided": verdict is Verdict.UNDECIDED})
    return scored


def group_problems(scored: Sequence[dict]) -> dict[str, list[ProblemSamples]]:
    """variant → its problems (in order of first appearance) with their answers and labels."""
    groups: dict[str, dict[str, tuple[list[Answer], list[bool]]]] = {}
    for row in scored:
        by_id = groups.setdefault(str(row.get("variant") or DEFAULT_VARIANT), {})
        answers, correct = by_id.setdefault(str(row["id"]), ([], []))
        answers.append(row["answer"])
        correct.append(bool(row["correct"]))
    return {v: [ProblemSamples(uid, tuple(a), tuple(c)) for uid, (a, c) in by_id.items()]
            for v, by_id in groups.items()}


def curve_ks(n: int, ks: Sequence[int]) -> list[int]:
    """k values for the pass@k plot: powers of two up to n, n itself and the requested ks."""
    return sorted({2**i for i in range(n.bit_length()) if 2**i <= n} | {n} | {k for k in ks if k <= n})


def compute_metrics(scored: Sequence[dict], ks: Sequence[int]) -> dict:
    """The metrics.json numbers (without protocol) for scored rows; k > the smallest n is dropped."""
    if not scored:
        raise ValueError("no completions to score")
    variants = group_problems(scored)
    names = list(variants)
    problems = variants[names[0]]
    n_min = min(len(p.answers) for p in problems)
    usable = [k for k in ks if k <= n_min]
    if len(usable) < len(ks):
        log.warning("dropping k > n = %d from %s", n_min, list(ks))
    metrics = summarize(problems, usable)
    metrics["n_samples"] = sum(len(p.answers) for p in problems)
    metrics["undecided_rate"] = sum(bool(r.get("undecided")) for r in scored
                                    if str(r.get("variant") or DEFAULT_VARIANT) == names[0]) / metrics["n_samples"]
    metrics["samples_per_problem"] = n_min
    curve = curve_ks(n_min, usable)
    metrics["curve"] = {
        "k": curve,
        "pass@k": [float(np.mean([pass_at_k(len(p.answers), sum(p.correct), k) for p in problems])) for k in curve],
        "maj@k": [float(np.mean([maj_at_k(p.answers, dict(zip(p.answers, p.correct)), k) for p in problems]))
                  for k in curve],
    }
    if len(names) > 1:
        metrics["variants"] = {v: _without_cis(summarize(variants[v], usable)) for v in names}
        metrics["agreement"], metrics["agreement_ci"] = _agreement(variants)
    return metrics


def _agreement(variants: dict[str, list[ProblemSamples]]) -> tuple[float, list[float]]:
    """Mean over problems present in every variant of the majority answers' agreement, and its bootstrap CI."""
    tops: dict[str, dict[str, list[str]]] = {v: {p.id: modes(counts(p.answers)) for p in ps}
                                             for v, ps in variants.items()}
    shared = [uid for uid in tops[next(iter(tops))] if all(uid in t for t in tops.values())]
    if not shared:
        raise ValueError("agreement needs problems sampled under every variant; none are")
    per_problem = [agreement([t[uid] for t in tops.values()]) for uid in shared]
    return float(np.mean(per_problem)), list(bootstrap_ci(per_problem))


def _without_cis(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.endswith("_ci")}


def answer_histograms(rows: Sequence[dict], variant: str | None = None, limit: int | None = None) -> list[dict]:
    """Answer counts per problem and variant, in order of first appearance (the one histogram builder).

    Each: `id`, `variant`, `gold`, `counts` (answer → count, most frequent first, `None` as `<unparsed>`)
    and, for scored rows, `correct` (the answers labelled correct). `variant` keeps that variant only,
    `limit` its first `limit` problems.
    """
    hists: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (str(row["id"]), str(row.get("variant") or DEFAULT_VARIANT))
        if variant is not None and key[1] != variant:
            continue
        if key not in hists:
            if limit is not None and len(hists) == limit:
                continue
            hists[key] = {"id": key[0], "variant": key[1], "gold": str(row["gold"]), "counts": Counter()}
        answer = UNPARSED if row["answer"] is None else row["answer"]
        hists[key]["counts"][answer] += 1
        if "correct" in row:
            hists[key].setdefault("correct", set())
            if row["correct"]:
                hists[key]["correct"].add(answer)
    return [{**h, "counts": dict(h["counts"].most_common())} for h in hists.values()]
