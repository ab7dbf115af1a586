"""Batched generation: the n samples of a prompt share one prefill and are the draws of n repeated prompts."""

from __future__ import annotations

import pytest
import torch

from alft_cli import generation
from alft_cli.models import build_tiny_model, load_model_and_tokenizer

SPEC = {"vocab_size": 300, "hidden_size": 32, "num_layers": 2, "num_heads": 2, "seed": 1}
PROMPTS = [[{"role": "user", "content": q}] for q in ("4 - 1 =", "What is 12 + 30 and then 7 * 3?", "9 * 9", "2+2")]


@pytest.fixture(scope="module")
def tiny():
    return load_model_and_tokenizer(build_tiny_model(SPEC))


def _repeated(model, tokenizer, n: int, seed: int, **sampling) -> list[list[str]]:
    """The plain way: every prompt repeated n times in one batch, in generate's length order."""
    texts = generation.render_prompts(tokenizer, PROMPTS)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    tokenizer.padding_side = "left"
    enc = tokenizer([texts[i] for i in order for _ in range(n)], return_tensors="pt", padding=True,
                    add_special_tokens=False)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=8, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id, **sampling)
    flat = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    results: list[list[str]] = [[] for _ in PROMPTS]
    for rank, i in enumerate(order):
        results[i] = flat[rank * n:(rank + 1) * n]
    return results


def test_shared_prefill_samples_are_the_draws_of_repeated_prompts(tiny):
    model, tokenizer = tiny
    ours = generation.generate(model, tokenizer, PROMPTS, n=3, temperature=1.0, max_new_tokens=8, batch_size=12,
                               seed=7)
    assert ours == _repeated(model, tokenizer, 3, 7, do_sample=True, temperature=1.0, top_p=1.0)
    assert any(len(set(samples)) > 1 for samples in ours)  # independent draws, not one draw copied


def test_shared_prefill_cache_gives_the_logits_of_the_full_prompt(tiny):
    model, tokenizer = tiny
    tokenizer.padding_side = "left"
    enc = tokenizer(generation.render_prompts(tokenizer, PROMPTS), return_tensors="pt", padding=True,
                    add_special_tokens=False)
    assert (enc["attention_mask"] == 0).any()  # left padding is exercised
    kwargs = {"max_new_tokens": 5, "do_sample": False, "output_scores": True, "return_dict_in_generate": True,
              "pad_token_id": tokenizer.pad_token_id}
    with torch.inference_mode():
        shared = model.generate(**generation.shared_prefill(model, enc, 2), **kwargs)
        plain = model.generate(input_ids=enc["input_ids"].repeat_interleave(2, 0),
                               attention_mask=enc["attention_mask"].repeat_interleave(2, 0), **kwargs)
    assert torch.equal(shared.sequences, plain.sequences)
    for a, b in zip(shared.scores, plain.scores, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_greedy_generates_once_and_copies(tiny):
    model, tokenizer = tiny
    three = generation.generate(model, tokenizer, PROMPTS, n=3, temperature=0.0, max_new_tokens=8)
    one = generation.generate(model, tokenizer, PROMPTS, n=1, temperature=0.0, max_new_tokens=8)
    assert three == [c * 3 for c in one] == _repeated(model, tokenizer, 3, 0, do_sample=False)


def test_shared_prefill_keeps_sliding_window_layers_as_the_model_declares(tiny):
    """A model with sliding-window layers (a tiny Qwen2, window 4 < the prompts): its shared cache has the
    per-layer kinds generate() would build, and gives the same tokens and logits as repeated prompts."""
    import transformers

    _, tokenizer = tiny
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=2,
        num_key_value_heads=1, use_sliding_window=True, sliding_window=4, max_window_layers=2,
        layer_types=["full_attention", "full_attention", "sliding_attention", "sliding_attention"],
        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config).eval()
    tokenizer.padding_side = "left"
    enc = tokenizer(generation.render_prompts(tokenizer, PROMPTS), return_tensors="pt", padding=True,
                    add_special_tokens=False)
    shared_inputs = generation.shared_prefill(model, enc, 2)
    cache = shared_inputs.get("cache", shared_inputs.get("past_key_values"))
    assert [type(layer).__name__ for layer in cache.layers] == ["DynamicLayer"] * 2 + ["DynamicSlidingWindowLayer"] * 2
    kwargs = {"max_new_tokens": 5, "do_sample": False, "output_scores": True, "return_dict_in_generate": True,
              "pad_token_id": tokenizer.pad_token_id}
    with torch.inference_mode():
        shared = model.generate(**shared_inputs, **kwargs)
        plain = model.generate(input_ids=enc["input_ids"].repeat_interleave(2, 0),
                               attention_mask=enc["attention_mask"].repeat_interleave(2, 0), **kwargs)
    assert torch.equal(shared.sequences, plain.sequences)
    for a, b in zip(shared.scores, plain.scores, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
