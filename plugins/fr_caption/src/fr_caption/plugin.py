"""Hook implementations and the options model only: cheap to import (no torch, no transformers).

The reward's model code lives in `fr_caption.reward`, named by the spec's factory string and
imported only when the reward is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from finerewards import RewardOptions, RewardSpec, hookimpl

Similarity = Literal["cosine", "ngram", "cosine+ngram"]
TextEncoderType = Literal["auto", "clip", "sentence-transformers"]


class CaptionOptions(RewardOptions):
    """How the caption is written and how it is compared with the prompt."""

    captioner: str = "Salesforce/blip2-opt-2.7b"
    """Any transformers image-to-text model (BLIP-2, BLIP, GIT, VisionEncoderDecoder): hub id,
    local path or `toy:captioner`."""
    caption_prompt: str | None = None
    """Text the captioner continues (e.g. "a detailed description of the image:"); None: none."""
    max_new_tokens: int = Field(40, ge=1, le=512)
    num_beams: int = Field(3, ge=1, le=32)
    """1 is greedy search; more is beam search. Never sampling: the reward is deterministic."""
    similarity: Similarity = "cosine"
    """`cosine` of text embeddings (the paper), `ngram` (count-aware n-gram F-beta, respects
    which attribute goes with which noun), or `cosine+ngram` (their mean)."""
    text_encoder: str = "openai/clip-vit-large-patch14"
    """Embeds caption and prompt for `cosine`: a CLIP checkpoint (its text tower is used) or a
    sentence-transformers model (e.g. sentence-transformers/all-MiniLM-L6-v2)."""
    text_encoder_type: TextEncoderType = "auto"
    """`auto` reads the model's files: a CLIP config means `clip`, else sentence-transformers."""
    ngram_max: int = Field(2, ge=1, le=4)
    """Longest n-gram of the `ngram` similarity (2: words and word pairs)."""
    ngram_beta: float = Field(1.0, gt=0.0, le=10.0)
    """F-beta of the `ngram` similarity: above 1 weighs recall (caption covers the prompt)."""
    trust_remote_code: bool = False
    """Let transformers run code shipped with the captioner (only for models you trust)."""


CAPTION = RewardSpec(
    name="caption",
    description=(
        "A captioner describes the image; the reward is the similarity of that caption and the "
        "prompt (global view; BLIP-2 + CLIP text cosine in the paper)."
    ),
    factory="fr_caption.reward:CaptionReward",
    higher_is_better=True,
    score_range=(-1.0, 1.0),
    options=CaptionOptions,
    presets={
        "toy": {
            "captioner": "toy:captioner",
            "text_encoder": "toy:clip",
            "similarity": "cosine+ngram",
            "num_beams": 3,
            "max_new_tokens": 24,
        },
        "paper": {
            "captioner": "Salesforce/blip2-opt-2.7b",
            "text_encoder": "openai/clip-vit-large-patch14",
            "similarity": "cosine",
            "num_beams": 5,
            "max_new_tokens": 40,
        },
    },
    default_normalizer="zscore",
    batch_size=16,
    requires=("torch", "transformers"),
    install="pip install fr-caption",
)


@hookimpl
def register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(CAPTION)
