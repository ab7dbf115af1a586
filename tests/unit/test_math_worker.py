"""issue 13 items 8-10: math-verify verdicts are the same cold or warm, in any thread, under any load;
an overrun is UNDECIDED (counted, scored not correct) and the worker restarts; gsm8k never starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alft_cli import answers
from alft_cli._math_worker import MathVerifier
from alft_cli.answers import Verdict, check_answer, judge_answer
from alft_cli.scoring import compute_metrics, score_rows

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

# pairs only math-verify decides (symbolic); the first one was False on a cold start in checker 1.0.0
PAIRS = [
    ("1+x", "x+1", True),
    ("\\sqrt{9}", "3", True),
    ("(x-1)(x+1)", "x^2-1", True),
    ("\\sqrt{5}", "2", False),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", True),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("x^2", "x^3", False),
]
VERDICTS_SCRIPT = (
    "import json; from alft_cli.answers import judge_answer; "
    f"print(json.dumps([judge_answer(p, g, 'math').value for p, g, _ in {[(p, g, e) for p, g, e in PAIRS]!r}]))"
)


def _fresh_process_verdicts() -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", VERDICTS_SCRIPT], capture_output=True, text=True, env=env,
                         timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_verdicts_are_the_same_cold_warm_and_in_a_thread() -> None:
    expected = [(Verdict.CORRECT if e else Verdict.WRONG).value for _, _, e in PAIRS]
    assert _fresh_process_verdicts() == expected  # cold: the worker starts at the first pair
    answers._math_verify_verdict.cache_clear()
    assert [judge_answer(p, g, "math").value for p, g, _ in PAIRS] == expected  # this process
    assert [judge_answer(p, g, "math").value for p, g, _ in PAIRS] == expected  # warm and cached
    answers._math_verify_verdict.cache_clear()
    in_thread: list[str] = []
    worker = threading.Thread(target=lambda: in_thread.extend(judge_answer(p, g, "math").value for p, g, _ in PAIRS))
    worker.start()
    worker.join(timeout=300)
    assert in_thread == expected
    assert _fresh_process_verdicts() == expected


def test_an_overrun_is_undecided_counted_and_the_worker_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = MathVerifier(timeout_s=300)
    try:
        assert verifier.verify("x+1", "1+x") is True  # started and warm
        verifier.timeout_s = 1e-4  # no check finishes this fast
        assert verifier.verify("x^2+2x+1", "(x+1)^2") is None
        assert verifier.restarts == 1
        monkeypatch.setattr(answers, "_math_verifier", lambda: verifier)
        answers._math_verify_verdict.cache_clear()
        assert judge_answer("(x+1)^2", "x^2+2x+1", "math") is Verdict.UNDECIDED
        assert check_answer("(x+1)^2", "x^2+2x+1", "math") is False
        rows = [{"id": "p", "completion": f"\\boxed{{{c}}}", "gold": "x^2+2x+1"} for c in ("(x+1)^2", "x^2+2x+1")]
        scored = score_rows(rows, "math")
        assert [(r["correct"], r["undecided"]) for r in scored] == [(False, True), (True, False)]
        assert compute_metrics(scored, [1])["undecided_rate"] == 0.5
        verifier.timeout_s = 300  # a fresh worker starts and decides
        assert verifier.verify("x^2+2x+1", "(x+1)^2") is True
    finally:
        answers._math_verify_verdict.cache_clear()
        verifier.close()


def test_gsm8k_checks_never_start_the_worker() -> None:
    """Nor import sympy: exact math pairs and every gsm8k check stay in this process."""
    script = (
        "import sys; from alft_cli.answers import check_answer, extract_answer, _math_verifier; "
        "assert check_answer(extract_answer('so #### 1,234'), '1234'); "
        "assert check_answer('3 1/2', '#### 3.5'); "
        "assert check_answer('\\\\frac72', '3\\\\frac{1}{2}', 'math'); "
        "assert not check_answer('(1, 2)', '(2, 1)', 'math'); "
        "assert _math_verifier.cache_info().currsize == 0; "
        "print(sorted(m for m in ('sympy', 'math_verify', 'alft_cli._math_worker') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_worker_exits_with_its_parent() -> None:
    script = (
        "import os; from alft_cli._math_worker import MathVerifier; v = MathVerifier(300); "
        "assert v.verify('x+1', '1+x'); print(v._proc.pid, flush=True); os._exit(0)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600,
                         check=True)
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_forked_child_starts_its_own_worker() -> None:
    verifier = MathVerifier(timeout_s=300)
    try:
        assert verifier.verify("x+1", "1+x") is True
        parents_worker = verifier._proc.pid  # type: ignore[union-attr]
        child = os.fork()
        if child == 0:  # pragma: no cover — runs in the forked child
            ok = verifier.verify("2x", "x+x") is True and verifier._proc.pid != parents_worker  # type: ignore[union-attr]
            verifier.close()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert verifier.verify("x^2", "x \\cdot x") is True and verifier._proc.pid == parents_worker  # type: ignore[union-attr]
    finally:
        verifier.close()
