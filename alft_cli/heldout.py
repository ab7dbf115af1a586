"""Greedy held-out accuracy before and after training, on the device and model the trainer trains.

The main process generates in batches (`heldout.batch_size`, a progress bar on a terminal) while the other
processes wait at a barrier. The model goes through TRL's `unwrap_model_for_generation`, as TRL's own
generation does: it gathers ZeRO-3 weights (`trainer.ds3_gather_for_generation`) and turns gradient
checkpointing off. Where one process alone cannot run the model, because every forward all-gathers
parameter shards (FSDP; ZeRO-3 with `ds3_gather_for_generation=false`), all processes run the same pass in
lockstep (`synced_gpus`) and the main process scores it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from alft_cli.data import Problem, build_messages

log = logging.getLogger(__name__)


def heldout_accuracy(trainer: Any, problems: list[Problem], cfg: Any) -> float | None:
    """Greedy accuracy of the trainer's current model on `problems` (None when there are none), checked
    with the project's answer checker; every process returns the main process's value."""
    from trl.models import unwrap_model_for_generation

    if not problems:
        return None
    acc, args = trainer.accelerator, trainer.args
    lockstep = acc.num_processes > 1 and _needs_every_process(trainer)
    accuracy, start = None, time.perf_counter()
    with unwrap_model_for_generation(trainer.model_wrapped, acc, gather_deepspeed3_params=args.ds3_gather_for_generation,
                                     gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs) as model:
        if acc.is_main_process or lockstep:
            accuracy = _greedy_accuracy(model, trainer.processing_class, problems, cfg, acc.device, lockstep)
        acc.wait_for_everyone()
    if acc.is_main_process:
        log.info("held-out pass: %d problems in %.1f s on %s", len(problems), time.perf_counter() - start, acc.device)
    if acc.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        accuracy = broadcast_object_list([accuracy], from_process=0)[0]
    return accuracy


def _greedy_accuracy(model: Any, tokenizer: Any, problems: list[Problem], cfg: Any, device: Any,
                     synced: bool) -> float:
    """Generate on `device`; a model the trainer has not placed yet (DeepSpeed, FSDP before training) is moved
    there for the pass and back afterwards."""
    from alft_cli import generation
    from alft_cli.scoring import score_rows

    home, training = model.device, model.training
    if home != device:
        model.to(device)
    prompts = [build_messages(p.question, cfg.dataset.prompt) for p in problems]
    try:
        outs = generation.generate(model, tokenizer, prompts, n=1, temperature=0.0,
                                   max_new_tokens=cfg.heldout.max_new_tokens, batch_size=cfg.heldout.batch_size,
                                   progress="held-out", synced_gpus=synced)
    finally:
        model.train(training)
        if home != device:
            model.to(home)
    rows = [{"completion": o[0], "gold": p.gold} for o, p in zip(outs, problems)]
    scored = score_rows(rows, cfg.dataset.style, bool(cfg.dataset.get("strict", False)))
    return sum(r["correct"] for r in scored) / len(scored)


def _needs_every_process(trainer: Any) -> bool:
    """Whether a forward of the trainer's model all-gathers shards from every process."""
    from torch.distributed import fsdp

    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    if isinstance(trainer.model_wrapped, fsdp.FullyShardedDataParallel) or isinstance(
            model, getattr(fsdp, "FSDPModule", ())):  # FSDP1 / FSDP2 (torch >= 2.6)
        return True
    partitioned = any(hasattr(p, "ds_id") for p in model.parameters())  # ZeRO-3
    return partitioned and not trainer.args.ds3_gather_for_generation
