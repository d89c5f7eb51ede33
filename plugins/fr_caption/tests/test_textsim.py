"""The count-aware n-gram similarity: binding, counts, relations stated either way round."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fr_caption.textsim import content_words, converse, ngram_similarity

WORDS = ["a", "red", "blue", "circle", "squares", "two", "and", "above", "dog", "the", "of", "left"]


def test_identical_texts_score_one_and_disjoint_texts_zero() -> None:
    assert ngram_similarity("a red circle and a blue square", "a red circle and a blue square") == 1.0
    assert ngram_similarity("a dog on a sofa", "a red circle") == 0.0


def test_binding_of_colour_and_shape_counts() -> None:
    prompt = "a red circle and a blue square"
    right = ngram_similarity("a red circle and a blue square", prompt)
    swapped = ngram_similarity("a blue circle and a red square", prompt)
    assert right > swapped, "same words, wrong binding must score lower"


def test_object_order_does_not_matter_much() -> None:
    prompt = "a red circle and a blue square"
    reordered = ngram_similarity("a blue square and a red circle", prompt)
    recoloured = ngram_similarity("a blue square and a green circle", prompt)
    assert reordered > recoloured


def test_counts_meet_enumerations() -> None:
    assert content_words("two red circles and a dog") == ["red", "circle", "red", "circle", "dog"]
    prompt = "three circles"
    three = ngram_similarity("a red circle and a green circle and a blue circle", prompt)
    two = ngram_similarity("a red circle and a blue circle", prompt)
    assert three > two
    assert ngram_similarity("three red circles", prompt) > ngram_similarity("two red circles", prompt)


def test_relation_may_be_stated_the_other_way_round() -> None:
    prompt = "a red circle to the left of a blue square"
    assert (
        converse("a blue square to the right of a red circle") == "a red circle to the left of a blue square"
    )
    assert ngram_similarity("a blue square to the right of a red circle", prompt) == 1.0
    assert ngram_similarity("a blue square to the left of a red circle", prompt) < 1.0
    assert converse("a red circle") is None


def test_long_real_captions_are_fine() -> None:
    caption = "a photograph of a brown dog sitting on a green sofa next to a window " * 20
    value = ngram_similarity(caption, "a dog on a sofa")
    assert 0.0 < value < 1.0


@given(
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join),
    st.integers(1, 4),
    st.floats(0.25, 4.0),
)
def test_similarity_is_bounded(caption: str, prompt: str, max_n: int, beta: float) -> None:
    value = ngram_similarity(caption, prompt, max_n, beta)
    assert 0.0 <= value <= 1.0
    assert ngram_similarity(prompt, prompt, max_n, beta) == 1.0
