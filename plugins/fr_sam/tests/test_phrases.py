"""The rule-based noun-phrase chunker: phrases, counts, heads, label matching."""

from __future__ import annotations

import pytest

from finerewards.toyworld.prompts import load_prompt_set, parse
from fr_sam.phrases import noun_phrases, singular


def summary(prompt: str) -> list[tuple[str, int | None]]:
    return [(ph.text, ph.count) for ph in noun_phrases(prompt)]


@pytest.mark.parametrize(
    ("prompt", "want"),
    [
        ("a red circle to the left of a blue square", [("red circle", 1), ("blue square", 1)]),
        ("two circles", [("circle", 2)]),
        ("four triangles", [("triangle", 4)]),
        ("a circle and a square", [("circle", 1), ("square", 1)]),
        ("a photo of a cat sitting on a red sofa", [("cat", 1), ("red sofa", 1)]),
        ("three dogs and a man wearing a hat", [("dog", 3), ("man", 1), ("hat", 1)]),
        ("a pair of shoes next to the red building", [("shoe", 2), ("red building", None)]),
        ("some apples in a bowl", [("apple", None), ("bowl", 1)]),
        ("an astronaut riding a horse on the moon", [("astronaut", 1), ("horse", 1), ("moon", None)]),
        ("a cat and a cat", [("cat", 2)]),
        ("A Stop Sign.", [("stop sign", 1)]),
        ("", []),
    ],
)
def test_noun_phrases(prompt: str, want: list[tuple[str, int | None]]) -> None:
    assert summary(prompt) == want


@pytest.mark.parametrize(
    ("plural", "single"),
    [("circles", "circle"), ("berries", "berry"), ("boxes", "box"), ("people", "person"),
     ("glass", "glass"), ("bus", "bus"), ("knives", "knife"), ("dishes", "dish")],
)  # fmt: skip
def test_singular(plural: str, single: str) -> None:
    assert singular(plural) == single


def test_every_toy_prompt_yields_its_objects() -> None:
    """On the toy grammar the chunker recovers exactly the parser's objects and counts."""
    for prompt in sorted(set(load_prompt_set("test"))):
        req = parse(prompt)
        phrases = noun_phrases(prompt)
        asked = sum(ph.count or 0 for ph in phrases)
        assert asked == len(req.objects), prompt
        for spec in req.objects:
            label = f"{spec.color or 'red'} {spec.shape}"
            assert any(ph.matches(label) for ph in phrases), (prompt, label)


def test_matches_needs_head_and_modifiers() -> None:
    (red_circle,) = noun_phrases("a red circle")
    (circle,) = noun_phrases("two circles")
    assert red_circle.matches("red circle")
    assert not red_circle.matches("blue circle")
    assert not red_circle.matches("red square")
    assert circle.matches("blue circle") and circle.matches("circles")
