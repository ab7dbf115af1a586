"""Batched sampling with transformers `generate` (left padding, stop at EOS), shared by train/eval/sample."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

Messages = list[dict[str, str]]


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
) -> list[list[str]]:
    """Return `n` completions per chat prompt; temperature 0 means greedy (then n copies are identical)."""
    import torch

    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    expanded = [t for t in texts for _ in range(n)]
    tokenizer.padding_side = "left"
    model.eval()
    torch.manual_seed(seed)
    outputs: list[str] = []
    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else dict(do_sample=False)
    for batch in chunks(expanded, batch_size):
        enc = tokenizer(list(batch), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                **sampling,
            )
        outputs.extend(tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    return [outputs[i * n : (i + 1) * n] for i in range(len(prompts))]
