"""Loading plugins: built-ins first, then `finerewards` entry points, each fault-isolated.

A plugin that fails to import, fails hook validation, or raises inside a hook is recorded
with its error and left out; it never stops the other plugins or the CLI.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module, metadata
from types import ModuleType
from typing import Any

import pluggy

from finerewards import hookspecs

ENTRY_POINT_GROUP = "finerewards"
BUILTIN_PLUGINS = {
    "normalizers": "finerewards.normalize",
    "aggregators": "finerewards.aggregate",
    "toyworld": "finerewards.toyworld.plugin",
    "train": "finerewards.train.plugin",
}
DISABLE_ENV = "FR_DISABLE_PLUGINS"
HEAVY_MODULES = frozenset({"torch", "transformers", "diffusers", "segment_anything"})
"""What a plugin's entry-point module must not import (`fr --help` imports every plugin)."""


@dataclass
class PluginInfo:
    """What `fr plugins` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What works but should not be so, such as heavy imports at import time."""
    provides: dict[str, list[str]] = field(default_factory=dict)
    """Names this plugin registered, per kind ("rewards", "normalizers", "aggregators")."""
    attempted: dict[str, list[str]] = field(default_factory=dict)
    """Names this plugin tried to register but lost to an error (to explain later lookups)."""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def label(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "built-in"
        return f"plugin {self.name!r} ({dist})"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "provides": self.provides,
        }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


class PluginHost:
    """Owns the pluggy manager and what each plugin did while loading."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("finerewards")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.debug = bool(os.environ.get("FR_DEBUG"))

    def load(self, *, builtins: bool = True, entry_points: bool = True) -> PluginHost:
        skip = disabled_names()
        if builtins:
            for name, module_name in BUILTIN_PLUGINS.items():
                if name not in skip:
                    self._load_module(name, module_name, builtin=True)
        if entry_points:
            for ep in sorted(_entry_points(), key=lambda ep: ep.name):
                dist = getattr(ep, "dist", None)
                dist_name = dist.metadata["Name"] if dist is not None else None
                if ep.name in skip or (dist_name and dist_name in skip):
                    continue
                version = dist.version if dist is not None else None
                self._load_module(ep.name, ep.value, distribution=dist_name, version=version)
        return self

    def _load_module(
        self,
        name: str,
        module_name: str,
        *,
        builtin: bool = False,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginInfo:
        info = PluginInfo(name, module_name, distribution, version, builtin)
        if name in self.plugins:
            info.errors.append(f"plugin name {name!r} is already taken by {self.plugins[name].label}")
            self.plugins[f"{name}#{len(self.plugins)}"] = info
            return info
        self.plugins[name] = info
        loaded_before = HEAVY_MODULES & sys.modules.keys()
        try:
            module = import_module(module_name.partition(":")[0])
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.errors.append(f"import failed: {_describe(exc)}")
            self._trace()
            return info
        heavy = sorted(HEAVY_MODULES & sys.modules.keys() - loaded_before)
        if heavy:
            info.warnings.append(
                f"importing {module_name.partition(':')[0]} imports {', '.join(heavy)}, which slows"
                " every `fr` command: import them in the reward's factory module instead"
            )
        self._register(info, module)
        return info

    def register(self, plugin: ModuleType | object, name: str) -> PluginInfo:
        """Register an already imported plugin object (tests, embedding applications)."""
        info = PluginInfo(name, getattr(plugin, "__name__", type(plugin).__name__))
        if name in self.plugins:
            raise ValueError(f"a plugin named {name!r} is already registered")
        self.plugins[name] = info
        self._register(info, plugin)
        return info

    def unregister(self, name: str) -> None:
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self.plugins.pop(name, None)

    def _register(self, info: PluginInfo, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.has_plugin(info.name):
                self.pm.unregister(name=info.name)
            info.errors.append(f"invalid hook: {_describe(exc)}")
            return
        except ValueError as exc:  # pluggy: plugin object already registered under another name
            info.errors.append(_describe(exc))
            return
        info.hooks = sorted(caller.name for caller in (self.pm.get_hookcallers(plugin) or []))

    def call_each(self, hook_name: str) -> Iterator[tuple[PluginInfo, Callable[..., Any]]]:
        """Yield (plugin, call) for every implementation of a hook, in registration order.

        Each implementation is called alone (`call(**hook_kwargs)`), so that one raising cannot
        stop the others; the caller reports failures through `fail`.
        """
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is not None:
                yield info, partial(_call_impl, impl)

    def fail(self, info: PluginInfo, hook_name: str, exc: BaseException) -> None:
        info.errors.append(f"{hook_name} raised {_describe(exc)}")
        self._trace()

    def _trace(self) -> None:
        if self.debug:
            traceback.print_exc(file=sys.stderr)


def _call_impl(impl: Any, **kwargs: Any) -> Any:
    return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
