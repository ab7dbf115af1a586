"""Throughput of `alft eval`'s generation: batched transformers `generate` (batch 16) against one prompt
at a time, on the same model and the same held-out arithmetic prompts, measured side by side.

    python scripts/bench_eval.py                   # the tiny random model (seconds)
    python scripts/bench_eval.py --model smollm2   # SmolLM2-135M-Instruct (Q4_1, dequantized)
    python scripts/bench_eval.py --threads 1       # on a busy CPU: no OpenMP spin-waiting on shared cores

Greedy decoding, so both modes decode the same completions (the script reports how many agree: left
padding may flip a near-tie). The modes alternate `--repeats` times and each keeps its fastest run
(on a shared CPU, other processes slow single runs down by several times). The last line is the
speed-up ratio.
"""

from __future__ import annotations

import argparse
import time

import torch
from omegaconf import OmegaConf

from alft_cli import generation
from alft_cli.cli import conf_dir
from alft_cli.data import build_messages, load_split
from alft_cli.models import build_tiny_model, convert_smollm2, load_model_and_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.model == "tiny":
        path = build_tiny_model(dict(OmegaConf.load(conf_dir() / "model" / "tiny.yaml").tiny))
    else:
        path = convert_smollm2()
    model, tokenizer = load_model_and_tokenizer(path)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    dataset = OmegaConf.load(conf_dir() / "dataset" / "arithmetic.yaml")
    problems = load_split(dataset, "heldout")[: args.prompts]
    prompts = [build_messages(p.question, dataset.prompt) for p in problems]
    print(f"model {args.model} ({path.name}), {len(prompts)} prompts, greedy, max_new_tokens={args.max_new_tokens}, "
          f"{torch.get_num_threads()} CPU threads, device {model.device}")

    def timed(batch_size: int) -> tuple[float, list[str]]:
        start = time.perf_counter()
        outs = generation.generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens,
                                   batch_size=batch_size)
        return time.perf_counter() - start, [o[0] for o in outs]

    modes = {"one at a time": 1, f"batch {args.batch_size}": args.batch_size}
    for batch_size in modes.values():  # warm-up
        generation.generate(model, tokenizer, prompts[:batch_size], max_new_tokens=4, batch_size=batch_size)
    best: dict[str, tuple[float, list[str]]] = {}
    for _ in range(args.repeats):
        for label, batch_size in modes.items():
            run = timed(batch_size)
            best[label] = min(best.get(label, run), run, key=lambda r: r[0])
    rates, results = {}, {}
    for label, (seconds, completions) in best.items():
        tokens = sum(len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions)
        rates[label], results[label] = len(completions) / seconds, completions
        print(f"{label:>14}: {len(completions)} completions in {seconds:6.2f} s = {rates[label]:7.2f} completions/s "
              f"({tokens / seconds:7.1f} tokens/s, best of {args.repeats})")
    single, batched = results.values()
    print(f"identical completions: {sum(a == b for a, b in zip(single, batched))}/{len(single)}")
    print(f"speed-up batch {args.batch_size} / one at a time: "
          f"{rates[f'batch {args.batch_size}'] / rates['one at a time']:.1f}x")


if __name__ == "__main__":
    main()
