"""Every primary config, group option and experiment composes (lightning-hydra-template style)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from alft_cli.cli import conf_dir, group_choices

GROUPS = {"train": ["model", "dataset", "objective", "trainer", "logger"], "eval": ["model", "dataset"],
          "sample": ["model", "dataset"]}


def _compose(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=False)
    return cfg


def _resolvable(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


@pytest.mark.parametrize("command", ["train", "eval", "sample"])
def test_primary_config_composes(command):
    cfg = _compose(command, [])
    assert cfg.seed == 0
    assert _resolvable(cfg)


@pytest.mark.parametrize("command,group,option",
                         [(c, g, o) for c, gs in GROUPS.items() for g in gs for o in group_choices(g)])
def test_every_group_option_composes(command, group, option):
    cfg = _compose(command, [f"{group}={option}"])
    assert _resolvable(cfg)


@pytest.mark.parametrize("experiment", group_choices("experiment"))
def test_every_experiment_composes(experiment):
    cfg = _compose("train", [f"experiment={experiment}"])
    text = (conf_dir() / "experiment" / f"{experiment}.yaml").read_text()
    assert text.startswith("# @package _global_\n")  # Hydra reads the header only on the first lines
    assert text.splitlines()[1] == f"# alft train experiment={experiment}"
    assert cfg.trainer._target_ == "alft_cli.trainer.CoherenceGRPOConfig"


@pytest.mark.slow
@pytest.mark.parametrize("form", ["experiment", "+experiment"])
def test_cli_takes_experiment_with_and_without_plus(form, tmp_path):
    """`experiment: null` in train.yaml's defaults list: `experiment=` overrides it; `+experiment=` is the same."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    alft = shutil.which("alft", path=str(Path(sys.executable).parent)) or "alft"
    proc = subprocess.run([alft, "train", f"{form}=gsm8k_coherence", "--cfg", "job"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"]["name_or_path"] == "Qwen/Qwen2.5-1.5B-Instruct" and cfg["dataset"]["kind"] == "gsm8k"
    assert cfg["transforms"] == ["identity", "paraphrase", "rename", "numfmt"]


def test_trainer_configs_build_grpo_config():
    from trl import GRPOConfig

    from alft_cli.validate import trainer_config

    for option in group_choices("trainer"):
        cfg = _compose("train", [f"trainer={option}"])
        overrides = {"use_cpu": True, "bf16": False} if option != "cpu" else {}
        args = trainer_config(cfg.trainer, output_dir="/tmp/alft-test", **overrides)
        assert isinstance(args, GRPOConfig)
        assert args.beta > 0, "answer-level objectives need a KL anchor (docs/method.md)"
        assert args.scale_rewards == "none"


def test_experiment_values_win_over_primary_defaults():
    # _self_ first: the experiment's objective must not be silently overridden by train.yaml.
    for experiment in group_choices("experiment"):
        text = (conf_dir() / "experiment" / f"{experiment}.yaml").read_text()
        cfg = _compose("train", [f"experiment={experiment}"])
        if "override /objective:" in text:
            name = text.split("override /objective:")[1].split()[0]
            assert cfg.objective.name.startswith(name.split("_")[0])


@pytest.mark.parametrize("option", group_choices("objective"))
def test_every_objective_builds_its_reward_functions(option):
    """Objective params are resolved before they reach the game: the random control follows the run's seed."""
    from alft_cli.data import variant_labels
    from alft_cli.train import reward_functions
    from alft_cli.validate import ObjectiveConfig

    cfg = _compose("train", [f"objective={option}", "seed=3"])
    objective = ObjectiveConfig.read(cfg.objective)
    funcs = reward_functions(objective, variant_labels(cfg.transforms), cfg.dataset, num_generations=4)
    assert [f.__name__ for f in funcs] == [name for name, _ in objective.components()]
    if option == "random":
        assert funcs[0].objective.seed == 3


def test_eval_and_sample_compose_one_set_of_generation_settings():
    shared = OmegaConf.load(conf_dir() / "generation" / "default.yaml")
    ev, sa = _compose("eval", []).eval, _compose("sample", []).sample
    own = {"limit", "n", "temperature"}  # sample's own values; eval keeps the shared ones
    assert set(sa) == set(shared) and set(ev) == set(shared) | {"models", "completions_file", "k"}
    for key in set(shared) - own:
        assert ev[key] == sa[key] == shared[key], key
    assert {k: ev[k] for k in own} == {k: shared[k] for k in own} == {"limit": 50, "n": 1, "temperature": 0.0}
    assert {k: sa[k] for k in own} == {"limit": 8, "n": 8, "temperature": 1.0}
    for command in ("eval", "sample"):  # the command files do not repeat the shared keys
        written = OmegaConf.load(conf_dir() / f"{command}.yaml")[command]
        assert not (set(written) & set(shared)) - (own if command == "sample" else set())


def test_every_model_gets_the_one_lora_block():
    lora = OmegaConf.load(conf_dir() / "lora" / "default.yaml")
    assert lora.enabled is False
    for option in group_choices("model"):
        assert "lora" not in OmegaConf.load(conf_dir() / "model" / f"{option}.yaml")
        assert _compose("train", [f"model={option}"]).model.lora == lora
    assert _compose("train", ["model=tiny", "model.lora.r=4"]).model.lora.r == 4


def test_transforms_is_one_top_level_key_for_train_eval_and_sample():
    from alft_cli.cli import rewrite_overrides
    from alft_cli.errors import UserError

    four = ["identity", "paraphrase", "rename", "numfmt"]
    for command in ("eval", "sample"):
        assert _compose(command, []).transforms == ["identity"]
        assert _compose(command, ["transforms=[identity,numfmt]"]).transforms == ["identity", "numfmt"]
    assert _compose("train", ["objective=majority"]).transforms == ["identity"]
    paraphrases = ["identity", "paraphrase", "paraphrase", "paraphrase"]  # 4 distinct prompts of any question
    for objective, prompts in (("coherence", paraphrases), ("coherence_correctness", paraphrases),
                               ("pairwise", four), ("fairness", four)):  # they set the variants
        cfg = _compose("train", [f"objective={objective}"])
        assert cfg.transforms == prompts and "transforms" not in cfg.objective
    assert _compose("train", ["objective=coherence", "transforms=[identity,rename]"]).transforms == ["identity",
                                                                                                   "rename"]
    assert _compose("train", ["experiment=gsm8k_coherence"]).transforms == four
    for old in ("objective.transforms", "eval.transforms", "sample.transforms"):
        with pytest.raises(UserError, match=rf"^{old} is now transforms .*: transforms=\[identity\]$"):
            rewrite_overrides([f"{old}=[identity]"])
