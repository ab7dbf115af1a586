"""GPU memory and throughput bookkeeping (alft_cli.telemetry), the CUDA allocator setting, the wheelhouse's
dependency filter, and the Makefile targets of the GPU recipe."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alft_cli import telemetry
from alft_cli.telemetry import ALLOC_CONF, StepTelemetry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_alloc_conf(monkeypatch):
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    monkeypatch.delenv("PYTORCH_ALLOC_CONF", raising=False)
    return monkeypatch


def test_expandable_segments_unless_the_user_chose(no_alloc_conf):
    telemetry.configure_cuda_allocator()
    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == ALLOC_CONF == "expandable_segments:True"
    for name, value in [("PYTORCH_CUDA_ALLOC_CONF", ""), ("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128"),
                        ("PYTORCH_ALLOC_CONF", "expandable_segments:False")]:
        no_alloc_conf.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
        no_alloc_conf.setenv(name, value)
        telemetry.configure_cuda_allocator()
        assert os.environ[name] == value
        assert name == "PYTORCH_CUDA_ALLOC_CONF" or "PYTORCH_CUDA_ALLOC_CONF" not in os.environ


def test_alft_sets_the_allocator_before_torch_is_imported(tmp_path):
    probe = ("import os, sys\nfrom alft_cli import cli\ncli._hydra_app = lambda command: lambda: print("
             "os.environ.get('PYTORCH_CUDA_ALLOC_CONF'), 'torch' in sys.modules)\ncli.main(['train'])\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout.split()
    assert out == [ALLOC_CONF, "False"]


NO_TIME = {"timing/generation_share": 0.0, "timing/reward_share": 0.0}


def test_step_logs_throughput_over_the_time_since_the_last_emitted_rate():
    clock = iter([110.0, 112.0, 116.0])
    t = StepTelemetry(clock=lambda: next(clock))
    assert t.step_logs("cpu", 500.0, start_time=100.0) == {"throughput/completion_tokens_per_s": 50.0, **NO_TIME}
    assert t.step_logs("cpu", 0.0, start_time=100.0) == {}  # no generation in this interval: the clock runs on
    assert t.step_logs("cpu", 300.0, start_time=100.0) == {"throughput/completion_tokens_per_s": 50.0, **NO_TIME}
    assert (t.tokens, t.seconds) == (800.0, 16.0)
    assert t.run_metrics("cpu") == {"peak_gpu_mem_gb": None, "peak_gpu_reserved_gb": None,
                                    "completion_tokens_per_s": 50.0, "generation_share": 0.0, "reward_share": 0.0}
    assert StepTelemetry().run_metrics("cpu")["completion_tokens_per_s"] is None  # no logged step: null
    assert StepTelemetry().run_metrics("cpu")["generation_share"] is None


def test_generation_and_reward_shares_of_each_logged_interval_and_of_the_run():
    now = [100.0]
    t = StepTelemetry(clock=lambda: now[0])

    def spend(phase, seconds):
        with t.timed(phase):
            now[0] += seconds

    spend("generation", 6.0), spend("reward", 1.0)
    now[0] += 3.0  # the rest of the step: log-probs, loss, backward, optimizer
    assert t.step_logs("cpu", 100.0, start_time=100.0) == {
        "throughput/completion_tokens_per_s": 10.0, "timing/generation_share": 0.6, "timing/reward_share": 0.1}
    spend("generation", 2.0), spend("generation", 2.0)  # two generation batches before the next log
    now[0] += 6.0
    assert t.step_logs("cpu", 100.0, start_time=100.0)["timing/generation_share"] == 0.4
    run = t.run_metrics("cpu")
    assert (run["generation_share"], run["reward_share"]) == (0.5, 0.05)  # 10 s and 1 s of 20 s
    with pytest.raises(ValueError, match="phase"), t.timed("backward"):
        pass


def test_a_phase_on_a_gpu_is_timed_between_synchronisations(monkeypatch):
    events = []
    monkeypatch.setattr(telemetry, "_synchronize", lambda device: events.append(("sync", device)))
    t = StepTelemetry(clock=lambda: events.append(("clock",)) or 0.0)
    with t.timed("generation", "cuda:0"):
        events.append(("work",))
    assert events == [("sync", "cuda:0"), ("clock",), ("work",), ("sync", "cuda:0"), ("clock",)]


def test_gpu_peaks_are_per_interval_in_logs_and_the_maximum_in_metrics(monkeypatch):
    peaks = iter([(2.0, 5.0), (3.0, 4.0), (1.0, 6.5)])
    resets = []

    def fake(device, reset=True):
        resets.append(reset)
        return next(peaks)

    monkeypatch.setattr(telemetry, "cuda_peaks_gb", fake)
    t = StepTelemetry()
    assert t.step_logs("cuda:0", 0.0, None) == {"gpu/mem_allocated_gb": 2.0, "gpu/mem_reserved_gb": 5.0}
    assert t.step_logs("cuda:0", 0.0, None) == {"gpu/mem_allocated_gb": 3.0, "gpu/mem_reserved_gb": 4.0}
    metrics = t.run_metrics("cuda:0")  # folds in the peaks since the last log (the held-out pass after)
    assert (metrics["peak_gpu_mem_gb"], metrics["peak_gpu_reserved_gb"]) == (3.0, 6.5)
    assert resets == [True, True, False]


def test_cpu_has_no_gpu_peaks():
    assert telemetry.cuda_peaks_gb("cpu") is None


def _wheelhouse():
    spec = importlib.util.spec_from_file_location("wheelhouse", REPO / "scripts" / "wheelhouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wheelhouse_keeps_everything_but_pytorch_and_targets_cpython_312_manylinux():
    wheelhouse = _wheelhouse()

    def item(name, version, url):
        return {"metadata": {"name": name, "version": version}, "download_info": {"url": url}}

    report = {"install": [item("torch", "2.13.0", "https://x/torch.whl"), item("nvidia-cublas-cu12", "12", "u"),
                          item("triton", "3", "u"), item("alft", "0.1.0", "file:///w/alft.whl"),
                          item("Antlr4_Python3.Runtime", "4.9.3", "file:///w/antlr4.whl"),
                          item("trl", "1.16.0", "https://x/trl.whl")]}
    assert wheelhouse.kept(report) == [("antlr4-python3-runtime", "4.9.3", "file:///w/antlr4.whl"),
                                       ("trl", "1.16.0", "https://x/trl.whl")]
    flags = " ".join(wheelhouse.target_flags("3.12"))
    assert "--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312" in flags
    assert "--platform manylinux2014_x86_64" in flags


def test_makefile_has_the_wheelhouse_target_and_gitignores_its_output():
    dry = subprocess.run(["make", "-n", "wheelhouse", "VENV=/nonexistent"], cwd=REPO, capture_output=True,
                         text=True, check=False).stdout
    assert "scripts/wheelhouse.py --out wheelhouse --python 3.12" in dry
    assert "wheelhouse/" in (REPO / ".gitignore").read_text().split()
    assert "reasoning-gym" not in (REPO / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
