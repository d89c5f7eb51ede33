"""benchmarks/paper_round.py: the paper preset's round on random-weight models, here shrunk
(`--tiny`) so that the path a GPU run takes (models written with save_pretrained, `fr train
--preset paper` on them, the metrics read back) runs on a CPU in seconds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paper_round


def test_tiny_round_runs_every_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paper_round.main(
        ["--tiny", "--device", "cpu", "--prompts", "2", "-k", "2", "--steps", "2", "--work", str(tmp_path)]
    )
    data = json.loads(capsys.readouterr().out)
    assert data["images"] == 4 and data["tiny"] is True
    assert all(data["seconds"][phase] > 0 for phase in ("generate", "score", "train"))
    assert data["peak_memory_gib"] is None  # a CPU keeps no count
    samples = [json.loads(line) for line in (tmp_path / "run" / "rounds" / "000" / "samples.jsonl").open()]
    # the random SAM gave parts, so CLIP labelled them and the LM rated them: not the empty score
    assert all(row["scores"]["sam"] != 1.0 for row in samples)
    assert (tmp_path / "models" / "sd15" / "model_index.json").is_file()
    assert not list((tmp_path / "models").rglob("*.bin")) and not list((tmp_path / "models").rglob("*.pth"))


def fake(peak: float | None) -> dict[str, Any]:
    peaks = None if peak is None else {"generate": 3.1, "score": peak, "train": 4.2}
    return {
        "command": "python benchmarks/paper_round.py",
        "device": "NVIDIA H200, 139 GiB",
        "prompts": 4,
        "images_per_prompt": 4,
        "steps": 10,
        "seconds": {"generate": 8.0, "score": 40.0, "train": 5.0},
        "images_per_second": {"generate": 2.0, "score": 0.4},
        "train_steps_per_second": 2.0,
        "peak_memory_gib": peaks,
    }


def test_markdown_states_the_peak_against_a_24_gb_card() -> None:
    assert "**15.2 GiB**, which fits a 24 GB card" in paper_round.markdown(fake(15.2))
    assert "does not fit" in paper_round.markdown(fake(30.0))
    assert "Peak of the round" not in paper_round.markdown(fake(None))
