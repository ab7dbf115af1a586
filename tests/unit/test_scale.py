"""Scale-out options without training: accelerate/launcher/sweeper configs, LoRA config, engine checks, run dirs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli import scale
from alft_cli.cli import conf_dir, distributed_overrides, group_choices, optimized_value, rewrite_overrides
from alft_cli.errors import UserError

ACCELERATE = {  # file -> (distributed_type, processes, ZeRO stage, FSDP version)
    "single_gpu": ("NO", 1, None, None),
    "ddp": ("MULTI_GPU", 8, None, None),
    "zero2": ("DEEPSPEED", 8, 2, None),
    "zero3": ("DEEPSPEED", 8, 3, None),
    "fsdp2": ("FSDP", 8, None, 2),
    "cpu_2proc": ("MULTI_GPU", 2, None, None),
}
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
DIST_ENV = ("ALFT_RUN_DIR", "WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
            "ACCELERATE_USE_DEEPSPEED")


def installed(module: str) -> bool:
    """Whether an optional Hydra plugin is importable (`hydra_plugins` itself may be missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _compose(overrides: list[str], hydra: bool = False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=hydra)


@pytest.fixture
def clean_env(monkeypatch):
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_accelerate_config_is_listed_and_read_by_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    assert group_choices("accelerate") == sorted(ACCELERATE)
    for name, (kind, procs, zero, fsdp) in ACCELERATE.items():
        path = conf_dir() / "accelerate" / f"{name}.yaml"
        assert path.read_text().startswith("# "), f"{name}.yaml starts with a comment giving its use"
        cfg = load_config_from_file(str(path))
        assert (cfg.distributed_type.value, cfg.num_processes) == (kind, procs)
        assert (cfg.deepspeed_config or {}).get("zero_stage") == zero
        assert (cfg.fsdp_config or {}).get("fsdp_version") == fsdp
        if kind != "NO" and name != "cpu_2proc":
            assert cfg.mixed_precision == "bf16"  # matches trainer=gpu (bf16: true)


def test_zero3_and_fsdp_save_one_loadable_checkpoint():
    from accelerate.commands.config.config_args import load_config_from_file

    assert load_config_from_file(str(conf_dir() / "accelerate" / "zero3.yaml")).deepspeed_config[
        "zero3_save_16bit_model"] is True
    assert load_config_from_file(str(conf_dir() / "accelerate" / "fsdp2.yaml")).fsdp_config[
        "fsdp_state_dict_type"] == "FULL_STATE_DICT"


@pytest.mark.skipif(not installed("hydra_plugins.hydra_optuna_sweeper"),
                    reason="hydra-optuna-sweeper not installed (pip install 'alft[sweep]')")
@pytest.mark.parametrize("option", group_choices("hparams_search"))
def test_hparams_search_composes_with_the_optuna_sweeper(option):
    cfg = _compose(rewrite_overrides([f"hparams_search={option}"]), hydra=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert cfg.hydra.sweeper.direction == "maximize" and cfg.hydra.sweeper.params
    assert cfg.optimized_metric == "heldout_accuracy_after"
    for key in cfg.hydra.sweeper.params:  # every searched key exists in the train config
        node = cfg
        for part in key.split("."):
            node = node[part]


@pytest.mark.skipif(not installed("hydra_plugins.hydra_submitit_launcher"),
                    reason="hydra-submitit-launcher not installed (pip install 'alft[slurm]')")
@pytest.mark.parametrize("option", group_choices("launcher"))
def test_launcher_composes_with_submitit(option):
    cfg = _compose(rewrite_overrides([f"launcher={option}", "hydra.launcher.partition=gpu"]), hydra=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.partition == "gpu" and cfg.hydra.launcher.gpus_per_node == 1


def test_optional_groups_take_plus_or_not_and_accelerate_is_not_an_option(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())  # both plugins "installed"
    # experiment/hparams_search/launcher are `null` in the defaults lists: `+group=` means `group=`
    assert rewrite_overrides(["launcher=slurm", "+hparams_search=optuna", "+experiment=gsm8k_coherence"]) == [
        "launcher=slurm", "hparams_search=optuna", "experiment=gsm8k_coherence"]
    with pytest.raises(UserError, match="accelerate launch --config_file"):
        rewrite_overrides(["accelerate=zero2"])


def test_missing_sweep_plugins_are_one_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"hparams_search=optuna needs .*pip install 'alft\[sweep\]'"):
        rewrite_overrides(["hparams_search=optuna"])
    with pytest.raises(UserError, match=r"launcher=slurm needs .*pip install 'alft\[slurm\]'"):
        rewrite_overrides(["launcher=slurm"])


@pytest.mark.parametrize("model", group_choices("model"))
def test_lora_block_is_off_by_default_and_builds_a_lora_config(model):
    cfg = _compose([f"model={model}"])
    assert cfg.model.lora.enabled is False and scale.peft_config(cfg.model) is None
    cfg = _compose([f"model={model}", "model.lora.enabled=true", "model.lora.r=4", "model.lora.alpha=8",
                    "model.lora.target_modules=[q_proj,v_proj]"])
    lora = scale.peft_config(cfg.model)
    assert (lora.r, lora.lora_alpha, sorted(lora.target_modules)) == (4, 8, ["q_proj", "v_proj"])
    assert lora.task_type == "CAUSAL_LM"


def test_missing_engines_are_one_clear_error(clean_env):
    clean_env.setattr(scale, "_installed", lambda package: False)
    cases = {
        "trainer.use_vllm=true": ["+trainer.use_vllm=true"],
        "alft[deepspeed]": ["+trainer.deepspeed=ds.json"],
        "set model.lora.enabled=true": ["model=tiny", "model.lora.load_in_4bit=true"],
        "alft[qlora]": ["model=tiny", "model.lora.load_in_4bit=true", "model.lora.enabled=true"],
        "vllm_mode='remote'": ["+trainer.use_vllm=true", "+trainer.vllm_mode=remote"],
    }
    for expected, overrides in cases.items():
        with pytest.raises(UserError, match=expected.replace("[", r"\[").replace("]", r"\]")):
            scale.check_scale_setup(_compose(overrides))
    clean_env.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(UserError, match="DeepSpeed"):
        scale.check_scale_setup(_compose([]))


def test_generation_speed_keys_reach_grpo_config_and_continuous_batching_under_bf16_is_refused(clean_env):
    from hydra.utils import instantiate

    cfg = _compose(["trainer=gpu", "trainer.cache_implementation=static",
                    "trainer.generation_kwargs={repetition_penalty: 1.05}"])
    args = instantiate(cfg.trainer, output_dir="/tmp/alft-test", _convert_="all", use_cpu=True, bf16=False)
    assert args.cache_implementation == "static" and args.generation_kwargs == {"repetition_penalty": 1.05}
    assert args.use_transformers_continuous_batching is False  # off: broken upstream under bf16 (README)
    with pytest.raises(UserError, match="'PagedAttentionCache' object has no attribute 'float'"):
        scale.check_scale_setup(_compose(["trainer=gpu", "trainer.use_transformers_continuous_batching=true"]))
    scale.check_scale_setup(_compose(["trainer=gpu", "trainer.use_transformers_continuous_batching=true",
                                      "trainer.bf16=false"]))


def test_qlora_needs_a_gpu(clean_env):
    import torch

    clean_env.setattr(scale, "_installed", lambda package: True)
    clean_env.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        scale.check_scale_setup(_compose(["model.lora.enabled=true", "model.lora.load_in_4bit=true"]))


def test_present_engines_pass(clean_env):
    clean_env.setattr(scale, "_installed", lambda package: True)
    clean_env.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    scale.check_scale_setup(_compose(["+trainer.use_vllm=true", "+trainer.vllm_mode=server", "model.lora.enabled=true"]))


def test_single_process_keeps_hydra_run_dir(clean_env):
    assert distributed_overrides(["model=tiny"]) == []


def test_alft_run_dir_names_the_run_or_sweep_dir(clean_env):
    clean_env.setenv("ALFT_RUN_DIR", "/runs/a")
    assert distributed_overrides([]) == ["hydra.run.dir=/runs/a"]
    assert distributed_overrides(["-m", "seed=0,1"]) == ["hydra.sweep.dir=/runs/a"]
    assert distributed_overrides(["hydra.run.dir=/mine"]) == []


def test_other_ranks_write_no_hydra_files_or_logs(clean_env):
    clean_env.setenv("ALFT_RUN_DIR", "/runs/a")
    clean_env.setenv("WORLD_SIZE", "2")
    clean_env.setenv("RANK", "1")
    assert distributed_overrides([]) == ["hydra.run.dir=/runs/a", "hydra.output_subdir=null",
                                         "hydra/job_logging=stdout"]


def test_processes_share_the_first_start_time_from_the_rendezvous_store(clean_env):
    from torch.distributed import TCPStore

    store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    store.set("alft/launch_time", datetime(2030, 1, 2, 3, 4, 5).isoformat())  # another rank came first
    clean_env.setenv("WORLD_SIZE", "2")
    clean_env.setenv("MASTER_ADDR", "127.0.0.1")
    clean_env.setenv("MASTER_PORT", str(store.port))
    clean_env.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    assert distributed_overrides([]) == ["hydra.run.dir=outputs/${hydra:job.name}/2030-01-02/03-04-05"]
    assert distributed_overrides(["--multirun"]) == ["hydra.sweep.dir=multirun/${hydra.job.name}/2030-01-02/03-04-05"]


def test_world_size_without_a_launcher_store_asks_for_alft_run_dir(clean_env):
    clean_env.setenv("WORLD_SIZE", "4")
    with pytest.raises(UserError, match="ALFT_RUN_DIR"):
        distributed_overrides([])
    assert distributed_overrides(["hydra.run.dir=/shared/run"]) == []


def test_optimized_value_reads_the_named_metric():
    metrics = {"heldout_accuracy_after": 0.25, "steps": 2}
    assert optimized_value({"optimized_metric": "heldout_accuracy_after"}, metrics) == 0.25
    assert optimized_value({}, metrics) is None
    with pytest.raises(UserError, match="optimized_metric='acc'.*heldout_accuracy_after"):
        optimized_value({"optimized_metric": "acc"}, metrics)


def _launch_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NUM_GPUS": "8"}
    return subprocess.run(["bash", str(SCRIPTS / "launch_multi_gpu.sh"), *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def test_launch_script_lists_layouts_and_checks_deepspeed_first():
    proc = _launch_script("nope", "model=tiny")
    assert proc.returncode == 2 and "choices: " + " ".join(sorted(ACCELERATE)) in proc.stderr
    if importlib.util.find_spec("deepspeed") is None:
        proc = _launch_script("zero2", "model=tiny")
        assert proc.returncode == 2 and "pip install 'alft[deepspeed]'" in proc.stderr


@pytest.mark.parametrize("script", ["launch_multi_gpu.sh", "slurm_train_vllm.sh"])
def test_scripts_are_valid_bash(script):
    assert subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=False).returncode == 0
