"""Time alft_cli.answers per call: median and worst case over the 5276 GSM8K example solutions and
over adversarial inputs, side by side with a naive `A: (-?[0-9.,]+)` regex baseline.

Usage: python scripts/bench_answers.py [--repeat 3]   (data: ../shared/data or $ALFT_SHARED_DATA)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alft_cli.answers import CHECKER_VERSION, check_answer, extract_answer, parse_gold

DATA = Path(
    os.environ.get("ALFT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
)
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
NAIVE_RE = re.compile(r"A: (\-?[0-9\.\,]+)")
N = 100_000
ADVERSARIAL = {
    "100k digits": "9" * N,
    "100k comma groups": "1" + ",000" * (N // 4),
    "10k nested braces": "\\boxed{" + "{" * 10_000 + "5" + "}" * 10_000 + "}",
    "unclosed boxed x14k": "\\boxed{" * (N // 7),
    "answer-is x7k": "the answer is " * (N // 14),
    "empty A-lines x33k": "A:\n" * (N // 3),
    "NUL bytes": "\x00" * N + "\nA: 5",
    "mixed scripts": "答案是١٢٣ Ωμέγα 18 " * (N // 20),
    "slashes": "1/" * (N // 2),
    "decimal points": ".5" * (N // 2),
}


def naive_check(solution: str, gold: str) -> bool:
    """OpenAI grade-school-math's grader with the `A:` marker: regex, drop commas, compare strings."""
    m = NAIVE_RE.search(solution)
    return m is not None and m.group(1).replace(",", "").rstrip(".") == gold


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Best of `repeat` runs of one call, in microseconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - started)
    return best / 1000


def report(name: str, times: list[float]) -> None:
    print(
        f"  {name:<34} n={len(times):>5}  median {statistics.median(times):9.1f} µs   worst {max(times):10.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats per call (best is kept)")
    args = parser.parse_args()
    print(f"alft answers checker {CHECKER_VERSION}; Python {sys.version.split()[0]}")

    solutions_path, test_path = (
        DATA / "gsm8k" / "example_model_solutions.jsonl",
        DATA / "gsm8k" / "test.jsonl",
    )
    if solutions_path.is_file() and test_path.is_file():
        gold_by_question = {p["question"]: p["answer"] for p in map(json.loads, test_path.open())}
        cases = [
            (row[m]["solution"], parse_gold(gold_by_question[row["question"]]), row[m]["is_correct"])
            for row in map(json.loads, solutions_path.open())
            for m in MODELS
        ]
        alft = [timed(lambda s=s, g=g: check_answer(extract_answer(s), g), args.repeat) for s, g, _ in cases]
        naive = [timed(lambda s=s, g=g: naive_check(s, g), args.repeat) for s, g, _ in cases]
        agree = sum(check_answer(extract_answer(s), g) == label for s, g, label in cases)
        agree_strict = sum(check_answer(extract_answer(s, strict=True), g) == label for s, g, label in cases)
        agree_naive = sum(naive_check(s, g) == label for s, g, label in cases)
        print(f"GSM8K example solutions ({len(cases)}), extract + check per call:")
        report("alft gsm8k", alft)
        report("naive A: regex", naive)
        print(f"  median ratio alft/naive: {statistics.median(alft) / statistics.median(naive):.1f}x")
        print(
            f"  agreement with OpenAI is_correct: alft {agree}/{len(cases)}, alft strict "
            f"{agree_strict}/{len(cases)}, naive {agree_naive}/{len(cases)}"
        )
    else:
        print(f"GSM8K example solutions not found under {DATA}: corpus timing skipped")

    print("Adversarial inputs (100k characters), extract (flexible + strict) per style:")
    for style in ("gsm8k", "math", "exact"):
        times = [
            timed(lambda t=t, s=style: (extract_answer(t, s), extract_answer(t, s, strict=True)), 1)
            for t in ADVERSARIAL.values()
        ]
        worst = max(zip(times, ADVERSARIAL), key=lambda pair: pair[0])[1]
        report(f"{style} (worst: {worst})", times)

    hostile_math = ["(x+1)^{999}", "\\prod_{k=1}^{999} (x+k)", "9^{9^{9}}", "\\sqrt{9}"]
    times = [timed(lambda h=h: check_answer(h, "(x+1)^{998}(x+2)", "math"), 1) for h in hostile_math]
    report("math check_answer, hostile", times)


if __name__ == "__main__":
    main()
