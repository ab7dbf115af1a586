"""The pilot of study 2 (docs/results/study2/PILOT.md): the base model on candidate tasks, judged by the gate.

For each candidate reasoning-gym task: the number of distinct problems (normalised questions in 20,000 rows)
and how many of them fall on each side of the candidate's hash split, the share of problems whose 4 prompt
variants are 4 distinct prompts (2,000 problems, both variant lists), and one `alft eval` of the base model
(the first 40 problems of the deduplicated held-out split × 4 variants × 8 samples, T = 0.7, 32 new tokens).
Writes docs/results/study2/pilot.json and prints the gate table. Resumable: a candidate whose eval
metrics.json exists is not evaluated again.

Usage: .venv/bin/python scripts/study_pilot.py [--only K1 K2] [--structure-only K0 K3] [--model smollm2_135m]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alft_cli.data import in_heldout_share, normalise, task_key
from alft_cli.transforms import make_variants

_NO_EXTRAS = {"allow_parentheses": False, "allow_negation": False}
CANDIDATES: dict[str, tuple[str, dict]] = {
    "K0": ("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}),
    "K1": ("basic_arithmetic", {"operators": ["+"], "min_terms": 2, "max_terms": 2, "min_digits": 1,
                                "max_digits": 2, **_NO_EXTRAS}),
    "K2": ("basic_arithmetic", {"operators": ["+", "-"], "min_terms": 2, "max_terms": 2, "min_digits": 1,
                                "max_digits": 2, **_NO_EXTRAS}),
    "K3": ("basic_arithmetic", {"operators": ["+", "-", "*"], "min_terms": 2, "max_terms": 2, "min_digits": 1,
                                "max_digits": 1, **_NO_EXTRAS}),
    "K4": ("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}),
    # round 2 (PILOT.md): K3's problems (numbers 0-10), 60 % of them held out
    "K5": ("basic_arithmetic", {"operators": ["+", "-", "*"], "min_terms": 2, "max_terms": 2, "min_digits": 1,
                                "max_digits": 1, **_NO_EXTRAS}),
}
HELDOUT_SHARE = {"K5": 0.6}  # dataset.heldout_share of the hash split (default 0.5)
VARIANT_LISTS = (["identity", "paraphrase", "reorder", "paraphrase+reorder"],
                 ["identity", "paraphrase", "paraphrase", "paraphrase"])
# "problems": distinct problems, round 1; round 2 replaced it by distinct held-out and training problems on
# the candidate's hash split (PILOT.md: the study evaluates 200 held-out problems and trains on 80).
GATE = {"pass@1": (0.25, 0.55), "headroom": 0.10, "agreement": 0.70, "distinct_prompts": 0.95, "problems": 400,
        "heldout_problems": 200, "train_problems": 80}
ROUND_2 = {"K5"}
PROTOCOL = {"limit": 40, "n": 8, "temperature": 0.7, "max_new_tokens": 32, "seed": 0}


def task_overrides(task: str, args: dict) -> list[str]:
    """Hydra overrides selecting a reasoning-gym task with its arguments (the dict replaced, not merged)."""
    def value(v: object) -> str:
        return "[" + ",".join(map(value, v)) + "]" if isinstance(v, list) else json.dumps(v)

    literal = ",".join(f"{k}:{value(v)}" for k, v in args.items())
    return [f"dataset.task={task}", "~dataset.task_args", f"+dataset.task_args={{{literal}}}"]


def structure(task: str, args: dict, heldout_share: float) -> dict:
    """Distinct problems (all, held-out and training side of the hash split) and the distinct-prompt share of
    each variant list (no model)."""
    import reasoning_gym

    rows = reasoning_gym.create_dataset(task, size=20_000, seed=1, **args)
    questions = [r["question"] for r in rows]
    sample = questions[:2000]
    share = {",".join(v): sum(len(set(make_variants(q, v, seed=0))) == len(v) for q in sample) / len(sample)
             for v in VARIANT_LISTS}
    keys = {task_key(r) for r in rows}
    heldout = sum(in_heldout_share(k, heldout_share) for k in keys)
    return {"distinct_problems": len({normalise(q) for q in questions}), "distinct_prompt_share": share,
            "heldout_share": heldout_share, "distinct_heldout": heldout, "distinct_train": len(keys) - heldout}


def evaluate(cid: str, task: str, args: dict, variants: list[str], model: str, out: Path,
             heldout_share: float) -> dict:
    run = out / cid
    if not (run / "metrics.json").exists():
        p = PROTOCOL
        cmd = [str(REPO / ".venv" / "bin" / "alft"), "eval", f"model={model}", *task_overrides(task, args),
               f"dataset.heldout_share={heldout_share}", f"eval.limit={p['limit']}", f"eval.n={p['n']}",
               f"eval.k=[1,{p['n']}]",
               f"eval.temperature={p['temperature']}", f"eval.max_new_tokens={p['max_new_tokens']}",
               f"transforms=[{','.join(variants)}]", f"seed={p['seed']}", f"hydra.run.dir={run}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    m = json.loads((run / "metrics.json").read_text())
    return {"pass@1": m["pass@1"], "maj@8": m[f"maj@{PROTOCOL['n']}"], "agreement": m["agreement"],
            "pass@1_all_variants": sum(v["pass@1"] for v in m["variants"].values()) / len(m["variants"]),
            "unparsed_rate": m["unparsed_rate"], "answer_entropy": m["answer_entropy"]}


def problem_criteria(cid: str, r: dict) -> dict[str, bool]:
    if cid in ROUND_2:
        return {"heldout_problems": r["distinct_heldout"] >= GATE["heldout_problems"],
                "train_problems": r["distinct_train"] >= GATE["train_problems"]}
    return {"problems": r["distinct_problems"] >= GATE["problems"]}


def gate(cid: str, r: dict) -> dict[str, bool]:
    lo, hi = GATE["pass@1"]
    return {"pass@1": lo <= r["pass@1"] <= hi, "headroom": r["maj@8"] - r["pass@1"] >= GATE["headroom"],
            "agreement": r["agreement"] <= GATE["agreement"],
            "distinct_prompts": r["distinct_prompt_share"] >= GATE["distinct_prompts"], **problem_criteria(cid, r)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=list(CANDIDATES))
    ap.add_argument("--model", default="smollm2_135m")
    ap.add_argument("--structure-only", nargs="*", default=[],
                    help="candidates measured without a model (they fail a structural criterion already)")
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "pilot")
    ap.add_argument("--json", type=Path, default=REPO / "docs" / "results" / "study2" / "pilot.json")
    a = ap.parse_args()
    results = json.loads(a.json.read_text())["candidates"] if a.json.exists() else {}
    for cid in [*a.only, *a.structure_only]:
        task, args = CANDIDATES[cid]
        share = HELDOUT_SHARE.get(cid, 0.5)
        r = {"task": task, "task_args": args, **structure(task, args, share)}
        shares = r["distinct_prompt_share"]
        first = ",".join(VARIANT_LISTS[0])
        variants = VARIANT_LISTS[0] if shares[first] >= GATE["distinct_prompts"] else VARIANT_LISTS[1]
        r["variants"] = variants
        r["distinct_prompt_share"] = shares[",".join(variants)]
        r["distinct_prompt_share_by_list"] = shares
        if cid in a.structure_only:
            r["gate"] = {"distinct_prompts": r["distinct_prompt_share"] >= GATE["distinct_prompts"],
                         **problem_criteria(cid, r)}
            if all(r["gate"].values()):
                raise SystemExit(f"{cid} passes the structural criteria: evaluate it with the model")
        else:
            r.update(evaluate(cid, task, args, variants, a.model, a.out, share))
            r["gate"] = gate(cid, r)
        r["passes"] = all(r["gate"].values())
        results[cid] = r
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"gate": GATE, "protocol": {**PROTOCOL, "model": a.model},
                                      "candidates": results}, indent=2) + "\n")
        model = (f"pass@1={r['pass@1']:.3f} maj@8={r['maj@8']:.3f} agree={r['agreement']:.3f} "
                 if "pass@1" in r else "(no model eval) ")
        print(f"{cid} {task} {model}prompts={r['distinct_prompt_share']:.3f} problems={r['distinct_problems']} "
              f"{'PASS' if r['passes'] else 'fail: ' + ','.join(k for k, v in r['gate'].items() if not v)}",
              flush=True)


if __name__ == "__main__":
    main()
