"""Scale-out plumbing for `alft train`: backend checks, LoRA/QLoRA through peft, and saving LoRA runs.

Distributed training itself is TRL's and accelerate's (`accelerate launch --config_file
conf/accelerate/<layout>.yaml`); this module only fails early with one clear line when a requested engine
(vLLM, DeepSpeed, bitsandbytes) is missing, builds the `peft.LoraConfig` from `model.lora` (the 4-bit QLoRA
base is loaded by `alft_cli.models.load_policy`), and merges a trained adapter into its base weights so
`final_model/` stays a plain checkpoint that `alft eval` loads like any other.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alft_cli.errors import UserError

log = logging.getLogger(__name__)

VLLM_MODES = ("colocate", "server")


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def deepspeed_requested(trainer_cfg: Any) -> bool:
    """True under an accelerate DeepSpeed launch (`ACCELERATE_USE_DEEPSPEED`) or with `trainer.deepspeed=`."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" or bool(
        trainer_cfg.get("deepspeed"))


def check_scale_setup(cfg: DictConfig) -> None:
    """Raise `UserError` when the config asks for an engine this machine cannot provide."""
    tcfg = cfg.trainer
    if tcfg.get("use_vllm"):
        mode = tcfg.get("vllm_mode", "colocate")
        if mode not in VLLM_MODES:
            raise UserError(f"trainer.vllm_mode={mode!r} is not one of: {', '.join(VLLM_MODES)}")
        if not _installed("vllm"):
            raise UserError(
                "trainer.use_vllm=true needs vLLM on every training process (TRL 1.16 supports vLLM 0.22-0.31): "
                "pip install 'alft[vllm]', or set trainer.use_vllm=false")
    if tcfg.get("use_transformers_continuous_batching") and tcfg.get("bf16") and not tcfg.get("use_vllm"):
        raise UserError("trainer.use_transformers_continuous_batching=true fails under bf16 mixed precision "
                        "(transformers 5.24 / accelerate 1.15: 'PagedAttentionCache' object has no attribute "
                        "'float'); set trainer.bf16=false (bf16 weights: model.dtype=bfloat16) or turn it off")
    if deepspeed_requested(tcfg) and not _installed("deepspeed"):
        raise UserError("a DeepSpeed launch (accelerate config with distributed_type: DEEPSPEED, or trainer.deepspeed) "
                        "needs DeepSpeed: pip install 'alft[deepspeed]', or launch with conf/accelerate/ddp.yaml")
    lora = lora_options(cfg.model)
    if lora.get("load_in_4bit"):
        if not lora.get("enabled"):
            raise UserError("model.lora.load_in_4bit=true (QLoRA) trains an adapter: set model.lora.enabled=true too")
        if not _installed("bitsandbytes"):
            raise UserError("model.lora.load_in_4bit=true (QLoRA) needs bitsandbytes: pip install 'alft[qlora]'")
        import torch

        if not torch.cuda.is_available():
            raise UserError("model.lora.load_in_4bit=true (QLoRA) needs a CUDA GPU; on CPU use plain LoRA "
                            "(model.lora.load_in_4bit=false)")


def lora_options(model_cfg: Any) -> dict:
    """`model.lora` as a plain dict ({} when the model config has no lora block)."""
    lora = model_cfg.get("lora")
    return OmegaConf.to_container(lora, resolve=True) if lora is not None else {}


def peft_config(model_cfg: Any) -> Any:
    """`peft.LoraConfig` from `model.lora` when enabled, else None (full fine-tuning)."""
    lora = lora_options(model_cfg)
    if not lora.get("enabled"):
        return None
    from peft import LoraConfig

    targets = lora.get("target_modules", "all-linear")
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=int(lora.get("r", 16)),
        lora_alpha=int(lora.get("alpha", 32)),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=targets if isinstance(targets, str) else list(targets),
        bias="none",
    )


def save_final_model(trainer: Any, final: Path, base_path: Path, dtype: str = "float32") -> None:
    """Save the trained policy to `final`; a LoRA run keeps its adapter and saves the merged full model.

    The adapter is written next to the final model (`final_adapter/`, through the trainer, so ZeRO-3 and FSDP
    gather it), then the main process merges it into a fresh copy of the unquantised base weights.
    """
    from accelerate.utils import is_peft_model

    if not is_peft_model(trainer.model):
        trainer.save_model(str(final))
        return
    adapter = final.parent / "final_adapter"
    trainer.save_model(str(adapter))
    if trainer.accelerator.is_main_process:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=getattr(torch, dtype))
        merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
        merged.save_pretrained(final, safe_serialization=True)
        log.info("LoRA adapter in %s merged into %s", adapter, final)
    trainer.accelerator.wait_for_everyone()
