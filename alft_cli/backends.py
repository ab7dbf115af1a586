"""What `alft eval` and `alft sample` generate (`Job`s) and the backends that generate it.

Backends: `hf` (batched transformers `generate`, CPU or GPU) and `vllm` (when installed). Both render
the prompt with the model's own chat template, tokenise it without extra special tokens and take the
same sampling parameters (n, temperature, top_p, max_tokens, seed), so their numbers are comparable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alft_cli.errors import UserError
from alft_cli.generation import Messages, chunks

BACKENDS = ("hf", "vllm")


@dataclass(frozen=True)
class Job:
    """One prompt to sample: problem `uid` asked as `variant` (its label, `alft_cli.data.Variant`); `index`
    orders jobs."""

    index: int
    uid: str
    variant: str
    question: str
    gold: str
    messages: Messages


@dataclass(frozen=True)
class Sampling:
    n: int
    temperature: float
    top_p: float
    max_new_tokens: int


def build_jobs(dataset_cfg: Any, split: str, limit: int | None, transforms: Sequence[str], seed: int) -> list[Job]:
    """Problem-major jobs: every variant of problem 0, then of problem 1, … ."""
    from alft_cli.data import build_messages, load_split, variant_labels, variants

    variant_labels(transforms)  # fail on a bad name before loading the data
    problems = load_split(dataset_cfg, split)
    if limit:
        problems = problems[: int(limit)]
    jobs = []
    for p in problems:
        for v in variants(p, transforms, seed):
            messages = build_messages(v.question, dataset_cfg.prompt)
            jobs.append(Job(len(jobs), p.uid, v.label, v.question, p.gold, messages))
    return jobs


class Backend(Protocol):
    name: str

    def generate(self, prompts: Sequence[Messages], seed: int) -> list[list[str]]:
        """`sampling.n` completions per prompt."""


class HFBackend:
    """Batched transformers `generate` (alft_cli.generation) on CPU or GPU."""

    name = "hf"

    def __init__(self, path: Path, dtype: str, sampling: Sampling, batch_size: int, device: str = "auto"):
        import torch

        from alft_cli.models import load_model_and_tokenizer

        self.sampling, self.batch_size = sampling, int(batch_size)
        self.model, self.tokenizer = load_model_and_tokenizer(path, dtype)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(device)

    def generate(self, prompts: Sequence[Messages], seed: int) -> list[list[str]]:
        from alft_cli import generation

        s = self.sampling
        return generation.generate(self.model, self.tokenizer, prompts, n=s.n, temperature=s.temperature,
                                   top_p=s.top_p, max_new_tokens=s.max_new_tokens, batch_size=self.batch_size,
                                   seed=seed)


class VLLMBackend:
    """vLLM offline engine; prompt i of a call gets the per-request seed `seed + i`."""

    name = "vllm"

    def __init__(self, path: Path, dtype: str, sampling: Sampling, engine_args: dict):
        import vllm

        from alft_cli.models import load_tokenizer

        self.vllm, self.sampling = vllm, sampling
        self.tokenizer = load_tokenizer(path)
        self.llm = vllm.LLM(model=str(path), dtype=dtype, **engine_args)

    def generate(self, prompts: Sequence[Messages], seed: int) -> list[list[str]]:
        from alft_cli.generation import render_prompts

        s = self.sampling
        texts = render_prompts(self.tokenizer, prompts)
        inputs = [{"prompt_token_ids": self.tokenizer(t, add_special_tokens=False)["input_ids"]} for t in texts]
        params = [self.vllm.SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p,
                                           max_tokens=s.max_new_tokens, seed=seed + i) for i in range(len(texts))]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        return [[c.text for c in out.outputs] for out in outputs]


def check_backend(opts: Any, key: str) -> None:
    """Fail fast (before any model loads) on an unknown backend or a missing vLLM."""
    if opts.backend not in BACKENDS:
        raise UserError(f"{key}.backend={opts.backend!r} is not one of: {', '.join(BACKENDS)}")
    if opts.backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError as err:
            raise UserError(f"{key}.backend=vllm needs vLLM, which is not installed: pip install 'alft[vllm]' "
                            f"(or use {key}.backend=hf)") from err


def make_backend(opts: Any, model_cfg: Any, path: Path, sampling: Sampling, key: str) -> Backend:
    """The backend `opts.backend` (an eval/sample config node) for the model at `path` (`model_cfg`'s
    resolved directory); `key` names the config node in errors."""
    from alft_cli.models import model_dtype

    check_backend(opts, key)
    dtype = model_dtype(model_cfg, path)
    if opts.backend == "vllm":
        return VLLMBackend(path, dtype, sampling, dict(opts.get("vllm") or {}))
    return HFBackend(path, dtype, sampling, opts.batch_size, str(opts.get("device", "auto")))


def run_jobs(backend: Backend, jobs: Sequence[Job], chunk: int, seed: int, done: int = 0,
             desc: str = "generating") -> Iterator[tuple[Job, list[str]]]:
    """Generate `chunk` prompts at a time (chunk seed: `seed` + index of its first job) with a
    progress bar over all prompts, `done` of which were finished earlier; yields (job, completions)."""
    from tqdm.auto import tqdm

    with tqdm(total=done + len(jobs), initial=done, desc=desc, unit="prompt", dynamic_ncols=True) as bar:
        for part in chunks(jobs, max(1, int(chunk))):
            outs = backend.generate([j.messages for j in part], seed=seed + part[0].index)
            yield from zip(part, outs)
            bar.update(len(part))
