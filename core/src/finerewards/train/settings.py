"""Resolving `fr generate`'s settings: preset or run defaults, flags, `--set`; checked early."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from finerewards.config import parse_set
from finerewards.errors import UsageError
from finerewards.train.config import PRESETS, GenerationConfig, deep_merge, load_run_config


def generation_settings(
    *,
    model: str | None,
    lora: Path | None,
    preset: str | None,
    flags: dict[str, Any],
    set_items: list[str],
) -> tuple[str, GenerationConfig, Path | None]:
    """(model reference, generation settings, LoRA file) for `fr generate`.

    With `--lora RUN_FOLDER` the run's model and generation settings are the defaults, so a
    trained LoRA is sampled the way it was trained unless told otherwise.
    """
    from finerewards.train.lora import lora_weights_file
    from finerewards.train.pipeline import check_model

    if preset is not None and preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r} (use toy or paper)")
    base_model = PRESETS[preset or "toy"]["model"]
    base: dict[str, Any] = dict(PRESETS[preset or "toy"]["generation"])
    lora_file = None
    if lora is not None:
        lora_file = lora_weights_file(lora)
        run_toml = Path(lora) / "run.toml"
        if run_toml.is_file() and preset is None:
            run = load_run_config(run_toml)
            base_model, base = run.model, run.generation.model_dump()
    values = deep_merge(base, {k: v for k, v in flags.items() if v is not None})
    for key, value in parse_set(set_items).items():
        name = key.removeprefix("generation.")
        if name not in GenerationConfig.model_fields:
            known = ", ".join(GenerationConfig.model_fields)
            raise UsageError(f"unknown generation setting {key!r} (known: {known})")
        values[name] = value
    try:
        settings = GenerationConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"invalid generation {where}: {first['msg']} (got {first.get('input')!r})") from None
    chosen = model or base_model
    check_model(chosen)
    return chosen, settings, lora_file
