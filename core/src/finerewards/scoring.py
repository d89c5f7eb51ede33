"""Scoring (image, prompt) pairs with named rewards: reward by reward, batched, cached.

This is the one path from a reward name to scores, used by `fr score` and by the trainer.
Each reward's model is loaded once, used for all its batches, then closed (unless the caller
keeps rewards resident), so only one phase's models sit on the accelerator at a time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finerewards.aggregate import check_finite
from finerewards.cache import ScoreCache, image_digest, score_key
from finerewards.errors import LIBRARY_MESSAGE_LIMIT, FRError, RewardError, UsageError, one_line
from finerewards.models import options_revision
from finerewards.registry import Registry, get_registry
from finerewards.types import OptionError, PresetError, PromptError, Reward, RewardOptions, RewardSpec

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass
class PreparedReward:
    """A reward resolved for one run: spec, validated options and their cache identity."""

    spec: RewardSpec
    options: RewardOptions
    options_json: str
    revision: str

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class RewardScores:
    scores: list[float]
    details: list[dict[str, Any]]
    cached: int = 0


@dataclass
class Scorer:
    """Scores with several rewards under one preset; `prepare` validates before heavy work."""

    rewards: Sequence[str]
    preset: str = "toy"
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    cache: ScoreCache | None = None
    progress: bool = True
    keep_loaded: bool = False
    registry: Registry | None = None
    prepared: dict[str, PreparedReward] = field(default_factory=dict, init=False)
    _loaded: dict[str, Reward] = field(default_factory=dict, init=False)

    def prepare(self) -> dict[str, PreparedReward]:
        """Resolve every reward (name, extras, preset, options): raises UsageError early."""
        if self.prepared:
            return self.prepared
        registry = self.registry or get_registry()
        unknown_option_targets = set(self.options) - set(self.rewards)
        if unknown_option_targets:
            name = sorted(unknown_option_targets)[0]
            raise UsageError(
                f"options given for {name!r}, which is not among the rewards ({', '.join(self.rewards)})"
            )
        if not self.rewards:
            raise UsageError("no reward given (use --reward NAME; `fr rewards` lists them)")
        twice = sorted({name for name in self.rewards if self.rewards.count(name) > 1})
        if twice:
            raise UsageError(f"reward {twice[0]!r} is named twice")
        for name in self.rewards:
            spec = registry.available_reward(name)
            try:
                options = spec.resolve_options(self.preset, self.options.get(name))
            except (PresetError, OptionError) as exc:
                raise UsageError(str(exc)) from None
            values = options.model_dump(mode="json")
            self.prepared[name] = PreparedReward(
                spec, options, json.dumps(values, sort_keys=True), options_revision(values, name)
            )
        return self.prepared

    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Refuse, before any work, a prompt that some reward cannot score (its prompt_check)."""
        for reward in self.prepare().values():
            try:
                reward.spec.check_prompts(prompts)
            except PromptError as exc:
                raise UsageError(str(exc)) from None

    def score(
        self,
        images: Sequence[Image],
        prompts: Sequence[str],
        labels: Sequence[str] | None = None,
    ) -> dict[str, RewardScores]:
        """Scores per reward name, each in input order; `labels` name items in errors."""
        if len(images) != len(prompts):
            raise ValueError("images and prompts differ in length")
        prepared = self.prepare()
        self.check_prompts(prompts)
        hashes = [image_digest(image) for image in images]
        return {
            name: self._score_one(prepared[name], images, prompts, hashes, labels) for name in self.rewards
        }

    def _score_one(
        self,
        reward: PreparedReward,
        images: Sequence[Image],
        prompts: Sequence[str],
        hashes: Sequence[str],
        labels: Sequence[str] | None,
    ) -> RewardScores:
        keys = [
            score_key(h, p, reward.name, reward.options_json, reward.revision)
            for h, p in zip(hashes, prompts)
        ]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        scores: list[float | None] = [found[k][0] if k in found else None for k in keys]
        details: list[dict[str, Any]] = [found[k][1] if k in found else {} for k in keys]
        todo = [i for i, s in enumerate(scores) if s is None]
        if todo:
            model = self._load(reward)
            try:
                fresh = self._run_batches(reward, model, images, prompts, todo)
            finally:
                if not self.keep_loaded:
                    self._unload(reward.name)
            new_rows = []
            for i, (value, detail) in zip(todo, fresh):
                scores[i], details[i] = value, detail
                new_rows.append((keys[i], value, detail))
            check_finite(reward.name, [v for v, _ in fresh], [_label(labels, i) for i in todo])
            if self.cache is not None:
                self.cache.put_many(new_rows)
        final = [float(s) for s in scores if s is not None]
        return RewardScores(final, details, cached=len(keys) - len(todo))

    def _run_batches(
        self,
        reward: PreparedReward,
        model: Reward,
        images: Sequence[Image],
        prompts: Sequence[str],
        todo: list[int],
    ) -> list[tuple[float, dict[str, Any]]]:
        from tqdm.auto import tqdm

        size = self.batch_size or reward.spec.batch_size
        out: list[tuple[float, dict[str, Any]]] = []
        with tqdm(
            total=len(todo),
            desc=f"scoring {reward.name}",
            unit="img",
            disable=not self.progress or None,
            leave=False,
        ) as bar:
            for start in range(0, len(todo), size):
                chunk = todo[start : start + size]
                try:
                    result = model.score([images[i] for i in chunk], [prompts[i] for i in chunk])
                except FRError:
                    raise
                except Exception as exc:
                    raise RewardError(
                        f"reward {reward.name!r} failed while scoring: {type(exc).__name__}: {exc}"
                    ) from exc
                if len(result.scores) != len(chunk):
                    raise RewardError(
                        f"reward {reward.name!r} returned {len(result.scores)} scores for {len(chunk)} inputs"
                    )
                out.extend((float(s), dict(d)) for s, d in zip(result.scores, result.details))
                bar.update(len(chunk))
        return out

    def _load(self, reward: PreparedReward) -> Reward:
        if reward.name in self._loaded:
            return self._loaded[reward.name]
        from finerewards.device import resolve_device, resolve_dtype

        device = resolve_device(self.device)
        if not self.progress or not sys.stderr.isatty():  # where our bar hides, theirs too
            from finerewards.libraries import hide_progress_bars

            hide_progress_bars()
        try:
            model = reward.spec.build(reward.options)
            model.setup(device, resolve_dtype(self.dtype, device))
        except FRError:
            raise
        except ImportError as exc:
            hint = reward.spec.install or "reinstall the plugin"
            raise RewardError(f"reward {reward.name!r} could not load: {exc}; try: {hint}") from exc
        except Exception as exc:
            raise RewardError(
                f"reward {reward.name!r} could not load its model: {type(exc).__name__}:"
                f" {one_line(exc, LIBRARY_MESSAGE_LIMIT)}"
            ) from exc
        self._loaded[reward.name] = model
        return model

    def _unload(self, name: str) -> None:
        model = self._loaded.pop(name, None)
        if model is not None:
            model.close()

    def close(self) -> None:
        for name in list(self._loaded):
            self._unload(name)


def _label(labels: Sequence[str] | None, i: int) -> str:
    return labels[i] if labels is not None else f"item {i}"
