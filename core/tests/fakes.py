"""Fake installed distributions and a subprocess runner for `fr`, for plugin-loading tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent


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


def run_fr(
    *args: str, path: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m finerewards` in a clean subprocess with extra sys.path entries."""
    full_env = {**os.environ, **(env or {})}
    extra = [str(HERE)] + ([str(path)] if path else [])
    full_env["PYTHONPATH"] = os.pathsep.join(extra + [full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "finerewards", *args], capture_output=True, text=True, env=full_env
    )
