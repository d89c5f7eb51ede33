"""BLIP image-text matching (Li et al. 2022, "BLIP: Bootstrapping Language-Image Pre-training"),
with transformers' BlipForImageTextRetrieval and Salesforce/blip-itm-large-coco (ViT-L, 384 px,
fine-tuned for COCO retrieval).

head="itm" (default): softmax(ITM logits)[match], range [0, 1]. The prompt is encoded with
cross-attention to the image; its first token is [ENC] as in BLIP's retrieval training and
evaluation code (blip_retrieval.py, LAVIS) - `first_token="cls"` keeps the tokenizer's [CLS]
as transformers' example does. head="itc": cosine of the projected unimodal [CLS] features
(vision_proj, text_proj), range [-1, 1]. Prompts are truncated to 35 tokens as in BLIP
(padded to the batch's longest: pads are masked, so the score does not depend on the batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from finerewards import RewardOutput, resolve_model
from finerewards.errors import UsageError
from fr_baselines.base import BaselineReward
from fr_baselines.common import rgb, text_length

if TYPE_CHECKING:
    from PIL.Image import Image

    from fr_baselines.plugin import BlipItmOptions

ENC = "[ENC]"


def enc_token_id(tokenizer: Any, config: Any) -> int:
    """[ENC]'s id: from the tokenizer when it knows it, else BLIP's rule ([DEC] + 1 = 30523).

    BLIP's tokenizer is bert-base-uncased plus [DEC] (bos, 30522) and [ENC] (30523); the
    transformers BLIP repos do not always ship [ENC] in their tokenizer files.
    """
    token_id = tokenizer.convert_tokens_to_ids(ENC)
    if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
        return token_id
    candidate = (config.text_config.bos_token_id or -2) + 1
    if 0 <= candidate < config.text_config.vocab_size:
        return candidate
    raise UsageError("this BLIP tokenizer has no [ENC] token; use first_token=cls")


class BlipItm(BaselineReward):
    options: BlipItmOptions

    def load(self) -> None:
        from transformers import AutoImageProcessor, AutoTokenizer, BlipForImageTextRetrieval

        ref = resolve_model(self.options.model)
        self.model = BlipForImageTextRetrieval.from_pretrained(ref, dtype=self.dtype).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(ref)
        self.image_processor = AutoImageProcessor.from_pretrained(ref, backend="pil")
        config = self.model.config
        self.length = min(
            self.options.max_length, text_length(self.tokenizer, config.text_config.max_position_embeddings)
        )
        use_enc = self.options.head == "itm" and self.options.first_token == "enc"
        self.first_id = enc_token_id(self.tokenizer, config) if use_enc else None

    @torch.inference_mode()
    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        pixels = self.image_processor(images=rgb(images), return_tensors="pt")["pixel_values"]
        image_embeds = self.model.vision_model(
            pixel_values=pixels.to(self.device, self.dtype)
        ).last_hidden_state
        tokens = self.tokenizer(
            list(prompts), padding="longest", truncation=True, max_length=self.length, return_tensors="pt"
        )
        input_ids = tokens["input_ids"].to(self.device)
        mask = tokens["attention_mask"].to(self.device)
        if self.options.head == "itc":
            return RewardOutput(self._itc(image_embeds, input_ids, mask).tolist())
        if self.first_id is not None:
            input_ids = input_ids.clone()
            input_ids[:, 0] = self.first_id
        hidden = self.model.text_encoder(
            input_ids=input_ids,
            attention_mask=mask,
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=self.device),
        ).last_hidden_state
        logits = self.model.itm_head(hidden[:, 0, :]).float()
        probs = logits.softmax(dim=-1)[:, 1]
        return RewardOutput(probs.tolist(), [{"itm_logits": row} for row in logits.tolist()])

    def _itc(self, image_embeds: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        text = self.model.text_encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        image_feat = F.normalize(self.model.vision_proj(image_embeds[:, 0, :]).float(), dim=-1)
        text_feat = F.normalize(self.model.text_proj(text[:, 0, :]).float(), dim=-1)
        return (image_feat * text_feat).sum(dim=-1)
