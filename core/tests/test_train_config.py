"""Trainer settings: presets, layering, `--set`, range checks, and run.toml round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from finerewards.errors import UsageError
from finerewards.train.config import (
    PRESETS,
    TrainConfig,
    apply_set,
    config_to_toml,
    resolve_config,
    to_toml,
    tomllib,
    validate,
)


def test_paper_preset_follows_the_paper() -> None:
    cfg = resolve_config(preset="paper")
    assert cfg.images_per_prompt == 10
    assert cfg.lora.rank == 4
    assert cfg.training.learning_rate == pytest.approx(9e-6)
    assert "stable-diffusion-v1-5" in cfg.model
    assert cfg.generation.height == cfg.generation.width == 512


def test_default_is_toy_on_toy_train() -> None:
    cfg = resolve_config()
    assert (cfg.preset, cfg.model, cfg.prompts) == ("toy", "toy:sd", "toy:train")
    assert cfg.aggregate == "rank-sum"
    assert cfg.generation.height == 64


def test_layering_file_then_flags_then_set(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        'preset = "paper"\nrounds = 7\nseed = 3\n[training]\nbatch_size = 2\nlearning_rate = 0.5\n'
    )
    cfg = resolve_config(
        config_file=config,
        flags={"rounds": 9, "rewards": ["a", "b"], "training": {"steps_per_round": 11}},
        set_items=["training.learning_rate=0.25", "rank=8", "a.model=x", "weights.b=2"],
    )
    assert cfg.preset == "paper" and cfg.images_per_prompt == 10  # preset chosen by the file
    assert cfg.rounds == 9 and cfg.seed == 3  # flag over file, file over preset
    assert cfg.training.batch_size == 2 and cfg.training.steps_per_round == 11
    assert cfg.training.learning_rate == 0.25  # --set over file
    assert cfg.lora.rank == 8  # unique bare key
    assert cfg.reward_options == {"a": {"model": "x"}}
    assert cfg.weights == {"b": 2.0}


@pytest.mark.parametrize(
    "item, message",
    [
        ("training.learning_rate=-1", "training.learning_rate.*greater than 0"),
        ("keep_fraction=1.5", "keep_fraction"),
        ("images_per_prompt=0", "images_per_prompt"),
        ("generation.height=30", "generation.height.*multiple of 8"),
        ("generation.scheduler=magic", "generation.scheduler"),
        ("lora.rnak=3", "did you mean 'lora.rank'"),
        ("batch_size=3", "ambiguous.*generation.batch_size or training.batch_size"),
        ("nonsense=1", "unknown setting 'nonsense'"),
        ("novalue", "KEY=VALUE"),
    ],
)
def test_bad_set_is_one_clear_usage_error(item: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_config(flags={"rewards": ["r"]}, set_items=[item])


def test_bad_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("rounds = \n")
    with pytest.raises(UsageError, match="cannot read config file"):
        resolve_config(config_file=bad)
    out_of_range = tmp_path / "range.toml"
    out_of_range.write_text("[lora]\nrank = 0\n")
    with pytest.raises(UsageError, match=r"lora\.rank.*range\.toml"):
        resolve_config(config_file=out_of_range)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("roundz = 3\n")
    with pytest.raises(UsageError, match="roundz"):
        resolve_config(config_file=unknown)
    with pytest.raises(UsageError, match="does not exist"):
        resolve_config(config_file=tmp_path / "missing.toml")


def test_run_toml_round_trips_exactly() -> None:
    cfg = resolve_config(
        preset="paper",
        flags={"rewards": ["clip", "odd.name"], "weights": {"clip": 0.5}},
        set_items=[
            'generation.negative_prompt="blurry", "low \\"quality\\"" \u00e9\\n',
            "odd.name.path=/x y",
        ],
    )
    text = config_to_toml(cfg)
    again = validate(tomllib.loads(text))
    assert again == cfg
    assert again.generation.negative_prompt == cfg.generation.negative_prompt


def test_to_toml_values() -> None:
    data = {"a": 1e-05, "b": [1, 2.5, "x"], "c": True, "t": {"inner": {"deep": "v"}, "x": 0.1}, "empty": {}}
    assert tomllib.loads(to_toml(data)) == data


def test_apply_set_reward_option_only_for_named_rewards() -> None:
    with pytest.raises(UsageError, match="unknown setting 'clip.model'.*REWARD.OPTION"):
        apply_set({}, ["clip.model=x"], ["sam"])


def test_every_preset_is_valid() -> None:
    for name, values in PRESETS.items():
        assert TrainConfig.model_validate({**values, "preset": name}).preset == name
