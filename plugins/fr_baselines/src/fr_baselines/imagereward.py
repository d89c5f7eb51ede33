"""ImageReward-v1.0 (Xu et al. 2023, "ImageReward: Learning and Evaluating Human Preferences for
Text-to-Image Generation"): BLIP (ViT-L/16 at 224 px + BERT-base with cross-attention) encodes
the prompt grounded on the image; an MLP maps the [CLS] feature to a reward, normalised as
(r - 0.16717362830052426) / 1.0333394966054072. Unbounded; about -2 to 2 on real generations.

Weights: ImageReward.pt of the hub repo THUDM/ImageReward, loaded into transformers'
BlipVisionModel / BlipTextModel by the key map in `blip_keys` (no `image-reward` package).
Image: resize shorter side to 224 (bicubic), centre crop, CLIP mean/std; prompt: BERT uncased
tokens truncated to 35 (pads are masked, so padding to the batch's longest
rather than to 35 changes nothing), [CLS] first (ImageReward.score does not insert [ENC]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from finerewards import RewardOutput, resolve_model
from finerewards.errors import UsageError
from fr_baselines.base import BaselineReward
from fr_baselines.blip_keys import split_imagereward
from fr_baselines.common import (
    MLPHead,
    checkpoint_path,
    load_state_dict,
    quiet_transformers,
    rgb,
    text_length,
)

if TYPE_CHECKING:
    from PIL.Image import Image

    from fr_baselines.plugin import ImageRewardOptions

MEAN = 0.16717362830052426
STD = 1.0333394966054072
MAX_LENGTH = 35


def imagereward_config() -> Any:
    """The published architecture: BLIP_Pretrain(vit="large", image_size=224) + med_config.json."""
    from transformers import BlipConfig

    return BlipConfig(
        vision_config={
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": 224,
            "patch_size": 16,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-6,  # BLIP's ViT: partial(nn.LayerNorm, eps=1e-6)
        },
        text_config={
            "vocab_size": 30524,  # bert-base-uncased + [DEC] + [ENC]
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "max_position_embeddings": 512,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-12,
            "pad_token_id": 0,
            "bos_token_id": 30522,
            "sep_token_id": 102,
            "is_decoder": True,  # builds the cross-attention layers (BLIP's add_cross_attention)
        },
    )


def load_imagereward(checkpoint: str, config: Any, dtype: torch.dtype) -> tuple[Any, Any, MLPHead]:
    """Vision model, text model and head holding ImageReward.pt's weights (strict)."""
    from transformers import BlipTextModel, BlipVisionModel

    parts = split_imagereward(load_state_dict(checkpoint))
    loaded = []
    with quiet_transformers():
        for cls, sub_config, state, extra in (
            (BlipVisionModel, config.vision_config, parts.vision, {}),
            (BlipTextModel, config.text_config, parts.text, {"add_pooling_layer": False}),
        ):
            model, info = cls.from_pretrained(
                None, config=sub_config, state_dict=state, dtype=dtype, output_loading_info=True, **extra
            )
            bad = {
                k: sorted(info[k])[:3]
                for k in ("missing_keys", "unexpected_keys", "mismatched_keys")
                if info[k]
            }
            if bad:
                raise UsageError(f"ImageReward checkpoint {checkpoint} does not fit {cls.__name__}: {bad}")
            loaded.append(model.eval())
    head = MLPHead(config.text_config.hidden_size)
    head.load_state_dict(parts.head, strict=True)
    return loaded[0], loaded[1], head.eval()


class ImageReward(BaselineReward):
    options: ImageRewardOptions

    def load(self) -> None:
        from transformers import AutoTokenizer, BlipConfig, CLIPImageProcessorPil

        opts = self.options
        config = (
            BlipConfig.from_pretrained(resolve_model(opts.config)) if opts.config else imagereward_config()
        )
        path = checkpoint_path(opts.checkpoint, opts.checkpoint_file)
        vision, text, head = load_imagereward(path, config, self.dtype)
        self.vision, self.text, self.head = vision.to(self.device), text.to(self.device), head.to(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(opts.tokenizer))
        size = config.vision_config.image_size
        self.image_processor = CLIPImageProcessorPil(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        )
        self.length = min(MAX_LENGTH, text_length(self.tokenizer, config.text_config.max_position_embeddings))

    @torch.inference_mode()
    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        pixels = self.image_processor(images=rgb(images), return_tensors="pt")["pixel_values"]
        image_embeds = self.vision(pixel_values=pixels.to(self.device, self.dtype)).last_hidden_state
        tokens = self.tokenizer(
            list(prompts), padding="longest", truncation=True, max_length=self.length, return_tensors="pt"
        )
        hidden = self.text(
            input_ids=tokens["input_ids"].to(self.device),
            attention_mask=tokens["attention_mask"].to(self.device),
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=self.device),
        ).last_hidden_state
        raw = self.head(hidden[:, 0, :].float())
        scores = ((raw - MEAN) / STD).tolist()
        return RewardOutput(scores, [{"raw": r} for r in raw.tolist()])
