"""Shared fixtures of the core tests: an isolated cache, fake installed plugins, a test reward."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finerewards.plugins import PluginHost
from finerewards.registry import Registry, reset_registry


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("FR_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("FR_DEBUG", raising=False)


@pytest.fixture
def registry_with() -> Iterator[object]:
    """Install plugin objects for one test: `registry_with(module, "name")` -> Registry."""
    hosts: list[PluginHost] = []

    def install(*plugins: tuple[object, str]) -> Registry:
        host = PluginHost().load(entry_points=False)
        for plugin, name in plugins:
            host.register(plugin, name)
        hosts.append(host)
        registry = Registry.from_host(host)
        reset_registry(registry)
        return registry

    yield install
    reset_registry()
