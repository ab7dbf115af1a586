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
    """Return `n` completions per chat prompt; temperature 0 means greedy (then n copies are identical).

    Prompts are batched in order of length (less padding) and the results put back in input order.
    `progress` names a progress bar over the completions (shown on a terminal); `synced_gpus` goes to `generate`.
    """
    import torch
    from tqdm.auto import tqdm

    texts = render_prompts(tokenizer, prompts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    expanded = [texts[i] for i in order for _ in range(n)]
    tokenizer.padding_side = "left"
    model.eval()
    torch.manual_seed(seed)
    outputs: list[str] = []
    greedy = temperature <= 0
    sampling = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature, "top_p": top_p}
    bar = tqdm(total=len(expanded), desc=progress, unit="completion", disable=None if progress else True)
    for batch in chunks(expanded, batch_size):
        enc = tokenizer(list(batch), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                synced_gpus=synced_gpus,
                **sampling,
            )
        outputs.extend(tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
        bar.update(len(batch))
    bar.close()
    results: list[list[str]] = [[] for _ in prompts]
    for rank, i in enumerate(order):
        results[i] = outputs[rank * n : (rank + 1) * n]
    return results
