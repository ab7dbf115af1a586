"""Step time of CoherenceGRPOTrainer (coherence objective) vs plain TRL GRPOTrainer, alternating, same geometry.

Both trainers use the same model, prompts and batch geometry (8 completions per step, G=4): every problem
in 2 forms (identity, paraphrase). The coherence run keeps a problem's 2 forms in one generation batch so
its consensus sees 2×4 answers; the plain run uses TRL's own sampler and a trivial per-sample reward.
The step time is TRL's own `step_time` metric (the first step of each round is
warm-up and dropped). The last line ends with the median ratio coherence / plain as a plain number.

    python scripts/bench_overhead.py [--model tiny|smollm2] [--rounds 5] [--steps 6]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
warnings.filterwarnings("ignore")


def build(kind: str, model_path, config, rows: list[dict], labels: list[str], dtype: str = "float32"):
    """A fresh trainer on `rows` (prompt, uid, variant label in `labels`) with `config` (a CoherenceGRPOConfig): "coherence" is
    CoherenceGRPOTrainer with the coherence objective; "plain" is TRL's GRPOTrainer on the same prompts with
    its own sampler and a trivial reward."""
    import datasets
    from trl import GRPOTrainer

    from alft_cli.game import get_objective
    from alft_cli.models import load_model_and_tokenizer
    from alft_cli.rewards import AnswerLevelReward
    from alft_cli.trainer import CoherenceGRPOTrainer

    model, tokenizer = load_model_and_tokenizer(model_path, dtype)
    if kind == "plain":
        reward = [lambda completions, **_: [float("7" in str(c)) for c in completions]]
        return GRPOTrainer(model=model, args=config, reward_funcs=reward, processing_class=tokenizer,
                           train_dataset=datasets.Dataset.from_list([{"prompt": d["prompt"]} for d in rows]))
    reward = AnswerLevelReward(get_objective("coherence"), num_generations=config.num_generations,
                               variants=labels)
    return CoherenceGRPOTrainer(model=model, args=config, reward_funcs=[reward], processing_class=tokenizer,
                                train_dataset=datasets.Dataset.from_list(rows))


def timed_steps(trainer) -> list[dict]:
    """Train; the logged rows of every step but the first (warm-up), each with TRL's `step_time`."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return [row for row in trainer.state.log_history if "step_time" in row][1:]


def arithmetic(args) -> tuple:
    """(config, rows, labels): 8 completions per step, G=4, every chain_sum problem as identity and paraphrase."""
    import reasoning_gym

    from alft_cli.data import Problem, variants
    from alft_cli.trainer import CoherenceGRPOConfig

    problems = list(reasoning_gym.create_dataset("chain_sum", size=64, seed=1, min_terms=2, max_terms=2,
                                                 min_digits=1, max_digits=1))
    config = CoherenceGRPOConfig(output_dir=args.out, num_variants=2, use_cpu=True, bf16=False,
                                 activation_checkpointing=False, num_generations=4, per_device_train_batch_size=8,
                                 max_completion_length=args.tokens, max_steps=args.steps, logging_steps=1,
                                 save_strategy="no", report_to=[], beta=0.1, scale_rewards="none", seed=0,
                                 disable_tqdm=True)
    transforms = ["identity", "paraphrase"]
    rows = [{"prompt": [{"role": "user", "content": v.question}], "uid": f"p{i}", "variant": v.label}
            for i, r in enumerate(problems) for v in variants(Problem(f"p{i}", r["question"], ""), transforms, 0)]
    return config, rows, transforms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from alft_cli.models import build_tiny_model, convert_smollm2

    model_path = convert_smollm2() if args.model == "smollm2" else build_tiny_model(
        {"vocab_size": 384, "hidden_size": 128, "num_layers": 4, "num_heads": 4, "seed": 0})
    ratios = []
    with tempfile.TemporaryDirectory() as args.out:
        config, rows, labels = arithmetic(args)
        for r in range(args.rounds):
            order = ["coherence", "plain"] if r % 2 == 0 else ["plain", "coherence"]
            medians = {}
            for kind in order:
                steps = timed_steps(build(kind, model_path, config, rows, labels))
                medians[kind] = statistics.median(row["step_time"] for row in steps)
            ratios.append(medians["coherence"] / medians["plain"])
            print(f"round {r}: coherence {medians['coherence'] * 1e3:.1f} ms/step, "
                  f"plain {medians['plain'] * 1e3:.1f} ms/step, ratio {ratios[-1]:.3f}", flush=True)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(f"model={args.model} rounds={args.rounds} steps/round={args.steps} completions/step=8 G=4")
    print(f"per-round ratio: min {min(ratios):.3f}  IQR [{q[0]:.3f}, {q[2]:.3f}]  max {max(ratios):.3f}")
    print(f"median step-time ratio coherence/plain: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
