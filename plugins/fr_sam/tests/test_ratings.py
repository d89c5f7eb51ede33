"""LM ratings: read from answer probabilities, batched in one forward pass, cached, formatted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from finerewards.rubric import rating_question
from fr_sam.ratings import VICUNA_SYSTEM, Rater
from fr_sam.testing import CHAT_TEMPLATE, build_tiny_lm

PAIRS = [
    ("a red circle and a blue square", "red circle"),
    ("two circles", "green triangle"),
    ("a purple triangle to the left of a red square", "yellow circle"),
    ("a circle", "circle"),
    ("a dog on a sofa", "cat"),
]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("lm"), seed=1)


@pytest.fixture
def rater(lm_dir: Path) -> Rater:
    return Rater.load(str(lm_dir), "tiny-lm", "plain", " ", torch.float32)


def _manual_rating(rater: Rater, prompt: str, label: str) -> float:
    """The rating from one unpadded forward pass and the answers' next-token probabilities."""
    ids = rater._ids(rater.text(prompt, label)) + rater.prefix_ids
    with torch.no_grad():
        logits = rater.model(input_ids=torch.tensor([ids])).logits[0, -1]
    probs = logits[rater.answer_ids].softmax(-1)
    return float(probs @ torch.tensor([1.0, 2.0, 3.0]))


def test_answer_tokens_follow_the_tokenizer(rater: Rater) -> None:
    """The Llama-like tokenizer writes " 3" as "▁" + "3": the "▁" is fed, the digits are read."""
    tokens = rater.tokenizer.convert_ids_to_tokens(rater.prefix_ids + rater.answer_ids)
    assert tokens == ["▁", "1", "2", "3"]


def test_batched_ratings_equal_single_unpadded_forward(rater: Rater) -> None:
    ratings = rater.rate(PAIRS)
    assert rater.forward_passes == 1
    for (prompt, label), rating in zip(PAIRS, ratings):
        assert rating.expected == pytest.approx(_manual_rating(rater, prompt, label), abs=1e-5)
        assert sum(rating.probs) == pytest.approx(1.0, abs=1e-6)
        assert rating.expected == pytest.approx(sum(k * p for k, p in zip((1, 2, 3), rating.probs)))
        assert 1.0 <= rating.expected <= 3.0


def test_cache_by_prompt_label_and_model(lm_dir: Path) -> None:
    cache: dict = {}
    first = Rater.load(str(lm_dir), "model-a", "plain", " ", torch.float32, cache=cache)
    first.rate(PAIRS + PAIRS)  # duplicates are rated once
    assert first.forward_passes == 1 and len(cache) == len(PAIRS)
    again = first.rate(list(reversed(PAIRS)))
    assert first.forward_passes == 1
    assert [r.expected for r in again] == [r.expected for r in reversed(first.rate(PAIRS))]
    other = Rater.load(str(lm_dir), "model-b", "plain", " ", torch.float32, cache=cache)
    other.rate(PAIRS[:1])
    assert other.forward_passes == 1 and len(cache) == len(PAIRS) + 1


def test_prompt_formats(lm_dir: Path, tmp_path: Path) -> None:
    question = rating_question("two circles", "red circle")
    vicuna = Rater.load(str(lm_dir), "k", "auto", " ", torch.float32)
    assert vicuna.format == "vicuna"  # no chat template in this tokenizer
    assert vicuna.text("two circles", "red circle") == f"{VICUNA_SYSTEM} USER: {question} ASSISTANT:"
    chat_dir = build_tiny_lm(tmp_path / "chat", chat_template=CHAT_TEMPLATE)
    chat = Rater.load(str(chat_dir), "k", "auto", " ", torch.float32)
    assert chat.format == "chat"
    text = chat.text("two circles", "red circle")
    assert text == f"<s><|user|> {question} <|assistant|>"
    ids = chat._ids(text)
    assert ids.count(chat.tokenizer.bos_token_id) == 1  # the template's BOS, not a second one
    assert 1.0 <= chat.rate([("two circles", "red circle")])[0].expected <= 3.0
    plain = Rater.load(str(lm_dir), "k", "plain", " ", torch.float32)
    assert plain.text("two circles", "red circle") == question


def test_ratings_are_deterministic(lm_dir: Path) -> None:
    a = Rater.load(str(lm_dir), "k", "plain", " ", torch.float32).rate(PAIRS)
    b = Rater.load(str(lm_dir), "k", "plain", " ", torch.float32).rate(PAIRS)
    assert [r.expected for r in a] == [r.expected for r in b]


def test_a_question_longer_than_the_context_is_asked_about_the_prompts_first_words(
    rater: Rater, capfd: pytest.CaptureFixture[str]
) -> None:
    """A prompt past the LM's context is cut at a word, as CLIP cuts at 77 tokens: the rating is
    that of the longest start that fits, flagged, with no library warning and no error."""
    long = " and ".join(["a red circle", "a blue square", "a green triangle"] * 40)
    assert len(rater._ids(rater.text(long, "circle"))) > rater.max_tokens  # 256 for the tiny Llama
    [short, cut] = rater.rate([("a red circle", "circle"), (long, "circle")])
    assert not short.prompt_truncated and cut.prompt_truncated
    words = long.split()
    fits = max(
        n
        for n in range(len(words))
        if len(rater._ids(rater.text(" ".join(words[:n]), "circle")) + rater.prefix_ids) <= rater.max_tokens
    )
    assert fits > 100  # most of the context is used
    assert cut.expected == pytest.approx(_manual_rating(rater, " ".join(words[:fits]), "circle"), abs=1e-5)
    assert "Token indices" not in "".join(capfd.readouterr())  # transformers' own warning, silenced
