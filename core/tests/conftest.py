"""Shared fixtures of the core tests: an isolated cache, fake installed plugins, a test reward."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from finerewards.plugins import PluginHost
from finerewards.registry import Registry, reset_registry

HERE = Path(__file__).resolve().parent


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


def make_dist(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    """A fake installed distribution on `root`: a dist-info folder plus its modules."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[finerewards]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


def run_fr(*args: str, path: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m finerewards` in a clean subprocess with extra sys.path entries."""
    full_env = {**os.environ, **(env or {})}
    extra = [str(HERE)] + ([str(path)] if path else [])
    full_env["PYTHONPATH"] = os.pathsep.join(extra + [full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "finerewards", *args], capture_output=True, text=True, env=full_env
    )
