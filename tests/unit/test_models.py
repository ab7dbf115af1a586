"""Model sources: the offline tiny model, run-directory resolution, concurrent cache builds."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from alft_cli.errors import UserError
from alft_cli.models import build_tiny_model, load_model_and_tokenizer, run_dir_model

SPEC = {"vocab_size": 300, "hidden_size": 16, "num_layers": 1, "num_heads": 2, "seed": 0}


def _build(cache: str) -> str:
    os.environ["ALFT_CACHE"] = cache
    return str(build_tiny_model(SPEC))


def test_tiny_model_is_built_once_even_when_processes_race(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_build, [str(tmp_path)] * 2)
    assert paths[0] == paths[1]
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")) == [
        os.path.basename(paths[0])]
    model, tokenizer = load_model_and_tokenizer(paths[0])
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "4 - 1 ="}], add_generation_prompt=True)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert model.config.vocab_size == len(tokenizer) and len(ids["input_ids"]) > 3


def test_run_directory_resolves_to_its_final_model_or_newest_checkpoint(tmp_path):
    for name in ("checkpoint-2", "checkpoint-10"):
        (tmp_path / name).mkdir()
    assert run_dir_model(tmp_path).name == "checkpoint-10"
    (tmp_path / "final_model").mkdir()
    (tmp_path / "final_model" / "config.json").write_text("{}")
    assert run_dir_model(tmp_path).name == "final_model"
    with pytest.raises(UserError, match="holds no model"):
        run_dir_model(tmp_path / "checkpoint-2")
