"""Integration tests run against the installed distributions (core, plugins, example plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("FR_DISABLE_PLUGINS", raising=False)
