"""benchmarks/failure_modes.py: each kind of failure, shown on ground-truth renders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import failure_modes

from finerewards.toyworld.oracle import find_objects
from finerewards.toyworld.prompts import parse
from finerewards.toyworld.render import render

ASKED = "a red circle and a blue square"
PLACED = "a red circle to the left of a blue square"


@pytest.mark.parametrize(
    ("prompt", "drawn", "kind"),
    [
        (ASKED, ASKED, None),
        (ASKED, "a red circle", "count"),
        (ASKED, "a red circle and a blue triangle", "shapes"),
        (ASKED, "a blue circle and a red square", "colors swapped"),
        (ASKED, "a red circle and a green square", "colors"),
        (PLACED, "a red circle to the right of a blue square", "relation"),
        ("three triangles", "two triangles", "count"),
    ],
)
def test_failure_kind(prompt: str, drawn: str, kind: str | None) -> None:
    assert failure_modes.failure_kind(parse(prompt), find_objects(render(drawn, 3))) == kind


def test_breakdown_counts_per_category() -> None:
    prompts = [ASKED, ASKED, PLACED]
    images = [render(ASKED, 1), render("a blue circle and a red square", 1), render(PLACED, 2)]
    found = failure_modes.breakdown(prompts, images)
    assert found["color_attr"] == {"ok": 1, "colors swapped": 1}
    assert found["position"] == {"ok": 1}
