"""Model sources: the offline tiny model, run-directory resolution, concurrent cache builds."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from alft_cli.errors import UserError
from alft_cli.models import (
    build_tiny_model,
    has_weights,
    load_model_and_tokenizer,
    model_dtype,
    newest_checkpoint,
    run_dir_model,
)

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


def _checkpoint(path, *files):
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text("{}")
    return path


def test_run_directory_resolves_to_its_final_model_or_newest_complete_checkpoint(tmp_path):
    _checkpoint(tmp_path / "checkpoint-2", "config.json", "model.safetensors")
    _checkpoint(tmp_path / "checkpoint-10", "config.json", "model.safetensors")
    _checkpoint(tmp_path / "checkpoint-11", "config.json")  # a full disk: weights never written
    _checkpoint(tmp_path / "checkpoint-final", "config.json", "model.safetensors")  # not a step: ignored
    assert run_dir_model(tmp_path).name == "checkpoint-10"
    _checkpoint(tmp_path / "final_model", "config.json")  # incomplete final model: the checkpoint wins
    assert run_dir_model(tmp_path).name == "checkpoint-10"
    (tmp_path / "final_model" / "model.safetensors").write_text("{}")
    assert run_dir_model(tmp_path).name == "final_model"
    with pytest.raises(UserError, match="holds no model"):
        run_dir_model(_checkpoint(tmp_path / "empty"))


def test_model_directory_with_only_config_json_is_one_line(tmp_path):
    with pytest.raises(UserError, match="has config.json but no complete weights"):
        run_dir_model(_checkpoint(tmp_path / "m", "config.json", "tokenizer.json"))


def test_sharded_weights_need_every_shard(tmp_path):
    path = _checkpoint(tmp_path / "checkpoint-3", "config.json", "trainer_state.json")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    (path / "model-00001-of-00002.safetensors").write_text("")
    assert not has_weights(path) and newest_checkpoint(tmp_path, "trainer_state.json") is None
    (path / "model-00002-of-00002.safetensors").write_text("")
    assert has_weights(path) and newest_checkpoint(tmp_path, "trainer_state.json") == path


def test_resume_takes_the_newest_checkpoint_with_its_trainer_state(tmp_path):
    from alft_cli.train import resume_checkpoint

    for step in (4, 5):
        _checkpoint(tmp_path / f"checkpoint-{step}", "config.json", "model.safetensors", "trainer_state.json")
    (tmp_path / "checkpoint-5" / "trainer_state.json").write_text('{"global_st')  # cut short
    _checkpoint(tmp_path / "checkpoint-6", "config.json", "model.safetensors")  # no trainer state
    _checkpoint(tmp_path / "checkpoint-final", "config.json", "model.safetensors", "trainer_state.json")
    newest = str(tmp_path / "checkpoint-4")
    assert resume_checkpoint(True, tmp_path) == resume_checkpoint("auto", tmp_path) == newest
    assert resume_checkpoint(str(tmp_path), tmp_path / "elsewhere") == newest
    assert resume_checkpoint(newest, tmp_path) == newest and resume_checkpoint(None, tmp_path) is None
    with pytest.raises(UserError, match="not a complete checkpoint"):
        resume_checkpoint(str(tmp_path / "checkpoint-6"), tmp_path)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert resume_checkpoint("auto", fresh) is None
    with pytest.raises(UserError, match="holds no complete checkpoint-N/.*alft train resume="):
        resume_checkpoint("true", fresh)


@pytest.mark.parametrize(("saved", "dtype", "expected"), [
    ({"dtype": "bfloat16"}, "auto", "bfloat16"),
    ({"torch_dtype": "float16"}, "auto", "float16"),  # the key before transformers 5
    ({}, "auto", "float32"),
    ({"dtype": "bfloat16"}, "float32", "float32"),  # an explicit model.dtype wins
])
def test_auto_dtype_is_the_precision_the_checkpoint_was_saved_in(tmp_path, saved, dtype, expected):
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert model_dtype({"dtype": dtype}, tmp_path) == expected
