"""Every supported captioner class loads through `from_pretrained` offline and captions in batches.

The tiny random models may only emit whole words (see `fr_caption.tiny.words_only`), so every
caption must be exactly `max_new_tokens` known words: a special token, an image placeholder or
the prompt leaking into the caption would break that count.
"""

from __future__ import annotations

import pytest
import torch

from finerewards.errors import UsageError
from finerewards.toyworld.render import render
from fr_caption.captioner import Captioner, CaptionSettings
from fr_caption.tiny import BUILDERS, WORDS, shared

PROMPTS = ("a red circle", "two squares", "a blue triangle and a red circle", "four triangles")


@pytest.fixture(scope="module")
def images() -> list:
    return [render(prompt, seed) for seed, prompt in enumerate(PROMPTS)]


def load(kind: str, prompt: str | None = None, tokens: int = 5, beams: int = 2) -> Captioner:
    return Captioner(str(shared(kind)), "cpu", torch.float32, CaptionSettings(tokens, beams, prompt))


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_captions_are_words_and_do_not_depend_on_batching(kind: str, images: list) -> None:
    captioner = load(kind)
    assert type(captioner.model).__name__ == kind
    batch = captioner.caption(images)
    assert len(batch) == len(images)
    for text in batch:
        words = text.split()
        assert len(words) == 5, f"{kind}: {text!r} is not 5 words"
        assert set(words) <= set(WORDS), f"{kind}: {text!r} holds unknown tokens"
    assert [captioner.caption([image])[0] for image in images] == batch
    assert captioner.caption(images[::-1]) == batch[::-1]


@pytest.mark.parametrize(
    "kind", ["Blip2ForConditionalGeneration", "BlipForConditionalGeneration", "GitForCausalLM"]
)
def test_caption_prompt_is_continued_and_not_repeated(kind: str, images: list) -> None:
    prompt = "a photo of"
    captioner = load(kind, prompt=prompt)
    inputs = captioner.inputs(images[:2])
    assert "input_ids" in inputs, "the prompt must reach the model"
    for text in captioner.caption(images[:2]):
        assert len(text.split()) == 5, f"{kind}: {text!r} should hold the 5 new words only"


def test_blip2_prompt_follows_the_image_tokens() -> None:
    captioner = load("Blip2ForConditionalGeneration", prompt="a photo of")
    ids = captioner.inputs([render("a red circle", 0)])["input_ids"][0].tolist()
    image_token = captioner.model.config.image_token_id
    n_query = captioner.model.config.num_query_tokens
    assert ids[:n_query] == [image_token] * n_query
    assert captioner.tokenizer.decode(ids[n_query:], skip_special_tokens=True).strip() == "a photo of"


def test_git_prompt_has_no_end_token() -> None:
    """GIT continues its input ids: a trailing [SEP] would end the caption before it starts."""
    captioner = load("GitForCausalLM", prompt="a photo of")
    ids = captioner.inputs([render("a red circle", 0)])["input_ids"][0].tolist()
    assert ids[-1] != captioner.tokenizer.sep_token_id
    assert captioner.tokenizer.decode(ids, skip_special_tokens=True) == "a photo of"


def test_greedy_and_beam_search_are_both_deterministic(images: list) -> None:
    for beams in (1, 3):
        first = load("BlipForConditionalGeneration", beams=beams).caption(images)
        assert load("BlipForConditionalGeneration", beams=beams).caption(images) == first


def test_encoder_decoder_refuses_a_text_prompt() -> None:
    with pytest.raises(UsageError, match="caption_prompt"):
        load("VisionEncoderDecoderModel", prompt="a photo of")


def test_a_model_that_is_not_a_captioner_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="image-to-text"):
        Captioner(str(shared("clip")), "cpu", torch.float32, CaptionSettings())
