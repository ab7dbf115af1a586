"""math-verify in a separate worker process: a bounded, deterministic verdict from any thread.

`MathVerifier.verify(gold, pred)` sends one pair to a long-lived child process
(`python -m alft_cli._math_worker`) that runs `math_verify.verify(parse(gold), parse(pred))` and
answers True/False; when the answer does not come within `timeout_s` the child is killed (a fresh one
starts at the next call) and the verdict is None (*undecided*). No signals, so any thread may call;
calls are serialised by a lock. The child starts lazily at the first call (importing sympy and
math-verify and warming them up takes seconds, not counted against `timeout_s`), exits when its
parent does; a forked child process starts its own instead of sharing the parent's.
The child's own work is the same on every machine: its time only matters when it overruns.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

STARTUP_TIMEOUT_S = 300.0  # importing sympy on a loaded machine; an overrun is an undecided verdict
_MEMORY_BYTES = 4 << 30  # address-space cap of the child: a runaway sympy computation cannot eat the host
_WARMUP = ("x+1", "1+x")  # first sympy calls load lazily imported modules: do them before timing starts


def verify_pair(gold: str, pred: str) -> bool:
    """math_verify.verify(gold, pred) on `$…$`-wrapped strings, gold first (verify is asymmetric)."""
    import math_verify

    parsed_gold = math_verify.parse(f"${gold}$", parsing_timeout=None)
    parsed_pred = math_verify.parse(f"${pred}$", parsing_timeout=None)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(math_verify.verify(parsed_gold, parsed_pred, timeout_seconds=None))


class MathVerifier:
    """Client of one worker process; `verify` returns True, False or None (undecided: overran)."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.restarts = 0  # workers killed after an overrun (for diagnostics and tests)
        atexit.register(self.close)
        os.register_at_fork(after_in_child=self._forget_parents_worker)

    def verify(self, gold: str, pred: str) -> bool | None:
        request = json.dumps({"gold": gold, "pred": pred}).encode() + b"\n"
        with self._lock:
            for _ in range(2):  # a worker that died between calls is replaced once
                proc = self._running()
                if proc is None:
                    return None
                try:
                    _write_all(proc, request)
                    break
                except OSError:
                    self._stop()
            else:
                return None
            reply = self._read_line(self.timeout_s)
            if reply is None:
                self._stop()
                self.restarts += 1
                return None
            return bool(json.loads(reply)["verdict"])

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> subprocess.Popen[bytes] | None:
        """The live worker of this process, started (and awaited) when there is none."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "alft_cli._math_worker", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, bufsize=0, start_new_session=True,
        )
        self._buffer = b""
        ready = self._read_line(STARTUP_TIMEOUT_S)
        if ready is None:
            self._stop()
            return None
        message = json.loads(ready)
        if "error" in message:
            self._stop()
            raise RuntimeError(f"the math-verify worker could not start: {message['error']}")
        return self._proc

    def _read_line(self, timeout_s: float) -> bytes | None:
        """One reply line from the worker, or None when it does not come in time (or the worker died)."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            _close_pipes(proc)

    def _forget_parents_worker(self) -> None:
        """In a forked child: the parent's worker (and a lock another thread may hold) are not ours."""
        self._lock = threading.Lock()
        if self._proc is not None:
            _close_pipes(self._proc)
        self._proc, self._buffer = None, b""


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def _write_all(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    fd = proc.stdin.fileno()
    while data:
        data = data[os.write(fd, data) :]


def _exit_with_parent(parent_pid: int) -> None:
    """Exit as soon as the parent is gone, even in the middle of a long sympy computation."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(0)


def main() -> None:
    """Worker loop: one JSON request per stdin line, one JSON reply per stdout line."""
    import logging
    import resource

    threading.Thread(target=_exit_with_parent, args=(int(sys.argv[1]),), daemon=True).start()
    logging.disable(logging.WARNING)  # math-verify warns that we enforce the timeout ourselves
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
    except (ValueError, OSError):  # a lower hard limit already applies
        pass
    out = sys.stdout.buffer
    try:
        verify_pair(*_WARMUP)
    except Exception as exc:  # noqa: BLE001 — e.g. math-verify not installed: tell the parent, then stop
        out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        out.flush()
        return
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            verdict = verify_pair(request["gold"], request["pred"])
        except Exception:  # noqa: BLE001 — math-verify/sympy on hostile input: never crash, never reward
            verdict = False
        out.write(json.dumps({"verdict": verdict}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
