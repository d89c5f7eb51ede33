"""benchmarks/pair_agreement.py: a run's pairs judged by the oracle, on ground-truth renders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pair_agreement

from finerewards.toyworld.render import render


def test_pairs_are_counted_right_wrong_or_tie(tmp_path: Path) -> None:
    """Prompt 0: the winner satisfies it and the loser (a render of another prompt) does not;
    prompt 1: the pair is the wrong way round; prompt 2: both satisfy it."""
    asked = ["a red circle", "a blue square", "a green triangle"]
    other = ["a yellow square", "a purple circle", "a green triangle"]
    folder = tmp_path / "rounds" / "000"
    (folder / "images").mkdir(parents=True)
    rows = []
    for p, prompt in enumerate(asked):
        good, bad = render(prompt, p), render(other[p], p)
        winner, loser = (good, bad) if p != 1 else (bad, good)
        for k, (image, selected) in enumerate(((winner, True), (loser, False))):
            name = f"images/p{p:05d}_k{k:02d}.png"
            image.save(folder / name)
            rows.append(
                {
                    "prompt_index": p,
                    "prompt": prompt,
                    "k": k,
                    "seed": k,
                    "image": name,
                    "selected": selected,
                    "rejected": not selected,
                }
            )
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"round": 0}) + "\n")
    counts = pair_agreement.agreement([str(tmp_path)])
    assert counts["satisfies"] == {"right": 1, "wrong": 1, "tie": 1}
    assert counts["score"]["right"] == 1 and counts["score"]["wrong"] == 1
