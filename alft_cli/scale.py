"""Scale-out plumbing for `alft train`: backend checks, LoRA/QLoRA through peft, and saving LoRA runs.

Distributed training itself is TRL's and accelerate's (`accelerate launch --config_file
conf/accelerate/<layout>.yaml`); this module only fails early with one clear line when a requested engine
(vLLM, DeepSpeed, bitsandbytes) is missing, builds the `peft.LoraConfig` from `model.lora`, loads a 4-bit
base for QLoRA, and merges a trained adapter into its base weights so `final_model/` stays a plain
checkpoint that `alft eval` loads like any other.
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


def load_policy(model_cfg: Any) -> tuple[Path, Any, Any]:
    """(checkpoint path, model to train, tokenizer); for QLoRA the base is loaded in 4-bit NF4 on this GPU.

    Models built into the cache (`tiny`, `smollm2_135m`) are built by rank 0 while the other ranks wait:
    once torch.distributed is up (accelerate has set up the process group here, even where its state still
    reports one process), transformers writes checkpoints only on rank 0. Multi-node runs of those models
    need `$ALFT_CACHE` on a shared disk.
    """
    import torch.distributed as dist

    from alft_cli.models import load_model_and_tokenizer, resolve_model

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else None
    if rank:
        dist.barrier()  # rank 0 resolves first
    path = resolve_model(model_cfg)
    if rank == 0:
        dist.barrier()
    dtype = model_cfg.get("dtype", "float32")
    if not lora_options(model_cfg).get("load_in_4bit"):
        return (path, *load_model_and_tokenizer(path, dtype))
    import torch
    from accelerate.state import PartialState
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"  # as in models.load_model_and_tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=getattr(torch, dtype))
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quant, dtype=getattr(torch, dtype),
                                                 device_map={"": PartialState().local_process_index})
    return path, model, tokenizer


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
