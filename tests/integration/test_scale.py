"""Scale-out on CPU: 2-process DDP over gloo with groups split across ranks, LoRA (merged final model, no
reference copy), vLLM/DeepSpeed options reaching TRL, and one-line errors when those engines are missing."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from alft_cli.cli import conf_dir

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
ALFT = shutil.which("alft", path=str(BIN)) or "alft"
ACCELERATE = shutil.which("accelerate", path=str(BIN)) or "accelerate"
RECORDER = Path(__file__).with_name("record_groups.py")
TINY = ["model=tiny", "dataset.train_size=16", "heldout.limit=4", "heldout.max_new_tokens=8",
        "trainer.max_steps=2", "trainer.max_completion_length=8"]
# An answer-level objective, so the reward gathers whole groups across processes (alft_cli.rewards).
MAJORITY = ["objective=majority"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict:
    return {**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", **extra}


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=_env(**env), check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def launch_2proc(script: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`accelerate launch --config_file conf/accelerate/cpu_2proc.yaml SCRIPT ARGS` (2 processes, gloo)."""
    config = conf_dir() / "accelerate" / "cpu_2proc.yaml"
    return run([ACCELERATE, "launch", "--config_file", str(config), "--main_process_port", str(_free_port()),
                script, *args], cwd, **env)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def the_run_dir(cwd: Path) -> Path:
    """The one run directory both processes used (Hydra's default outputs/<job>/<date>/<time>)."""
    runs = [p for p in cwd.glob("outputs/*/*/*") if p.is_dir()]
    assert len(runs) == 1, f"processes disagreed on the run directory: {runs}"
    return runs[0]


def assert_rank0_wrote_once(run_dir: Path) -> None:
    assert [r["step"] for r in jsonl(run_dir / "train_log.jsonl") if "loss" in r] == [1, 2]
    assert json.loads((run_dir / "metrics.json").read_text())["steps"] == 2
    logs = list(run_dir.glob("*.log"))
    assert len(logs) == 1 and logs[0].read_text().count("held-out accuracy before training") == 1


def test_ddp_gathers_groups_split_across_ranks(tmp_path):
    groups = tmp_path / "groups"
    groups.mkdir()
    # 3 completions per process, G=2: every step one problem's pair straddles rank 0 and rank 1.
    launch_2proc(str(RECORDER), "train", *TINY, *MAJORITY, "trainer.per_device_train_batch_size=3",
                 "trainer.gradient_accumulation_steps=1",
                 "trainer.num_generations=2", cwd=tmp_path, ALFT_DEBUG_GROUPS_DIR=str(groups))
    rank0, rank1 = jsonl(groups / "rank0.jsonl"), jsonl(groups / "rank1.jsonl")
    assert len(rank0) == len(rank1) == 2
    straddling = 0
    for step0, step1 in zip(rank0, rank1):
        both = step0["uids"] + step1["uids"]
        assert len(step0["uids"]) == len(step1["uids"]) == len(step0["rewards"]) == 3
        assert all(both.count(u) == 2 for u in both)
        straddling += len(set(step0["uids"]) & set(step1["uids"]))
        # each rank computed its rewards from every complete group of the step, not from its local slice
        assert step0["group_sizes"] == step1["group_sizes"] == {u: [2] for u in set(both)}
    assert straddling == 2
    assert_rank0_wrote_once(the_run_dir(tmp_path))
    # the held-out passes (before, after) ran on rank 0 only, on its training device; rank 1 waited
    assert jsonl(groups / "heldout0.jsonl") == [{"prompts": 4, "device": "cpu"}] * 2
    assert not (groups / "heldout1.jsonl").exists()


def test_lora_under_ddp_saves_a_merged_model_that_alft_eval_loads(tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    launch_2proc(ALFT, "train", *TINY, *MAJORITY, "model.lora.enabled=true", "model.lora.r=4",
                 "trainer.learning_rate=0.05", "trainer.per_device_train_batch_size=4", "trainer.num_generations=4",
                 cwd=tmp_path)
    run_dir = the_run_dir(tmp_path)
    assert_rank0_wrote_once(run_dir)
    final, adapter = run_dir / "final_model", run_dir / "final_adapter"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    base_path = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]

    ids = torch.tensor([[5, 17, 33, 2, 9, 60]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(final)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(base_path)(ids).logits
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), adapter)(ids).logits
    assert torch.allclose(merged, adapted, atol=1e-5), "final_model = base weights + trained adapter"
    assert not torch.allclose(merged, base, atol=1e-5), "the adapter was trained"

    run([ALFT, "eval", f"model={run_dir}", "eval.limit=2", "eval.max_new_tokens=8",
         f"hydra.run.dir={tmp_path / 'eval'}"], tmp_path)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_problems"] == 2 and metrics["protocol"]["model"].endswith("final_model")


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def test_lora_with_kl_uses_the_adapter_free_base_as_reference(tmp_path):
    import datasets
    import torch

    from alft_cli.models import load_model_and_tokenizer, resolve_model
    from alft_cli.rewards import CorrectnessReward
    from alft_cli.scale import peft_config
    from alft_cli.trainer import CoherenceGRPOConfig, CoherenceGRPOTrainer

    cfg = _compose(["model=tiny", "model.lora.enabled=true", "model.lora.r=4"])
    path = resolve_model(cfg.model)
    model, tokenizer = load_model_and_tokenizer(path)
    n_base = sum(p.numel() for p in model.parameters())
    args = CoherenceGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, activation_checkpointing=False,
                               beta=0.1, num_generations=2, per_device_train_batch_size=2, max_completion_length=4,
                               report_to=[])
    rows = [{"prompt": [{"role": "user", "content": "1+1?"}], "uid": "a", "variant": "identity", "gold": "2"}] * 4
    trainer = CoherenceGRPOTrainer(model=model, args=args, reward_funcs=[CorrectnessReward()],
                                   train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer,
                                   peft_config=peft_config(cfg.model))
    assert trainer.beta == 0.1 and trainer.ref_model is None  # no second model copy
    assert list(trainer.model.peft_config) == ["default"]  # and no frozen "ref" adapter either
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    n_lora = sum(p.numel() for n, p in trainer.model.named_parameters() if "lora_" in n)
    assert sum(p.numel() for p in trainer.model.parameters()) == n_base + n_lora

    # TRL computes reference log-probs with the adapter disabled: that is the untouched base model.
    for name, param in trainer.model.named_parameters():
        if "lora_B" in name:
            param.data.fill_(0.1)
    fresh, _ = load_model_and_tokenizer(path)
    ids = torch.tensor([[5, 17, 33, 2]])
    with torch.no_grad():
        with trainer.model.disable_adapter():
            reference = trainer.model(ids).logits
        assert torch.allclose(reference, fresh(ids).logits, atol=1e-6)
        assert not torch.allclose(trainer.model(ids).logits, reference, atol=1e-4)


class _Captured(Exception):
    """Raised by the stand-in trainer with the GRPOConfig that run_train built."""


def test_vllm_server_options_reach_grpo_config(tmp_path, monkeypatch):
    from alft_cli import scale, trainer
    from alft_cli.train import run_train

    def capture(*args, **kwargs):
        raise _Captured(kwargs["args"])

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(scale, "_installed", lambda package: True)  # pretend vllm is installed
    monkeypatch.setattr(trainer, "CoherenceGRPOTrainer", capture)
    cfg = _compose([*TINY, "heldout.limit=1", "+trainer.use_vllm=true", "+trainer.vllm_mode=server",
                    "+trainer.vllm_server_host=10.1.2.3", "+trainer.vllm_server_port=8123",
                    "+trainer.vllm_importance_sampling_correction=false"])
    with pytest.raises(_Captured) as caught:
        run_train(cfg)
    args = caught.value.args[0]
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_host, args.vllm_server_port) == (
        True, "server", "10.1.2.3", 8123)
    assert args.vllm_importance_sampling_correction is False


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("alft: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("package,args,env,expected", [
    ("vllm", ["+trainer.use_vllm=true"], {}, "pip install 'alft[vllm]'"),
    ("deepspeed", [], {"ACCELERATE_USE_DEEPSPEED": "true"}, "pip install 'alft[deepspeed]'"),
])
def test_missing_engine_is_one_error_line(tmp_path, package, args, env, expected):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    proc = subprocess.run([ALFT, "train", *TINY, *args, f"hydra.run.dir={tmp_path}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=_env(**env), check=False)
    assert expected in _one_error_line(proc)
