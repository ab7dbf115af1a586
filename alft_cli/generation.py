"""Batched sampling with transformers `generate` (left padding, stop at EOS), shared by train/eval/sample."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

Messages = list[dict[str, str]]


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def render_prompts(tokenizer: Any, prompts: Sequence[Messages]) -> list[str]:
    """Chat prompts as text through the model's own chat template, ending with the assistant turn."""
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Messages],
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    seed: int = 0,
    progress: str | None = None,
    synced_gpus: bool | None = None,
) -> list[list[str]]:
    """Return `n` completions per chat prompt; temperature 0 means greedy (one completion, copied n times).

    Prompts are batched in order of length (less padding) and the results put back in input order; a batch
    holds `batch_size` sequences. The `n` samples of a prompt share one pass over the prompt (`shared_prefill`).
    `progress` names a progress bar over the completions (shown on a terminal); `synced_gpus` goes to `generate`.
    """
    import torch
    from tqdm.auto import tqdm

    texts = render_prompts(tokenizer, prompts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    greedy = temperature <= 0
    samples = 1 if greedy else n  # sequences generated per prompt
    tokenizer.padding_side = "left"
    model.eval()
    torch.manual_seed(seed)
    outputs: list[str] = []
    sampling = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature, "top_p": top_p}
    bar = tqdm(total=len(texts) * n, desc=progress, unit="completion", disable=None if progress else True)
    for batch in chunks([texts[i] for i in order], max(1, batch_size // samples)):
        enc = tokenizer(list(batch), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        inputs = shared_prefill(model, enc, samples) if samples > 1 else dict(enc)
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                synced_gpus=synced_gpus,
                **sampling,
            )
        outputs.extend(tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
        bar.update(len(batch) * n)
    bar.close()
    results: list[list[str]] = [[] for _ in prompts]
    for rank, i in enumerate(order):
        results[i] = outputs[rank * samples : (rank + 1) * samples] * (n // samples)
    return results


def shared_prefill(model: Any, enc: Any, copies: int) -> dict[str, Any]:
    """`generate` inputs for `copies` samples of each row of `enc` that run the prompt once: the key/value cache
    of all but each prompt's last token, computed at the positions `generate` gives them (left padding counted
    out), repeated `copies` times. With one seed, the samples are the draws of `copies` repeated prompts (up to
    floating-point rounding), for a `copies`-th of the prompt's compute."""
    import inspect

    import torch
    from transformers import DynamicCache

    ids, mask = enc["input_ids"], enc["attention_mask"]
    repeated = {"input_ids": ids.repeat_interleave(copies, 0), "attention_mask": mask.repeat_interleave(copies, 0)}
    if ids.shape[1] < 2:
        return repeated
    params = inspect.signature(model.forward).parameters
    cache_key = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    cache = DynamicCache(config=model.config)  # per-layer kinds: sliding-window layers keep only their window
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
              use_cache=True, **{cache_key: cache}, **extra)
    cache.batch_repeat_interleave(copies)
    return {**repeated, cache_key: cache}
