"""The caption reward: a captioner describes each image, then caption and prompt are compared.

Models load once in `setup` and are freed by `close`. Each batch is one `generate` call and one
text-encoder pass over all captions and prompts together, so scoring is batched end to end.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from finerewards import RewardOutput, resolve_model
from fr_caption.plugin import CaptionOptions
from fr_caption.textsim import ngram_similarity

if TYPE_CHECKING:
    from PIL.Image import Image


class CaptionReward:
    """Score = similarity(caption(image), prompt); details: the caption and the similarity."""

    def __init__(self, options: CaptionOptions) -> None:
        self.options = options
        self.captioner: Any = None
        self.encoder: Any = None
        self.device = "cpu"

    @property
    def uses_encoder(self) -> bool:
        return self.options.similarity in ("cosine", "cosine+ngram")

    def setup(self, device: str, dtype: str) -> None:
        """Load the captioner (and the text encoder when the similarity needs one)."""
        import torch

        from fr_caption.captioner import Captioner, CaptionSettings
        from fr_caption.encoders import load_text_encoder

        torch_dtype = getattr(torch, dtype)
        opts = self.options
        self.device = device
        settings = CaptionSettings(opts.max_new_tokens, opts.num_beams, opts.caption_prompt)
        self.captioner = Captioner(
            resolve_model(opts.captioner), device, torch_dtype, settings, opts.trust_remote_code
        )
        if self.uses_encoder:
            self.encoder = load_text_encoder(opts.text_encoder, opts.text_encoder_type, device, torch_dtype)

    def caption(self, images: Sequence[Image]) -> list[str]:
        """Captions of a batch (one `generate` call)."""
        if self.captioner is None:
            raise RuntimeError("CaptionReward.setup() must run before scoring")
        return self.captioner.caption(images)

    def similarities(self, captions: Sequence[str], prompts: Sequence[str]) -> list[dict[str, float]]:
        """Per pair: the components the chosen similarity needs, and `similarity` itself."""
        opts = self.options
        rows: list[dict[str, float]] = [{} for _ in captions]
        if self.uses_encoder:
            embeddings = self.encoder.embed([*captions, *prompts])
            n = len(captions)
            cosines = (embeddings[:n] * embeddings[n:]).sum(dim=-1).clamp(-1.0, 1.0).tolist()
            for row, value in zip(rows, cosines):
                row["cosine"] = float(value)
        if opts.similarity in ("ngram", "cosine+ngram"):
            for row, cap, prompt in zip(rows, captions, prompts):
                row["ngram"] = ngram_similarity(cap, prompt, opts.ngram_max, opts.ngram_beta)
        for row in rows:
            if opts.similarity == "cosine+ngram":
                row["similarity"] = (row["cosine"] + row["ngram"]) / 2
            else:
                row["similarity"] = row[opts.similarity]
        return rows

    def score(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        if not images:
            return RewardOutput([], [])
        captions = self.caption(images)
        rows = self.similarities(captions, list(prompts))
        details = [{"caption": cap, **row} for cap, row in zip(captions, rows)]
        return RewardOutput([row["similarity"] for row in rows], details)

    def close(self) -> None:
        """Drop the models and return accelerator memory."""
        for part in (self.captioner, self.encoder):
            if part is not None:
                part.close()
        self.captioner = self.encoder = None
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
