"""benchmarks/quality.py's bookkeeping: which finished runs a resumed benchmark may reuse, and
the findings it writes under the table (worked out from the figures, never written in)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import quality


def run(seed: int, overall: float, fid: float = 0.01) -> dict[str, Any]:
    return {"seed": seed, "figures": {"accuracy": {"overall": overall}, "fid": fid}}


def results(rows: dict[str, list[float]], fid: dict[str, float] | None = None) -> dict[str, Any]:
    from finerewards.train.config import PRESETS

    out: dict[str, Any] = {
        "runs": {quality.ROWS[0].label: run(0, 0.60)},
        "settings": {"toy_preset": PRESETS["toy"], "per_category": 100},
        "rows": {quality.ROWS[0].label: [run(0, 0.60)]},
    }
    for label, values in rows.items():
        out["rows"][label] = [run(s, v, (fid or {}).get(label, 0.01)) for s, v in enumerate(values)]
    return out


def test_row_key_depends_only_on_the_rows_rewards() -> None:
    clip, caption = quality.Row("a", ("clip",)), quality.Row("b", ("caption",))
    assert quality.row_key(clip) == quality.row_key(quality.Row("other label", ("clip",)))
    assert quality.row_key(clip) != quality.row_key(caption)
    assert quality.row_key(quality.Row("c", ("caption", "sam"))) != quality.row_key(caption)


def test_resume_drops_runs_trained_with_other_presets() -> None:
    rows = {row.label: row for row in quality.ROWS}
    clip = rows["clip"]
    state = {
        "runs": {
            "base toy:sd": run(0, 0.6),
            "clip|0": {**run(0, 0.64), "row_key": quality.row_key(clip)},
            "clip|1": {**run(1, 0.64), "row_key": "stale"},
            "blip-itm|0": {"seed": 0, "error": "no toy preset"},  # from before it had one
        }
    }
    quality._drop_stale(state)
    assert set(state["runs"]) == {"base toy:sd", "clip|0"}


def test_findings_follow_the_figures() -> None:
    text = "\n".join(
        quality.findings(
            results(
                {
                    "clip": [0.62, 0.63],
                    "caption": [0.64, 0.65],
                    "sam": [0.60, 0.61],
                    "caption + sam (rank-sum)": [0.66, 0.67],
                    "caption + sam (weighted-sum)": [0.63, 0.63],
                    "oracle (upper bound)": [0.62, 0.64],
                },
                fid={"sam": 0.05},
            )
        )
    )
    assert "best row: caption + sam (rank-sum) 0.665" in text
    assert "- caption (semantic) beats clip: holds" in text
    assert "- sam (semantic) beats clip: does not hold" in text
    assert "The oracle row is not the upper bound" in text
    assert "per seed: +6.0, +7.0 points over the base, +6.5 on average on this evaluation (about 100" in text
    assert "more than twice the base's for sam 0.050" in text


@pytest.mark.parametrize(("margin", "said"), [(0.2, True), (0.0, False)])
def test_the_loop_is_described_with_its_pair_filter(margin: float, said: bool) -> None:
    state = results({"clip": [0.66], "oracle (upper bound)": [0.62]})
    preset = state["settings"]["toy_preset"]
    state["settings"]["toy_preset"] = {**preset, "training": {**preset["training"], "pair_margin": margin}}
    text = "\n".join(quality.findings(state))
    filtered = "prompts on the pairs some reward separates by more than 0.2 sd), not the reward"
    assert (filtered in text) is said
    assert ("prompts), not the reward" in text) is not said  # no filter: nothing added


@pytest.mark.parametrize("oracle", [0.70, 0.60])
def test_oracle_sentence_only_when_it_is_not_the_best(oracle: float) -> None:
    text = "\n".join(quality.findings(results({"clip": [0.62], "oracle (upper bound)": [oracle]})))
    assert ("not the upper bound" in text) == (oracle < 0.62)


def test_only_runs_trained_here_are_reused(tmp_path: Path) -> None:
    """A fresh clone has the committed figures but none of the run folders: it measures again."""
    rows = {row.label: row for row in quality.ROWS}
    clip = rows["clip"]
    recorded = {
        "base toy:sd": run(0, 0.6),
        "clip|0": {**run(0, 0.64), "row_key": quality.row_key(clip)},
        "clip|1": {**run(1, 0.65), "row_key": quality.row_key(clip)},
        "sam|0": {"seed": 0, "error": "reward not installed"},
    }
    state = {"runs": dict(recorded), "seconds": 9000.0}
    quality._drop_missing(state, tmp_path)
    assert state == {"runs": {}, "seconds": 0.0}

    (tmp_path / "base-strip.png").write_bytes(b"")
    folder = tmp_path / quality.run_name(clip, 1)
    (folder / "lora").mkdir(parents=True)
    (folder / "quality-summary.json").write_text(json.dumps({"row_key": quality.row_key(clip)}))
    state = {"runs": dict(recorded), "seconds": 9000.0}
    quality._drop_missing(state, tmp_path)
    assert set(state["runs"]) == {"base toy:sd", "clip|1"}
    assert state["seconds"] == 9000.0


def test_one_seed_has_no_spread() -> None:
    text = "\n".join(quality.findings(results({"caption": [0.63], "oracle (upper bound)": [0.66]})))
    assert "The best row: oracle (upper bound) 0.660." in text
    assert "±" not in text.split("\n", 1)[1]
    text = "\n".join(quality.findings(results({"caption + sam (rank-sum)": [0.65]})))
    assert "beats each alone: not measured." in text
