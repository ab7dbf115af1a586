"""Step time, completion tokens/s and memory of the GPU recipe: CoherenceGRPOTrainer vs plain TRL GRPOTrainer.

The trainer geometry is the recipe's (`experiment=gsm8k_coherence` on `trainer=gpu`: 4 problems × 4 forms ×
G=8 = 128 completions of up to 512 tokens per step, bf16, gradient checkpointing, expandable segments) on a
random-init model of a named shape, with GSM8K prompts from a local file. The two trainers alternate on
identical prompts (no shuffling: both take the same 4 problems per step; `scripts/bench_overhead.py` builds
them); the first step of each is warm-up and dropped. A random model rarely ends a completion, so every
completion runs to the length limit: the recipe's worst case. Memory is torch's peak allocated and reserved
on the GPU (n/a on CPU); for CoherenceGRPOTrainer also the shares of the step spent generating and computing
rewards (`timing/*_share`). The last line ends with the median step-time ratio coherence/plain.

Sized for one H200: both real shapes with the defaults (2 rounds × 2 steps per trainer) should take 5-6 minutes
(estimated from the 18 s/step measured for the 1.5B shape in issue 16). `--shape tiny` runs on CPU in seconds
with a smaller geometry (`--set trainer.max_completion_length=8 ...`).

    python scripts/bench_gpu.py [--shape qwen2.5-0.5b qwen2.5-1.5b] [--rounds 2] [--steps 2] [--data FILE]
                                [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

from bench_overhead import build, timed_steps

from alft_cli.telemetry import configure_cuda_allocator, cuda_peaks_gb

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
configure_cuda_allocator()  # before torch initialises CUDA, as `alft train` does
warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parents[1]
QWEN_VOCAB = {"embedding_rows": 151936, "max_positions": 32768, "num_kv_heads": 2, "vocab_size": 384, "seed": 0}
SHAPES = {  # random-init Llama models with Qwen2.5's sizes (alft_cli.models.build_tiny_model)
    "qwen2.5-0.5b": {"hidden_size": 896, "num_layers": 24, "num_heads": 14, "intermediate_size": 4864, **QWEN_VOCAB},
    "qwen2.5-1.5b": {"hidden_size": 1536, "num_layers": 28, "num_heads": 12, "intermediate_size": 8960, **QWEN_VOCAB},
}


def shape_spec(shape: str) -> dict:
    if shape == "tiny":  # the tests' model, conf/model/tiny.yaml
        from omegaconf import OmegaConf

        return dict(OmegaConf.load(REPO / "conf" / "model" / "tiny.yaml").tiny)
    return SHAPES[shape]


def recipe(data: Path, overrides: list[str]):
    """The composed `alft train experiment=gsm8k_coherence` config on a local GSM8K file."""
    from hydra import compose, initialize_config_dir

    from alft_cli.cli import conf_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=["experiment=gsm8k_coherence", "logger=none",
                                                       f"dataset.path={data}", *overrides])


def trainer_config(cfg, out: str, steps: int):
    """The recipe's CoherenceGRPOConfig, checked as `alft train` checks it, for `steps` unshuffled steps."""
    from alft_cli.train import _device_overrides
    from alft_cli.validate import check_train

    return check_train(cfg, output_dir=out, seed=0, **_device_overrides(cfg), max_steps=steps, logging_steps=1,
                       save_strategy="no", report_to=[], disable_tqdm=True, shuffle_dataset=False)[1]


def measure(trainer) -> dict:
    """Median step time, completion tokens/s and peak GPU memory of the timed steps of one trainer."""
    device = trainer.accelerator.device
    cuda_peaks_gb(device)  # reset: the peaks of this trainer's steps only
    steps = timed_steps(trainer)
    tokens = sum(row["completions/mean_length"] * trainer.args.generation_batch_size for row in steps)
    peaks = cuda_peaks_gb(device)
    shares = {phase: statistics.median(row[f"timing/{phase}_share"] for row in steps)
              for phase in ("generation", "reward") if f"timing/{phase}_share" in steps[0]}  # alft's trainer only
    return {"step_time": statistics.median(row["step_time"] for row in steps),
            "tokens_per_s": tokens / sum(row["step_time"] for row in steps), "peaks": peaks, "shares": shares}


def bench_shape(shape: str, cfg, args) -> list[float]:
    """Alternating rounds on one shape; prints a line per trainer and the shape's ratio; returns the ratios."""
    import torch

    from alft_cli.data import load_split, variant_labels
    from alft_cli.models import build_tiny_model
    from alft_cli.train import training_rows

    model_path = build_tiny_model(shape_spec(shape))
    gpu = torch.cuda.is_available()
    dtype = str(cfg.model.dtype) if gpu else "float32"
    ratios, results = [], {"coherence": [], "plain": []}
    with tempfile.TemporaryDirectory() as out:
        config = trainer_config(cfg, out, args.steps)
        per_step = config.generation_batch_size // (config.num_generations * config.num_variants)
        problems = load_split(cfg.dataset, "train")[: per_step * args.steps]
        rows, labels = training_rows(problems, cfg), variant_labels(cfg.transforms)
        for r in range(args.rounds):
            medians = {}
            for kind in ("coherence", "plain") if r % 2 == 0 else ("plain", "coherence"):
                trainer = build(kind, model_path, config, rows, labels, dtype)
                result = measure(trainer)
                del trainer
                gc.collect()
                if gpu:
                    torch.cuda.empty_cache()
                results[kind].append(result)
                medians[kind] = result["step_time"]
            ratios.append(medians["coherence"] / medians["plain"])
    for kind, runs in results.items():
        peaks = [run["peaks"] for run in runs if run["peaks"]]
        memory = (f"peak allocated {max(p[0] for p in peaks):.1f} GiB, reserved {max(p[1] for p in peaks):.1f} GiB"
                  if peaks else "GPU memory n/a (CPU)")
        shares = "".join(f", {phase} {statistics.median(x['shares'][phase] for x in runs):.1%}"
                         for phase in runs[0]["shares"])
        print(f"{shape} {kind}: {statistics.median(x['step_time'] for x in runs):.2f} s/step, "
              f"{statistics.median(x['tokens_per_s'] for x in runs):.0f} completion tokens/s, {memory}"
              f"{shares}", flush=True)
    print(f"{shape}: {config.generation_batch_size} completions x {config.max_completion_length} tokens per step, "
          f"{'bf16 on ' + torch.cuda.get_device_name() if gpu else 'fp32 on CPU'}, step-time ratio coherence/plain "
          f"{statistics.median(ratios):.3f} (median of {len(ratios)} rounds)", flush=True)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs="+", choices=["tiny", *SHAPES], default=list(SHAPES))
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (coherence, plain) per shape")
    parser.add_argument("--steps", type=int, default=2, help="steps per trainer; the first is warm-up")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="alft train overrides")
    args = parser.parse_args()
    if args.steps < 2:
        sys.exit("bench_gpu: --steps must be at least 2 (the first step is warm-up)")
    if not args.data.is_file():
        sys.exit(f"bench_gpu: no GSM8K file at {args.data}; pass --data /path/to/gsm8k/train.jsonl")
    logging.disable(logging.WARNING)
    cfg = recipe(args.data.resolve(), args.set)
    ratios = [ratio for shape in args.shape for ratio in bench_shape(shape, cfg, args)]
    print(f"median step-time ratio coherence/plain ({', '.join(args.shape)}; {len(ratios)} rounds): "
          f"{statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
