"""The trainer's configuration: one validated pydantic model, preset defaults, layering, TOML.

Values are layered, later wins: the preset's defaults, then `--config FILE.toml`, then the
command's flags, then `--set KEY=VALUE`. The result is written to a run's `run.toml`, which is
all that `fr train --resume` needs. Nothing here imports torch.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finerewards.config import parse_set
from finerewards.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Scheduler = Literal["default", "ddim", "ddpm", "euler", "euler-ancestral", "dpm-solver", "pndm"]
SCHEDULERS: tuple[str, ...] = get_args(Scheduler)
DEFAULT_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
"""The UNet attention projections, as in the diffusers LoRA training scripts."""
MAX_SEED = 2**63 - 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GenerationConfig(_Section):
    """How candidates are sampled (also the settings of `fr generate`)."""

    steps: int = Field(default=20, ge=1, le=1000, description="denoising steps")
    candidate_steps: int = Field(
        default=0,
        ge=0,
        le=1000,
        description=(
            "denoising steps of the training loop's candidates (0: `steps`); fewer buy more"
            " candidates in the same time, while `fr generate` samples the LoRA with `steps`"
        ),
    )
    guidance_scale: float = Field(default=3.0, ge=0.0, le=50.0, description="classifier-free guidance")
    guidance_start: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description=(
            "guidance only at timesteps below this fraction of the noise schedule (1: every step);"
            " none at the noisiest steps keeps samples from collapsing to the mean image"
        ),
    )
    scheduler: Scheduler = Field(
        default="ddim",
        description="sampler; 'default' keeps the pipeline's own",
    )
    height: int = Field(default=64, ge=8, le=4096, multiple_of=8)
    width: int = Field(default=64, ge=8, le=4096, multiple_of=8)
    negative_prompt: str = ""
    eta: float = Field(default=0.0, ge=0.0, le=1.0, description="DDIM eta (0: deterministic sampler)")
    batch_size: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="images per pipeline call, prompts mixed; 0: one prompt's K images per call",
    )

    def for_candidates(self) -> GenerationConfig:
        """These settings as the loop samples its candidates: `candidate_steps` where set."""
        return self.model_copy(update={"steps": self.candidate_steps or self.steps})


class LoraConfigModel(_Section):
    """The LoRA adapter on the UNet attention projections (peft)."""

    rank: int = Field(default=4, ge=1, le=1024)
    alpha: int = Field(default=4, ge=1, le=65536)
    targets: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGETS), min_length=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class TrainingConfig(_Section):
    """The fine-tuning of one round on the kept (image, prompt) pairs."""

    steps_per_round: int = Field(default=50, ge=1, le=1_000_000)
    batch_size: int = Field(default=16, ge=1, le=4096)
    learning_rate: float = Field(default=1e-4, gt=0.0, le=1.0)
    lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        default="constant",
        description=(
            "the learning rate over a round's steps (diffusers' schedules; each round starts a"
            " fresh optimiser): 'cosine' and 'linear' end the round near 0"
        ),
    )
    lr_warmup_steps: int = Field(
        default=0, ge=0, le=1_000_000, description="steps at the start of each round rising from 0"
    )
    lr_round_decay: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="round r trains at `learning_rate` times this to the power r (1: the same every round)",
    )
    max_grad_norm: float = Field(default=1.0, ge=0.0, description="gradient clipping; 0 turns it off")
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"
    weight_decay: float = Field(default=1e-2, ge=0.0, le=1.0)
    adam_beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    adam_beta2: float = Field(default=0.999, ge=0.0, lt=1.0)
    adam_epsilon: float = Field(default=1e-8, gt=0.0, le=1.0)
    prompt_dropout: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="share of examples trained with the empty prompt"
    )
    snr_gamma: float = Field(
        default=0.0,
        ge=0.0,
        description="Min-SNR loss weighting (Hang et al. 2023) with this gamma; 0: plain MSE",
    )
    min_timestep: int = Field(
        default=0,
        ge=0,
        le=999,
        description="train only at timesteps from this one up (the noisier steps, where layouts form)",
    )
    objective: Literal["raft", "dpo"] = Field(
        default="raft",
        description=(
            "'raft': the denoising loss on each kept winner (the paper); 'dpo': Diffusion-DPO"
            " (Wallace et al. 2023) on each kept winner against its prompt's worst candidate,"
            " relative to a reference model (`dpo_reference`)"
        ),
    )
    pairs: Literal["worst", "lower"] = Field(
        default="worst",
        description=(
            "DPO pairs per kept winner: 'worst', its prompt's worst candidate; 'lower', every"
            " candidate of its prompt that ranks strictly lower"
        ),
    )
    pair_margin: float = Field(
        default=0.0,
        ge=0.0,
        le=100.0,
        description=(
            "DPO: keep a pair only where the winner beats the loser on some reward by more than"
            " this many standard deviations of that reward over the round's candidates; 0 keeps"
            " every pair"
        ),
    )
    ema_decay: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description=(
            "end each round on an exponential moving average of the adapter weights over its"
            " steps (this decay per step; 0: the last step's weights)"
        ),
    )
    average_rounds: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description=(
            "the run's LoRA (`lora/`): the mean of the last N rounds' adapters, N this value"
            " (their weight changes averaged exactly, as one LoRA of N times the rank); each"
            " round still trains from the last round's own adapter; 0 or 1: the last round's adapter"
        ),
    )
    replay_rounds: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description=(
            "also train on the kept samples (pairs, for DPO) of up to this many earlier rounds,"
            " re-read from the run folder; the steps per round stay the same"
        ),
    )
    dpo_beta: float = Field(
        default=2000.0, gt=0.0, le=1e7, description="DPO: how sharply preferences are enforced"
    )
    dpo_reference: Literal["base", "round"] = Field(
        default="base",
        description=(
            "DPO: the model the preferences are measured against; 'base', the model without"
            " the adapter; 'round', the adapter as it stood when the round began (iterative DPO)"
        ),
    )
    gradient_checkpointing: bool = False
    target: Literal["latents", "images"] = Field(
        default="latents",
        description="train on the latents the kept images were decoded from, or re-encode the PNGs",
    )


class TrainConfig(BaseModel):
    """Everything that determines a run; `run.toml` is this model written out."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    preset: Literal["toy", "paper"] = "toy"
    model: str = Field(default="toy:sd", min_length=1)
    prompts: str = Field(default="toy:train", min_length=1)
    rewards: list[str] = Field(default_factory=list)
    reward_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    aggregate: str = "rank-sum"
    normalize: str = Field(default="default", description="'default': each reward's own normaliser")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    rounds: int = Field(default=3, ge=1, le=100_000)
    prompts_per_round: int = Field(default=0, ge=0, description="0: every prompt every round")
    images_per_prompt: int = Field(default=4, ge=1, le=4096)
    keep_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    tie_tolerance: float = Field(
        default=0.0,
        ge=0.0,
        le=10.0,
        description=(
            "a prompt's candidates whose scores on a reward differ by at most this many standard"
            " deviations of that reward over the round rank as tied on it (0: exact ties only)"
        ),
    )
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    keep_resident: bool = Field(default=False, description="keep every model on the accelerator")
    cache: bool = True
    report_prompts: int = Field(default=4, ge=0, le=1000, description="prompts shown per round in report")
    generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig())
    lora: LoraConfigModel = Field(default_factory=lambda: LoraConfigModel())
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig())

    @field_validator("weights")
    @classmethod
    def _finite_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not (weight == weight and abs(weight) < float("inf")):
                raise ValueError(f"weight of {name!r} must be a finite number")
        return value


PRESETS: dict[str, dict[str, Any]] = {
    # Fitted to run in minutes on a laptop CPU with the embedded toy world.
    "toy": {
        "model": "toy:sd",
        "prompts": "toy:train",
        "rounds": 3,
        # Twice the prompts, then only the decisive pairs (pair_margin): twice the right pairs
        # a round; over seeds 0-11 +5.0 points against +3.2 for 64 prompts and every pair (on
        # the 605-image evaluation, which flatters both by about two: docs/benchmarks.md).
        "prompts_per_round": 128,
        "images_per_prompt": 4,
        "generation": {
            "steps": 20,
            "guidance_scale": 3.0,
            "guidance_start": 0.7,
            "scheduler": "ddim",
            "height": 64,
            "width": 64,
            "batch_size": 64,
        },
        "lora": {"rank": 4, "alpha": 4},
        # Preference pairs (DPO) on the kept images re-encoded by the VAE, with toy:sd's own
        # loss weighting: learning from the winners alone (RAFT) did not lift toy:sd even with
        # the exact oracle as the reward; pairs did (docs/benchmarks.md, `toy-preset-probes`).
        "training": {
            "objective": "dpo",
            "dpo_beta": 2000.0,
            "steps_per_round": 150,
            "batch_size": 16,
            "learning_rate": 5e-4,
            "snr_gamma": 5.0,
            "target": "images",
            "pair_margin": 0.2,
            # The run's LoRA is the mean of the last two rounds' adapters: a run whose last
            # round happened to move it the wrong way (seed 0: +0.5 points) keeps what the round
            # before learned; over seeds 0-9 +3.6 points (sd 0.6) against +3.2 (sd 1.3) on 1,800
            # evaluation images (docs/benchmarks.md).
            "average_rounds": 2,
        },
    },
    # The paper: SD-1.5, 10 images per prompt, rank-4 LoRA, learning rate 9e-6.
    "paper": {
        "model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "prompts": "toy:train",
        "rounds": 5,
        "prompts_per_round": 0,
        "images_per_prompt": 10,
        "generation": {
            "steps": 50,
            "guidance_scale": 7.5,
            "scheduler": "ddim",
            "height": 512,
            "width": 512,
        },
        "lora": {"rank": 4, "alpha": 4},
        "training": {"steps_per_round": 200, "batch_size": 8, "learning_rate": 9e-6},
    },
}


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` over `base`, merging nested tables key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key != "weights":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict, or a UsageError naming the file and the problem."""
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"config file {str(source)!r} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {str(source)!r}: {exc}") from None


def _sections() -> dict[str, type[BaseModel]]:
    return {
        name: field.annotation
        for name, field in TrainConfig.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def apply_set(values: dict[str, Any], items: list[str], rewards: list[str]) -> dict[str, Any]:
    """Apply `--set KEY=VALUE` items: `section.key`, a unique bare key, or `REWARD.OPTION`."""
    out = copy.deepcopy(values)
    sections = _sections()
    top = set(TrainConfig.model_fields) - set(sections)
    for key, value in parse_set(items).items():
        head, dot, rest = key.partition(".")
        if dot and head in sections:
            if rest not in sections[head].model_fields:
                _unknown(key, [f"{head}.{k}" for k in sections[head].model_fields])
            out.setdefault(head, {})[rest] = value
        elif dot and _reward_prefix(key, rewards):
            owner = _reward_prefix(key, rewards)
            option = key[len(owner) + 1 :]
            out.setdefault("reward_options", {}).setdefault(owner, {})[option] = value
        elif dot and head == "weights":
            out.setdefault("weights", {})[rest] = value
        elif dot:
            known = [f"{s}.{k}" for s, m in sections.items() for k in m.model_fields]
            hint = f"; reward options are REWARD.OPTION for one of: {', '.join(rewards)}" if rewards else ""
            _unknown(key, known + sorted(top), hint)
        elif key in top:
            out[key] = value
        else:
            owners = [s for s, m in sections.items() if key in m.model_fields]
            if len(owners) > 1:
                choices = " or ".join(f"{s}.{key}" for s in owners)
                raise UsageError(f"--set {key} is ambiguous: use {choices}")
            if not owners:
                known = sorted(top) + [k for m in sections.values() for k in m.model_fields]
                _unknown(key, known)
            out.setdefault(owners[0], {})[key] = value
    return out


def _reward_prefix(key: str, rewards: list[str]) -> str:
    """The longest reward name that `key` starts with followed by a dot (names may hold dots)."""
    owners = [name for name in rewards if key.startswith(name + ".") and len(key) > len(name) + 1]
    return max(owners, key=len) if owners else ""


def _unknown(key: str, known: list[str], hint: str = "") -> None:
    message = f"unknown setting {key!r}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    raise UsageError(message + hint)


def validate(values: Mapping[str, Any], origin: str = "settings") -> TrainConfig:
    """Build the model; the first validation error becomes one line naming the key."""
    try:
        return TrainConfig.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f" (got {json.dumps(got, default=str)})"
        raise UsageError(f"invalid {where} in {origin}: {first['msg']}{shown}") from None


def resolve_config(
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    set_items: list[str] | None = None,
) -> TrainConfig:
    """Layer preset, config file, flags and `--set` into one validated configuration."""
    from_file = read_toml(config_file) if config_file is not None else {}
    chosen = preset or from_file.get("preset") or "toy"
    if chosen not in PRESETS:
        raise UsageError(f"unknown preset {chosen!r} (use toy or paper)")
    values = deep_merge(PRESETS[chosen], {**from_file, "preset": chosen})
    if config_file is not None:
        validate(values, f"config file {config_file}")
    values = deep_merge(values, {k: v for k, v in (flags or {}).items() if v is not None})
    rewards = values.get("rewards") or []
    values = apply_set(values, list(set_items or []), list(rewards) if isinstance(rewards, list) else [])
    return validate(values, "the command line" if not set_items else "--set or the command line")


# Writing TOML (the standard library only reads it) ----------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: Mapping[str, Any], header: str = "") -> str:
    """Scalars first, then one `[table]` per nested mapping (and `[a.b]` below it)."""
    lines = [f"# {line}" for line in header.splitlines()]
    _table(lines, [], data)
    return "\n".join(lines).strip("\n") + "\n"


def _table(lines: list[str], path: list[str], data: Mapping[str, Any]) -> None:
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if path and (tables != data or not data):
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
    for key, value in data.items():
        if key not in tables:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _table(lines, [*path, key], value)


def config_to_toml(config: TrainConfig) -> str:
    from finerewards import __version__

    header = (
        f"FineRewards run configuration (finerewards {__version__}).\n"
        "Everything that determines the run; `fr train --resume DIR` reads it back."
    )
    return to_toml(config.model_dump(mode="json"), header)


def load_run_config(path: str | Path) -> TrainConfig:
    return validate(read_toml(path), str(path))
