"""`fr toyworld render | eval | models | train-models`: the contract formats and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image


def run_fr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finerewards", *args], capture_output=True, text=True)


def test_render_then_eval(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n\nthree squares\na blue triangle above a green circle\n")
    out = tmp_path / "gt"
    done = run_fr("toyworld", "render", "--prompts", str(prompts), "--seed", "5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in rows] == [
        "a red circle",
        "three squares",
        "a blue triangle above a green circle",
    ]
    assert [r["seed"] for r in rows] == [5, 6, 7]
    assert all((out / r["image"]).is_file() for r in rows)
    assert Image.open(out / rows[0]["image"]).size == (64, 64)

    # spoil one image: the evaluation must notice
    Image.new("RGB", (64, 64), "white").save(out / rows[1]["image"])
    done = run_fr("toyworld", "eval", str(out / "manifest.jsonl"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["accuracy"] == {"colors": 1.0, "counting": 0.0, "position": 1.0, "overall": 2 / 3}
    assert result["n"] == {"colors": 1, "counting": 1, "position": 1, "overall": 3}
    table = run_fr("toyworld", "eval", str(out / "manifest.jsonl"))
    assert "counting" in table.stdout and "overall" in table.stdout


def test_render_toy_set_per_prompt(tmp_path: Path) -> None:
    done = run_fr("toyworld", "render", "--prompts", "toy:test", "--per-prompt", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 233


def test_errors_are_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    Image.new("RGB", (64, 64), "white").save(tmp_path / "a.png")
    manifest.write_text(
        '{"image": "a.png", "prompt": "a red circle"}\n\n{"image": "a.png", "prompt": "a cat"}\n'
    )
    done = run_fr("toyworld", "eval", str(manifest))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "m.jsonl:3" in done.stderr and "a cat" in done.stderr

    bad = tmp_path / "bad.txt"
    bad.write_text("a red circle\na red dog\n")
    done = run_fr("toyworld", "render", "--prompts", str(bad), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "prompt 2" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()

    good = tmp_path / "good.txt"
    good.write_text("a red circle\n")
    for out, message in ((tmp_path, "is not empty"), (good, "is a file, not a folder")):
        done = run_fr("toyworld", "render", "--prompts", str(good), "--out", str(out))
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "bad.txt", "good.txt", "m.jsonl"]
    done = run_fr("toyworld", "train-models", "--only", "sd", "--out", str(good))
    assert done.returncode == 2 and "is a file, not a folder" in done.stderr, done.stderr

    done = run_fr("toyworld", "train-models", "--only", "nope")
    assert done.returncode == 2 and "unknown toy model 'nope'" in done.stderr


def test_models_json_lists_shipped_models() -> None:
    done = run_fr("toyworld", "models", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    for row in rows:
        assert set(row) >= {"name", "path", "library", "class"}
        assert row["name"].startswith("toy:") and Path(row["path"], "fr_model.json").is_file()


def test_every_toy_model_ships_together_under_40_mb() -> None:
    """Issue 5's budget for all toy models, toy:sd included; every one of the five is listed."""
    from finerewards.models import toy_model_names, toy_models_dir

    assert toy_model_names() == [f"toy:{name}" for name in ("captioner", "clip", "itm", "lm", "sam", "sd")]
    total = sum(p.stat().st_size for p in toy_models_dir().rglob("*") if p.is_file())
    assert total <= 40 * 2**20, f"toy models take {total / 2**20:.1f} MB"
