"""The documented example plugin, installed like a third-party package, works end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from finerewards.toyworld.render import render


def fr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finerewards", *args], capture_output=True, text=True)


def test_example_plugin_is_listed_and_scores(tmp_path: Path) -> None:
    rows = {r["name"]: r for r in json.loads(fr("rewards", "--json").stdout)}
    assert rows["colorfulness"]["plugin"] == "colorfulness"
    assert rows["colorfulness"]["distribution"] == "fr-example-reward"
    plugins = {p["name"]: p for p in json.loads(fr("plugins", "--json").stdout)}
    assert plugins["colorfulness"]["ok"] and plugins["colorfulness"]["version"] == "0.1.0"

    render("a red circle", seed=1).save(tmp_path / "red.png")
    render("two circles", seed=2).save(tmp_path / "two.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"image": "red.png", "prompt": "a red circle"})
        + "\n"
        + json.dumps({"image": "two.png", "prompt": "two circles"})
        + "\n"
    )
    result = fr("score", "--reward", "colorfulness", "--manifest", str(manifest), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image"] for line in lines] == ["red.png", "two.png"]
    assert all(line["scores"]["colorfulness"] > 0 for line in lines)


def test_disabling_the_example_plugin(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "FR_DISABLE_PLUGINS": "fr-example-reward"}
    out = subprocess.run(
        [sys.executable, "-m", "finerewards", "rewards", "--json"], capture_output=True, text=True, env=env
    )
    assert "colorfulness" not in {r["name"] for r in json.loads(out.stdout)}
