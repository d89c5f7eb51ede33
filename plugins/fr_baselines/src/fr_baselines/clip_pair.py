"""One batched pass of a transformers CLIPModel over (image, prompt) pairs: their cosines.

CLIP score, PickScore and HPSv2 are all this cosine, scaled differently; they differ only in
weights and in how the image is prepared. Images go through the PIL backend of the image
processor, as in the reference code (torchvision transforms on PIL images). Prompts are padded
to the batch's longest: CLIP reads the end-of-text token under a causal mask, so what follows
it cannot change a score (the contract checks that scores do not depend on the batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from fr_baselines.common import rgb, text_length

if TYPE_CHECKING:
    from PIL.Image import Image
    from transformers import CLIPModel


def load_processors(ref: str) -> tuple[Any, Any]:
    """Tokenizer and PIL-backend image processor saved with a CLIP model (already resolved)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    return AutoTokenizer.from_pretrained(ref), AutoImageProcessor.from_pretrained(ref, backend="pil")


@dataclass
class ClipPair:
    """A CLIPModel on a device with its tokenizer and image processor."""

    model: CLIPModel
    tokenizer: Any
    image_processor: Any
    device: str
    dtype: torch.dtype
    prepare: Callable[[Image], Image] | None = None
    """Extra image step before the processor (HPSv2 pads to a square)."""

    def pixel_values(self, images: Sequence[Image]) -> torch.Tensor:
        images = rgb(images)
        if self.prepare is not None:
            images = [self.prepare(image) for image in images]
        batch = self.image_processor(images=images, return_tensors="pt")
        return batch["pixel_values"].to(self.device, self.dtype)

    def tokens(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        length = text_length(self.tokenizer, self.model.config.text_config.max_position_embeddings)
        batch = self.tokenizer(
            list(prompts), padding="longest", truncation=True, max_length=length, return_tensors="pt"
        )
        return {
            "input_ids": batch["input_ids"].to(self.device),
            "attention_mask": batch["attention_mask"].to(self.device),
        }

    @torch.inference_mode()
    def embeddings(
        self, images: Sequence[Image], prompts: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised projected image and text embeddings (float32), one row per pair."""
        model = self.model
        image = model.visual_projection(
            model.vision_model(pixel_values=self.pixel_values(images)).pooler_output
        )
        text = model.text_projection(model.text_model(**self.tokens(prompts)).pooler_output)
        return F.normalize(image.float(), dim=-1), F.normalize(text.float(), dim=-1)

    def cosines(self, images: Sequence[Image], prompts: Sequence[str]) -> torch.Tensor:
        """cos(image_i, prompt_i) for every pair i (the diagonal, never the full matrix)."""
        image, text = self.embeddings(images, prompts)
        return (image * text).sum(dim=-1)

    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().float().exp())


def load_clip_pair(
    model_ref: str,
    processor_ref: str,
    device: str,
    dtype: torch.dtype,
    prepare: Callable[[Image], Image] | None = None,
) -> ClipPair:
    """`from_pretrained` a CLIPModel and the processors of `processor_ref` (both resolved paths/ids)."""
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(model_ref, dtype=dtype).to(device).eval()
    tokenizer, image_processor = load_processors(processor_ref)
    return ClipPair(model, tokenizer, image_processor, device, dtype, prepare)
