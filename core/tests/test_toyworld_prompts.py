"""The toy-world grammar and the shipped, versioned prompt sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finerewards.toyworld import prompts as tp
from finerewards.toyworld.world import CATEGORIES, COLORS, RELATIONS, SHAPES


def test_shipped_sets_match_the_seeded_builder() -> None:
    built = tp.build_prompt_sets()
    for name in tp.SET_NAMES:
        assert list(tp.load_prompt_rows(name)) == built[name], f"toy:{name} is stale: rerun --write"


def test_set_sizes_and_held_out_categories() -> None:
    train = tp.load_prompt_rows("train")
    test = tp.load_prompt_rows("test")
    assert len(train) >= 2000
    for category in CATEGORIES:
        distinct = tp.all_prompts(category)
        in_test = [p for p, c in test if c == category]
        assert len(in_test) == len(set(in_test)) == min(100, len(distinct))
        assert {p for p, c in train if c == category} <= set(distinct)
    for category in tp.HELD_OUT:
        assert not {p for p, c in train if c == category} & {p for p, c in test if c == category}
    relations = [tp.parse(p).relation for p, c in test if c == "position"]
    assert {r: relations.count(r) for r in RELATIONS} == {r: 25 for r in RELATIONS}


def test_rows_carry_their_parsed_category() -> None:
    for name in tp.SET_NAMES:
        for prompt, category in tp.load_prompt_rows(name):
            assert tp.prompt_category(prompt) == category


def test_load_prompt_set_accepts_both_spellings() -> None:
    assert tp.load_prompt_set("toy:test") == tp.load_prompt_set("test")
    with pytest.raises(ValueError, match="unknown toy prompt set"):
        tp.load_prompt_set("toy:valid")


@pytest.mark.parametrize(
    ("prompt", "category", "objects", "relation"),
    [
        ("a circle", "single_object", [("circle", None)], None),
        ("a red square", "colors", [("square", "red")], None),
        ("a circle and a triangle", "two_object", [("circle", None), ("triangle", None)], None),
        ("three squares", "counting", [("square", None)] * 3, None),
        (
            "a red circle and a red square",
            "color_attr",
            [("circle", "red"), ("square", "red")],
            None,
        ),
        (
            "a blue triangle to the right of a yellow circle",
            "position",
            [("triangle", "blue"), ("circle", "yellow")],
            "to the right of",
        ),
        (
            "a green circle below a purple circle",
            "position",
            [("circle", "green"), ("circle", "purple")],
            "below",
        ),
    ],
)
def test_parse(
    prompt: str, category: str, objects: list[tuple[str, str | None]], relation: str | None
) -> None:
    req = tp.parse(prompt)
    assert req.category == category
    assert [(o.shape, o.color) for o in req.objects] == objects
    assert req.relation == relation


@pytest.mark.parametrize(
    "prompt",
    [
        "a circle and a circle",  # two_object needs two different shapes
        "a red circle and a red circle",  # color_attr needs two different pairs
        "two yellow circles",  # counting has no colour
        "one circle",
        "five circles",
        "two circle",
        "A red circle",
        "a red circle.",
        "a pink circle",
        "a red circle left of a blue square",
        "",
    ],
)
def test_outside_the_grammar(prompt: str) -> None:
    with pytest.raises(ValueError, match="outside the toy-world grammar"):
        tp.prompt_category(prompt)


def test_whitespace_is_normalised() -> None:
    assert tp.parse("  a  red   circle ").prompt == "a red circle"


@given(
    st.sampled_from(COLORS),
    st.sampled_from(SHAPES),
    st.sampled_from(RELATIONS),
    st.sampled_from(COLORS),
    st.sampled_from(SHAPES),
)
def test_every_position_prompt_parses_back(c1: str, s1: str, rel: str, c2: str, s2: str) -> None:
    req = tp.parse(f"a {c1} {s1} {rel} a {c2} {s2}")
    assert (req.category, req.relation) == ("position", rel)
    assert [(o.shape, o.color) for o in req.objects] == [(s1, c1), (s2, c2)]


def test_all_prompts_counts() -> None:
    counts = {c: len(tp.all_prompts(c)) for c in CATEGORIES}
    assert counts == {
        "single_object": 3,
        "colors": 15,
        "two_object": 6,
        "counting": 9,
        "color_attr": 210,
        "position": 840,
    }
