"""Checks every shipped toy model folder gets: safetensors only and small, and loading offline
through its library's own classes in a fresh interpreter (no cached imports, no hub)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def assert_small_safetensors_folder(folder: Path, required: Iterable[str], limit_mb: float = 5.0) -> None:
    names = {p.name for p in folder.iterdir()}
    assert set(required) <= names, sorted(names)
    assert not any(name.endswith(PICKLE_SUFFIXES) for name in names)
    assert sum(p.stat().st_size for p in folder.iterdir()) < limit_mb * 1024 * 1024


def offline_output(code: str, folder: Path) -> list[str]:
    """Run `code` with the folder as sys.argv[1], hub access off; its stdout split in words."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()
