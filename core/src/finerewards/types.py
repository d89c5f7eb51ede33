"""The objects plugins exchange with the core.

Nothing here imports torch or any model library: a plugin's entry-point module imports these
types to describe its rewards, and `fr rewards` must stay instant.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from PIL.Image import Image

PRESETS = ("toy", "paper")
"""Preset names: `toy` (the embedded default, runs on a CPU) and `paper` (the paper's models)."""


class RewardOptions(BaseModel):
    """Base of every reward's options model: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class NoOptions(RewardOptions):
    """Options model of a reward without options."""


@dataclass
class RewardOutput:
    """What `Reward.score` returns: one score per input, in input order, plus per-item details."""

    scores: list[float]
    details: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.details:
            self.details = [{} for _ in self.scores]
        if len(self.details) != len(self.scores):
            raise ValueError("RewardOutput: details and scores differ in length")


@runtime_checkable
class Reward(Protocol):
    """A scoring object built by a spec's factory.

    `setup` does the heavy imports and loads weights; `score` is batched and must score
    `images[i]` against `prompts[i]`; `close` frees memory (models off the accelerator).
    """

    def setup(self, device: str, dtype: str) -> None: ...

    def score(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput: ...

    def close(self) -> None: ...


class SpecError(ValueError):
    """A reward, normaliser or aggregator spec is malformed."""


@dataclass(frozen=True)
class RewardSpec:
    """Everything the core needs to know about a reward without importing its model code.

    `factory` is a "module:attr" string resolved only when the reward is used; it is called
    with the resolved options model and returns a `Reward`. `presets` maps a preset name to
    option defaults; a preset absent from it is not supported by the reward. `requires` lists
    importable module names the reward needs; `install` says what to install when they miss.
    `prompt_check`, a "module:attr" string too, names a function that raises ValueError for a
    prompt the reward cannot score, so that a run refuses such prompts before any work.
    """

    name: str
    description: str
    factory: str
    higher_is_better: bool = True
    score_range: tuple[float, float] = (float("-inf"), float("inf"))
    options: type[RewardOptions] = NoOptions
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"toy": {}, "paper": {}})
    default_normalizer: str = "zscore"
    batch_size: int = 8
    requires: tuple[str, ...] = ()
    install: str = ""
    toy_only: bool = False
    prompt_check: str = ""

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise SpecError(f"reward name {self.name!r} must be letters, digits, '-', '_' or '.'")
        if ":" not in self.factory:
            raise SpecError(f"reward {self.name!r}: factory must be 'module:attr'")
        if self.prompt_check and ":" not in self.prompt_check:
            raise SpecError(f"reward {self.name!r}: prompt_check must be 'module:attr'")
        low, high = self.score_range
        if not low <= high:
            raise SpecError(f"reward {self.name!r}: score range {self.score_range} is empty")
        if not (isinstance(self.options, type) and issubclass(self.options, RewardOptions)):
            raise SpecError(f"reward {self.name!r}: options must subclass RewardOptions")
        if self.batch_size < 1:
            raise SpecError(f"reward {self.name!r}: batch_size must be >= 1")
        for preset in self.presets:
            if preset not in PRESETS:
                raise SpecError(f"reward {self.name!r}: unknown preset {preset!r}")

    def missing_requirements(self) -> list[str]:
        """Modules in `requires` that cannot be imported here (found without importing)."""
        return [mod for mod in self.requires if importlib.util.find_spec(mod) is None]

    @property
    def available(self) -> bool:
        return not self.missing_requirements()

    def resolve_options(
        self, preset: str = "toy", overrides: Mapping[str, Any] | None = None
    ) -> RewardOptions:
        """The options for a preset with user overrides applied, validated by the model."""
        if preset not in self.presets:
            supported = ", ".join(sorted(self.presets)) or "none"
            raise PresetError(f"reward {self.name!r} has no {preset!r} preset (supported: {supported})")
        values = {**self.presets[preset], **(overrides or {})}
        try:
            return self.options(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            raise OptionError(f"{self.name}.{where}: {first['msg']}") from None

    def load_factory(self) -> Callable[[RewardOptions], Reward]:
        """Import the factory (this is where a plugin's heavy module gets imported)."""
        factory: Callable[[RewardOptions], Reward] = _import_attr(self.factory)
        return factory

    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Raise PromptError for the first prompt that `prompt_check` refuses."""
        if not self.prompt_check:
            return
        check = _import_attr(self.prompt_check)
        for prompt in prompts:
            try:
                check(prompt)
            except ValueError as exc:
                raise PromptError(f"reward {self.name!r}: {exc}") from None

    def build(self, options: RewardOptions) -> Reward:
        return self.load_factory()(options)


def _import_attr(ref: str) -> Any:
    """The object a "module:attr.sub" string names, its module imported."""
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class PresetError(ValueError):
    """A reward was asked for a preset it does not support."""


class OptionError(ValueError):
    """An option value failed validation."""


class PromptError(ValueError):
    """A reward cannot score a prompt (its `prompt_check` refused it)."""


Normalizer = Callable[[Sequence[float]], list[float]]
"""Maps the scores of one prompt group (oriented so that higher is better) to normalised ones."""


class Aggregator(Protocol):
    """Combines the rewards of one prompt group into one score per candidate (higher is better).

    `raw` holds each reward's scores oriented so that higher is better, `normalized` the
    normalised ones, `weights` a weight per reward (1.0 when not given).
    """

    def __call__(
        self,
        raw: Mapping[str, Sequence[float]],
        normalized: Mapping[str, Sequence[float]],
        weights: Mapping[str, float],
    ) -> list[float]: ...


@dataclass(frozen=True)
class NormalizerSpec:
    name: str
    function: Normalizer
    description: str = ""


@dataclass(frozen=True)
class AggregatorSpec:
    name: str
    function: Aggregator
    description: str = ""
    rank_based: bool = False
    """True when it compares candidates within a group by rank (then K must be at least 2)."""
