"""LAION improved aesthetic predictor (Schuhmann, github christophschuhmann/improved-aesthetic-
predictor; the "LAION-Aesthetics v2" model): the MLP sac+logos+ava1-l14-linearMSE applied to the
L2-normalised CLIP ViT-L/14 image embedding. The prompt is ignored. Trained on 1-10 ratings
(SAC, LAION-Logos, AVA); typical values 4 to 7, unbounded in principle.

The CLIP tower is transformers' CLIPVisionModelWithProjection read from the full
openai/clip-vit-large-patch14 checkpoint (the text tower is never loaded); the MLP weights are
the file aesthetic-model.pth of trl-lib/ddpo-aesthetic-predictor (the same file, renamed, as
TRL's DDPO example uses), state-dict keys layers.{0,2,4,6,7}.{weight,bias}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from finerewards import RewardOutput, resolve_model
from fr_baselines.base import BaselineReward
from fr_baselines.common import checkpoint_path, load_mlp_head, quiet_transformers, rgb

if TYPE_CHECKING:
    from PIL.Image import Image

    from fr_baselines.plugin import AestheticOptions


def load_clip_vision(ref: str, dtype: torch.dtype) -> Any:
    """The vision tower and projection of a full CLIPModel checkpoint (text weights skipped)."""
    from transformers import CLIPConfig, CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPConfig.from_pretrained(ref)
    vision_config: CLIPVisionConfig = config.vision_config
    vision_config.projection_dim = config.projection_dim
    with quiet_transformers():
        model = CLIPVisionModelWithProjection.from_pretrained(ref, config=vision_config, dtype=dtype)
    return model.eval()


class Aesthetic(BaselineReward):
    options: AestheticOptions

    def load(self) -> None:
        from transformers import AutoImageProcessor

        ref = resolve_model(self.options.clip_model)
        self.clip = load_clip_vision(ref, self.dtype).to(self.device)
        self.image_processor = AutoImageProcessor.from_pretrained(ref, backend="pil")
        path = checkpoint_path(self.options.head, self.options.head_file)
        self.head = load_mlp_head(path, self.clip.config.projection_dim).to(self.device)

    @torch.inference_mode()
    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        pixels = self.image_processor(images=rgb(images), return_tensors="pt")["pixel_values"]
        embeds = self.clip(pixel_values=pixels.to(self.device, self.dtype)).image_embeds
        return RewardOutput(self.head(F.normalize(embeds.float(), dim=-1)).tolist())
