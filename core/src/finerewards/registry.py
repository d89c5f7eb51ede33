"""Name -> spec lookups for rewards, normalisers and aggregators, with "did you mean".

The registry is filled by calling each plugin's registration hooks one plugin at a time; a
plugin whose hook raises keeps none of that hook's registrations, and a name that another
plugin already owns stays with its first owner (built-ins load first).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from finerewards.errors import MissingExtraError, UsageError
from finerewards.plugins import DISABLE_ENV, PluginHost, PluginInfo, disabled_names
from finerewards.types import AggregatorSpec, NormalizerSpec, RewardSpec

SpecT = TypeVar("SpecT", RewardSpec, NormalizerSpec, AggregatorSpec)

KINDS: dict[str, tuple[str, type]] = {
    "rewards": ("register_rewards", RewardSpec),
    "normalizers": ("register_normalizers", NormalizerSpec),
    "aggregators": ("register_aggregators", AggregatorSpec),
}
SINGULAR = {"rewards": "reward", "normalizers": "normaliser", "aggregators": "aggregator"}


@dataclass
class Entry(Generic[SpecT]):
    spec: SpecT
    plugin: PluginInfo


@dataclass
class Registry:
    host: PluginHost
    rewards: dict[str, Entry[RewardSpec]] = field(default_factory=dict)
    normalizers: dict[str, Entry[NormalizerSpec]] = field(default_factory=dict)
    aggregators: dict[str, Entry[AggregatorSpec]] = field(default_factory=dict)

    @classmethod
    def from_host(cls, host: PluginHost) -> Registry:
        registry = cls(host)
        for kind in KINDS:
            registry._collect(kind)
        return registry

    def _collect(self, kind: str) -> None:
        hook_name, spec_type = KINDS[kind]
        table: dict[str, Entry[Any]] = getattr(self, kind)
        for info, call in self.host.call_each(hook_name):
            pending: list[Any] = []
            problems: list[str] = []

            def register(spec: Any, _pending: list[Any] = pending) -> None:
                if not isinstance(spec, spec_type):
                    raise TypeError(f"{hook_name} expects {spec_type.__name__}, got {spec!r}")
                _pending.append(spec)

            try:
                call(register=register)
            except Exception as exc:
                self.host.fail(info, hook_name, exc)
                info.attempted.setdefault(kind, []).extend(s.name for s in pending)
                continue
            for spec in pending:
                owner = table.get(spec.name)
                if owner is not None:
                    problems.append(
                        f"{SINGULAR[kind]} name {spec.name!r} is already owned by {owner.plugin.label}"
                    )
                    info.attempted.setdefault(kind, []).append(spec.name)
                    continue
                table[spec.name] = Entry(spec, info)
                info.provides.setdefault(kind, []).append(spec.name)
            info.errors.extend(problems)

    # lookups -----------------------------------------------------------------------------

    def reward(self, name: str) -> RewardSpec:
        return self._lookup("rewards", name).spec

    def reward_entry(self, name: str) -> Entry[RewardSpec]:
        return self._lookup("rewards", name)

    def normalizer(self, name: str) -> NormalizerSpec:
        return self._lookup("normalizers", name).spec

    def aggregator(self, name: str) -> AggregatorSpec:
        return self._lookup("aggregators", name).spec

    def available_reward(self, name: str) -> RewardSpec:
        """The reward's spec, or a `MissingExtraError` that says what to install."""
        entry = self.reward_entry(name)
        missing = entry.spec.missing_requirements()
        if missing:
            hint = entry.spec.install or f"pip install {' '.join(missing)}"
            raise MissingExtraError(
                f"reward {name!r} needs {', '.join(missing)} (not installed); run: {hint}"
            )
        return entry.spec

    def _lookup(self, kind: str, name: str) -> Entry[Any]:
        table: dict[str, Entry[Any]] = getattr(self, kind)
        if name in table:
            return table[name]
        what = SINGULAR[kind]
        for info in self.host.plugins.values():
            if name in info.attempted.get(kind, []):
                raise UsageError(f"{what} {name!r} comes from {info.label}, which failed: {info.errors[0]}")
        message = f"unknown {what} {name!r}"
        close = difflib.get_close_matches(name, list(table), n=1, cutoff=0.5)
        if close:
            message += f"; did you mean {close[0]!r}?"
        message += f" (available: {', '.join(sorted(table)) or 'none'})"
        broken = [info for info in self.host.plugins.values() if not info.ok and not info.provides]
        if broken:
            message += "; broken plugins: " + ", ".join(f"{info.label}: {info.errors[0]}" for info in broken)
        disabled = disabled_names()
        if disabled:
            message += f"; plugins skipped by {DISABLE_ENV}: {', '.join(sorted(disabled))}"
        raise UsageError(message)


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loading plugins on first use."""
    global _registry
    if _registry is None:
        _registry = Registry.from_host(PluginHost().load())
    return _registry


def reset_registry(registry: Registry | None = None) -> None:
    """Drop (or replace) the process-wide registry; tests use this around temporary plugins."""
    global _registry
    _registry = registry
