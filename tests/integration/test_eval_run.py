"""`run_eval` / `run_sample` in process on the tiny model: resume, re-scoring, the vLLM backend (fake engine)."""

from __future__ import annotations

import json
import math
import re
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alft_cli import generation
from alft_cli.cli import conf_dir
from alft_cli.errors import UserError
from alft_cli.eval import run_eval
from alft_cli.sample import run_sample

pytestmark = pytest.mark.slow
GENERATE = generation.generate
FAST = ["model=tiny", "eval.max_new_tokens=6", "eval.n=2", "eval.k=[1,2]", "eval.temperature=1.0", "eval.chunk=1"]


def _cfg(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _record(monkeypatch, calls: list[str], fail_at: int | None = None) -> None:
    """Patch generation.generate to record each prompt's question, raising KeyboardInterrupt at call `fail_at`."""
    seen = []

    def recording(model, tokenizer, prompts, **kwargs):
        seen.append(1)
        if len(seen) == fail_at:
            raise KeyboardInterrupt
        calls.extend(p[-1]["content"] for p in prompts)
        return GENERATE(model, tokenizer, prompts, **kwargs)

    monkeypatch.setattr(generation, "generate", recording)


def test_resume_generates_only_unfinished_problems(tmp_path, monkeypatch):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    run.mkdir(), fresh.mkdir()
    monkeypatch.chdir(run)
    calls: list[str] = []
    _record(monkeypatch, calls, fail_at=2)  # interrupted during the second generation step
    with pytest.raises(KeyboardInterrupt):
        run_eval(_cfg("eval", [*FAST, "eval.limit=3"]))
    assert len(_jsonl(run / "completions.partial.jsonl")) == 1 and not (run / "metrics.json").exists()

    _record(monkeypatch, calls)
    run_eval(_cfg("eval", [*FAST, "eval.limit=3"]))  # resume: problems 1, 2
    assert len(calls) == 3
    speed = run_eval(_cfg("eval", [*FAST, "eval.limit=5"]))["generation"]  # a larger limit: problems 3, 4 only
    assert len(calls) == 5
    assert (speed["completions"], speed["from_cache"]) == (4, 6) and speed["seconds"] > 0
    assert speed["completions_per_s"] == pytest.approx(4 / speed["seconds"], abs=1e-3)  # one clock, rounded once
    metrics = run_eval(_cfg("eval", [*FAST, "eval.limit=5"]))  # everything cached: nothing generated
    assert len(calls) == 5 and metrics["n_problems"] == 5
    assert metrics.pop("generation") == {"completions": 0, "from_cache": 10, "seconds": None, "completions_per_s": None}
    assert calls == [row["prompt"] for row in _jsonl(run / "completions.partial.jsonl")]
    assert len(set(calls)) == 5 and len(_jsonl(run / "samples.jsonl")) == 10

    # the resumed completions are those of one uninterrupted run (chunk seed = seed + prompt index)
    monkeypatch.chdir(fresh)
    fresh_metrics = run_eval(_cfg("eval", [*FAST, "eval.limit=5"]))
    assert fresh_metrics.pop("generation")["completions"] == 10 and fresh_metrics == metrics
    assert [r["completion"] for r in _jsonl(fresh / "samples.jsonl")] == [
        r["completion"] for r in _jsonl(run / "samples.jsonl")]

    monkeypatch.chdir(run)
    with pytest.raises(UserError, match="max_new_tokens=6, not 7"):
        run_eval(_cfg("eval", [*FAST, "eval.limit=5", "eval.max_new_tokens=7"]))


def test_rescoring_samples_reproduces_metrics_exactly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = run_eval(_cfg("eval", [*FAST, "eval.limit=3", "transforms=[identity,numfmt]"]))
    (tmp_path / "rescore").mkdir()
    monkeypatch.chdir(tmp_path / "rescore")
    again = run_eval(_cfg("eval", [f"eval.completions_file={tmp_path / 'samples.jsonl'}", "eval.k=[1,2]"]))
    same = {"protocol", "generation"}  # no model generated the re-scored completions
    assert {k: v for k, v in again.items() if k not in same} == {k: v for k, v in metrics.items() if k not in same}
    assert "generation" not in again and "agreement" in again and again["protocol"]["completions_file"].endswith("samples.jsonl")


class FakeLLM:
    """Stands in for vllm.LLM: answers `a+b` right in the first half of its n samples, off by one after."""

    instances: ClassVar[list[FakeLLM]] = []

    def __init__(self, **kwargs):
        from transformers import AutoTokenizer

        self.kwargs, self.requests = kwargs, []
        self.tokenizer = AutoTokenizer.from_pretrained(kwargs["model"])
        FakeLLM.instances.append(self)

    def generate(self, inputs, params, use_tqdm=True):
        outputs = []
        for prompt, p in zip(inputs, params):
            self.requests.append((prompt, p))
            text = self.tokenizer.decode(prompt["prompt_token_ids"])
            a, b = map(int, re.search(r"(\d+) \+ (\d+)", text).groups())
            texts = [f"#### {a + b + (i >= p.n // 2)}" for i in range(p.n)]
            outputs.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(text=t) for t in texts]))
        return outputs


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.instances.clear()
    return FakeLLM.instances


def _sums(tmp_path: Path) -> Path:
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {a} + {b}?", "answer": str(a + b)}) + "\n"
                            for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]))
    return data


def test_vllm_backend_gets_the_same_sampling_parameters(tmp_path, monkeypatch, fake_vllm):
    monkeypatch.chdir(tmp_path)
    cfg = _cfg("eval", ["model=tiny", "dataset=jsonl", f"dataset.path={_sums(tmp_path)}", "dataset.heldout_size=3",
                        "eval.backend=vllm", "eval.n=4", "eval.k=[1,2,4]", "eval.temperature=0.8", "eval.top_p=0.9",
                        "eval.max_new_tokens=12", "seed=7", "eval.vllm.gpu_memory_utilization=0.5"])
    metrics = run_eval(cfg)
    (llm,) = fake_vllm
    assert llm.kwargs["model"].endswith(metrics["protocol"]["model"].split("/")[-1])
    assert llm.kwargs["dtype"] == "float32" and llm.kwargs["gpu_memory_utilization"] == 0.5
    prompts = [p for p, _ in llm.requests]
    params = [vars(s) for _, s in llm.requests]
    assert params[0] == {"n": 4, "temperature": 0.8, "top_p": 0.9, "max_tokens": 12, "seed": 7}
    assert [p["seed"] for p in params] == [7, 8, 9]  # one seed per prompt
    # token ids: the chat template rendered exactly as the hf backend renders it, no extra special tokens
    expected = generation.render_prompts(llm.tokenizer, [[{"role": "user", "content": "What is 3 + 4?\n"
                                         "Solve it step by step, then write the final answer as '#### <number>'."}]])
    assert prompts[0]["prompt_token_ids"] == llm.tokenizer(expected[0], add_special_tokens=False)["input_ids"]
    assert metrics["protocol"]["backend"] == "vllm" and metrics["n_problems"] == 3
    assert metrics["pass@1"] == 0.5 and metrics["pass@2"] == pytest.approx(1 - 1 / 6) and metrics["pass@4"] == 1
    assert metrics["maj@4"] == 0.5  # two answers tied 2-2: the vote is split
    assert metrics["answer_entropy"] == pytest.approx(math.log(2)) and metrics["unparsed_rate"] == 0

    sample_dir = tmp_path / "sample"
    sample_dir.mkdir()
    monkeypatch.chdir(sample_dir)
    rows = run_sample(_cfg("sample", ["model=tiny", "dataset=jsonl", f"dataset.path={_sums(tmp_path)}",
                                      "dataset.heldout_size=2", "sample.backend=vllm", "sample.n=2",
                                      "transforms=[identity,paraphrase]"]))
    assert len(rows) == 2 * 2 * 2
    hists = _jsonl(sample_dir / "histograms.jsonl")
    assert [(h["variant"], h["counts"]) for h in hists[:2]] == [("identity", {"11": 1, "12": 1}),
                                                               ("paraphrase", {"11": 1, "12": 1})]


def test_a_checkpoint_path_is_scored_in_the_precision_it_was_saved_in(tmp_path, monkeypatch):
    """`model=<dir>` (hub.yaml, dtype auto) loads the dtype in the checkpoint's config.json; model.dtype= wins."""
    from alft_cli.models import build_tiny_model, load_model_and_tokenizer

    monkeypatch.chdir(tmp_path)
    full = build_tiny_model(dict(_cfg("eval", ["model=tiny"]).model.tiny))
    model, tokenizer = load_model_and_tokenizer(full, "bfloat16")
    half = tmp_path / "half"
    model.save_pretrained(half)
    tokenizer.save_pretrained(half)
    loaded: list[str] = []
    monkeypatch.setattr(generation, "generate", lambda model, *a, **kw: loaded.append(str(model.dtype)) or
                        GENERATE(model, *a, **kw))
    data = ["dataset=jsonl", f"dataset.path={_sums(tmp_path)}", "dataset.heldout_size=2"]
    cases = ((full, [], "float32"), (half, [], "bfloat16"), (full, ["model.dtype=bfloat16"], "bfloat16"))
    for i, (path, extra, dtype) in enumerate(cases):
        loaded.clear()
        (tmp_path / str(i)).mkdir()
        monkeypatch.chdir(tmp_path / str(i))  # the run directory
        metrics = run_eval(_cfg("eval", [*FAST[1:], "model=hub", f"model.name_or_path={path}", *data, *extra]))
        assert metrics["protocol"]["dtype"] == dtype and set(loaded) == {f"torch.{dtype}"}, (path, extra)
