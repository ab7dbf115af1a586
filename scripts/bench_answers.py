"""Time alft_cli.answers per call: median and worst case over the 5276 GSM8K example solutions and
over adversarial inputs, side by side with a naive `A: (-?[0-9.,]+)` regex baseline; and the `math`
style on MATH_PAIRS (a MATH-style corpus built here: MATH-500-like golds, each with equivalent and
wrong spellings), with its undecided rate, its agreement with the hand labels, the math-verify worker's
start-up cost, and three passes with CPU burners running on every core (verdicts must not change).

Usage: python scripts/bench_answers.py [--repeat 3] [--skip-math]   (data: ../shared/data or $ALFT_SHARED_DATA)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from alft_cli import answers
from alft_cli.answers import CHECKER_VERSION, Verdict, check_answer, extract_answer, judge_answer, parse_gold

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


# gold: (spellings that equal it, spellings that do not); the model output is "The final answer is $X$."
MATH_GOLDS = {
    "\\frac{7}{2}": (["3.5", "3\\frac{1}{2}", "\\dfrac{7}{2}", "7/2", "3 1/2"], ["31/2", "\\frac{2}{7}", "3.4"]),
    "1\\frac{4}{5}": (["\\frac95", "1.8", "9/5"], ["14/5", "1.45"]),
    "137 \\frac{1}{2}": (["137.5", "\\frac{275}{2}"], ["1371/2", "137"]),
    "-\\frac{1}{8}": (["-0.125", "\\frac{-1}{8}"], ["\\frac{1}{8}"]),
    "\\frac{1}{3}": (["1/3", "\\tfrac13"], ["0.33", "0.333"]),
    "8,000": (["8000", "8{,}000", "8\\,000"], ["8", "8,001"]),
    "\\$36": (["36", "\\$36.00"], ["37"]),
    "50\\%": (["50"], ["0.4"]),
    "30^\\circ": (["30", "30^{\\circ}"], ["60^\\circ"]),
    "2\\sqrt{2}": (["\\sqrt{8}", "2 \\sqrt 2", "\\sqrt{2}\\cdot 2"], ["\\sqrt{2}", "4"]),
    "\\frac{\\sqrt{3}}{2}": (["\\frac{\\sqrt3}{2}", "\\frac{1}{2}\\sqrt{3}", "\\sqrt{3}/2"], ["\\frac{\\sqrt{2}}{2}", "\\frac12"]),
    "\\sqrt{2}+\\sqrt{3}": (["\\sqrt3+\\sqrt2"], ["\\sqrt{5}"]),
    "6\\pi": (["6 \\pi", "\\pi \\cdot 6"], ["3\\pi", "18.84"]),
    "10^{-3}": (["0.001", "\\frac{1}{1000}"], ["0.01"]),
    "2^{10}": (["1024"], ["1023", "2^9"]),
    "\\binom{10}{3}": (["120"], ["720"]),
    "5!": (["120"], ["24"]),
    "\\log_2 8": (["3"], ["2"]),
    "e^{2}": (["e^2"], ["2e"]),
    "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}": (
        ["\\begin{pmatrix}-1\\\\2\\end{pmatrix}", "\\begin{bmatrix} -1 \\\\ 2 \\end{bmatrix}"],
        ["\\begin{pmatrix}1\\\\-2\\end{pmatrix}"],
    ),
    "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}": (
        ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"], ["\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}"],
    ),
    "(1, 2)": (["(1,2)", "\\left( 1, 2 \\right)"], ["(2, 1)", "[1, 2]"]),
    "[-2, 5)": (["[-2,5)"], ["(-2, 5)", "[-2, 5]"]),
    "(-\\infty, 3) \\cup (5, \\infty)": (["(-\\infty,3)\\cup(5,\\infty)"], ["(-\\infty, 3] \\cup (5, \\infty)"]),
    "1, 3": (["3, 1", "\\{1, 3\\}", "1,3"], ["1", "1, 2"]),
    "x^2 + 2x + 1": (["(x+1)^2", "1 + 2x + x^2"], ["(x-1)^2", "x^2+1"]),
    "\\frac{x+1}{x-1}": (["\\frac{1+x}{x-1}", "(x+1)/(x-1)"], ["\\frac{x-1}{x+1}"]),
    "x = 5": (["5", "x=5"], ["x = -5", "6"]),
    "y = 2x + 3": (["y=2x+3", "y = 3 + 2x"], ["y = 3x + 2"]),
    "\\frac{\\pi}{4}": (["\\pi/4", "0.25\\pi"], ["\\frac{\\pi}{2}"]),
}
MATH_PAIRS = [(f"The final answer is ${pred}$.", gold, label)
              for gold, (right, wrong) in MATH_GOLDS.items() for pred, label in [(p, True) for p in right] + [(p, False) for p in wrong]]


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
    parser.add_argument("--skip-math", action="store_true", help="skip the math style (it starts math-verify)")
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

    hostile_math = ["(x+1)^{999}", "\\prod_{k=1}^{999} (x+k)", "9^{9^{9}}", "9!!!", "(10^9)!", "\\binom{10^9}{5\\cdot10^8}"]
    times = [timed(lambda h=h: check_answer(h, "(x+1)^{998}(x+2)", "math"), 1) for h in hostile_math]
    report("math check_answer, hostile (refused)", times)
    if not args.skip_math:
        bench_math()


def math_pass() -> tuple[list[float], list[Verdict]]:
    """Extract + judge every MATH_PAIRS case once, from an empty verdict cache: (µs per check, verdicts)."""
    answers._math_verify_verdict.cache_clear()
    times, verdicts = [], []
    for text, gold, _ in MATH_PAIRS:
        started = time.perf_counter_ns()
        verdicts.append(judge_answer(extract_answer(text, "math"), gold, "math"))
        times.append((time.perf_counter_ns() - started) / 1000)
    return times, verdicts


def math_summary(name: str, times: list[float], verdicts: list[Verdict]) -> None:
    agree = sum((v is Verdict.CORRECT) == label for v, (_, _, label) in zip(verdicts, MATH_PAIRS))
    undecided = verdicts.count(Verdict.UNDECIDED)
    report(name, times)
    print(f"    undecided {undecided}/{len(verdicts)} ({undecided / len(verdicts):.1%}), "
          f"agreement with the labels {agree}/{len(verdicts)}")


def bench_math() -> None:
    n_right = sum(label for *_, label in MATH_PAIRS)
    print(f"math style on MATH_PAIRS ({len(MATH_PAIRS)} pairs: {len(MATH_GOLDS)} MATH-style golds, {n_right} equal "
          f"and {len(MATH_PAIRS) - n_right} unequal spellings), extract + check per call, worker limit "
          f"{answers.MATH_TIMEOUT_S:g} s:")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys, alft_cli.answers; assert 'sympy' not in sys.modules"], check=True)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    verifier = answers._math_verifier()
    verifier.verify("1", "1")
    start_s = time.perf_counter() - started
    rss = next(line.split()[1] for line in Path(f"/proc/{verifier._proc.pid}/status").read_text().splitlines()
               if line.startswith("VmRSS"))
    print(f"  a process importing alft_cli.answers: {import_s:.2f} s (sympy/math-verify not imported); "
          f"math-verify worker start-up (first check only): {start_s:.2f} s, worker RSS {int(rss) / 1024:.0f} MiB")
    math_summary("quiet, warm worker", *math_pass())
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        passes = []
        for i in range(3):
            if i == 0:
                verifier.close()  # the first loaded pass starts a cold worker
            passes.append(math_pass())
            cold = ", cold worker (worst: its start-up)" if i == 0 else ""
            math_summary(f"pass {i + 1}, {len(burners)} CPU burners{cold}", *passes[-1])
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    flips = sum(len({p[1][j] for p in passes}) > 1 for j in range(len(MATH_PAIRS)))
    print(f"  verdicts that differ between the three loaded passes: {flips} of {len(MATH_PAIRS)}")


if __name__ == "__main__":
    main()
