"""`alft train`: held-out accuracy before, GRPO with an answer-level objective, final model, accuracy after."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from alft_cli.data import Problem, build_messages, load_heldout, load_split, variant_labels, variants
from alft_cli.errors import UserError
from alft_cli.heldout import heldout_accuracy
from alft_cli.runs import is_main_process, peak_rss_gb, run_dir, seed_everything, write_json
from alft_cli.validate import ObjectiveConfig, check_train

log = logging.getLogger(__name__)


def training_rows(problems: list[Problem], cfg: DictConfig) -> list[dict]:
    """Problem-major rows: row p*m + j is variant j of problem p (see VariantBlockSampler), named by its label."""
    return [{"prompt": build_messages(v.question, cfg.dataset.prompt), "uid": p.uid, "variant": v.label,
             "gold": p.gold} for p in problems for v in variants(p, cfg.transforms, cfg.seed)]


def reward_functions(objective: ObjectiveConfig, labels: Sequence[str], dcfg: Any, num_generations: int) -> list:
    """The TRL reward functions of `objective.components()`, in that order (their weights: TRL's reward_weights)."""
    from alft_cli.rewards import AnswerLevelReward, CorrectnessReward

    style, strict = dcfg.style, bool(dcfg.get("strict", False))
    build = {
        "answer_level": lambda: AnswerLevelReward(objective.build(), num_generations, labels, style, strict),
        "correctness": lambda: CorrectnessReward(style, strict),
    }
    return [build[name]() for name, _ in objective.components()]


def run_train(cfg: DictConfig) -> dict:
    """Train per `cfg` and return the metrics written to `metrics.json`."""
    import datasets

    from alft_cli.callbacks import JsonlMetricsCallback
    from alft_cli.models import load_policy, model_dtype
    from alft_cli.scale import check_scale_setup, peft_config, save_final_model
    from alft_cli.trainer import CoherenceGRPOTrainer

    start = time.time()
    out = run_dir()
    # every option first: nothing below loads a model or a dataset before the config is known to be good
    check_scale_setup(cfg)  # vLLM / DeepSpeed / QLoRA requested but missing (before GRPOConfig needs them)
    objective, args = check_train(cfg, output_dir=str(out), seed=cfg.seed, **_device_overrides(cfg))
    funcs = reward_functions(objective, variant_labels(cfg.transforms), cfg.dataset, args.num_generations)
    resume = resume_checkpoint(cfg.trainer.get("resume_from_checkpoint"), out)
    seed_everything(cfg.seed)
    model_path, model, tokenizer = load_policy(cfg.model)
    train_problems = load_split(cfg.dataset, "train")
    held = load_heldout(cfg.dataset, train_problems)
    heldout = held.problems[: cfg.heldout.limit]
    log.info("model %s | %d training problems | %d held-out", model_path, len(train_problems), len(heldout))

    _logger_env(cfg, out)
    trainer = CoherenceGRPOTrainer(
        model=model,
        args=args,
        reward_funcs=funcs,
        train_dataset=datasets.Dataset.from_list(training_rows(train_problems, cfg)),
        processing_class=tokenizer,
        callbacks=[JsonlMetricsCallback(out / "train_log.jsonl")],
        peft_config=peft_config(cfg.model),  # LoRA when model.lora.enabled (alft_cli.scale)
    )
    before = heldout_accuracy(trainer, heldout, cfg)  # on the trainer's device, main process (alft_cli.heldout)
    log.info("held-out accuracy before training: %s", _fmt(before))
    trainer.telemetry.record_peaks(trainer.accelerator.device)  # the pass's memory peak is not step 1's
    trainer.train(resume_from_checkpoint=resume)
    final = out / "final_model"
    save_final_model(trainer, final, model_path, model_dtype(cfg.model, model_path))  # LoRA: merged
    if is_main_process():
        tokenizer.save_pretrained(final)

    after = heldout_accuracy(trainer, heldout, cfg)
    log.info("held-out accuracy after training: %s (before %s)", _fmt(after), _fmt(before))
    metrics = {
        "heldout_accuracy_before": before,
        "heldout_accuracy_after": after,
        "n_heldout": len(heldout),
        "heldout_dropped_overlap": held.dropped_overlap,
        "heldout_dropped_duplicates": held.dropped_duplicates,
        "steps": trainer.state.global_step,
        "wall_seconds": round(time.time() - start, 1),
        "peak_rss_gb": round(peak_rss_gb(), 3),
        **trainer.telemetry.run_metrics(trainer.accelerator.device),  # GPU peaks, completion tokens/s
        "final_model": str(final),
    }
    if is_main_process():
        write_json(out / "metrics.json", metrics)
    return metrics


def _fmt(accuracy: float | None) -> str:
    return "skipped (no held-out problems)" if accuracy is None else f"{accuracy:.3f}"


def _logger_env(cfg: DictConfig, out: Path) -> None:
    """Point W&B (read through TRL's report_to) at the configured project, entity, tags and run name."""
    lcfg = cfg.get("logger") or {}
    if lcfg.get("name") != "wandb":
        return
    os.environ["WANDB_PROJECT"] = str(lcfg.project)
    if lcfg.get("entity"):
        os.environ["WANDB_ENTITY"] = str(lcfg.entity)
    if lcfg.get("tags"):
        os.environ["WANDB_TAGS"] = ",".join(map(str, lcfg.tags))
    os.environ.setdefault("WANDB_NAME", f"{out.parent.name}/{out.name}")


def _device_overrides(cfg: DictConfig) -> dict:
    """Let GPU recipes run (slowly) on a machine without a GPU: fp32, no checkpointing, no vLLM."""
    import torch

    if torch.cuda.is_available() or cfg.trainer.get("use_cpu"):
        return {}
    log.warning("no GPU found: running on CPU in fp32 (bf16, gradient checkpointing and vLLM off)")
    return {"use_cpu": True, "bf16": False, "activation_checkpointing": False, "use_vllm": False}


def resume_checkpoint(resume: Any, out: Path) -> str | None:
    """The checkpoint `trainer.resume_from_checkpoint` names: `true`, the newest complete checkpoint of the run
    directory (one must exist); `auto`, that checkpoint when there is one; a path, that checkpoint (or a run
    directory's newest); null/false, none."""
    from alft_cli.models import is_complete, newest_checkpoint

    if resume in (None, False, "false"):
        return None
    marker = "trainer_state.json"
    if resume in (True, "true", "auto"):
        checkpoint = newest_checkpoint(out, marker)
        if checkpoint is None and resume != "auto":
            raise UserError(f"trainer.resume_from_checkpoint=true, but the run directory {out} holds no complete "
                            "checkpoint-N/ (weights and trainer_state.json); resume a run with "
                            "`alft train resume=<run dir>`")
        return None if checkpoint is None else str(checkpoint)
    path = Path(str(resume)).expanduser()
    checkpoint = path if is_complete(path, marker) else newest_checkpoint(path, marker) if path.is_dir() else None
    if checkpoint is None:
        raise UserError(f"trainer.resume_from_checkpoint={resume}: not a complete checkpoint (weights and "
                        "trainer_state.json) nor a run directory holding one")
    return str(checkpoint)
