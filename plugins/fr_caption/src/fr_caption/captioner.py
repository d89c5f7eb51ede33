"""Captioning with any transformers image-to-text model: one `generate` call per batch.

Supported through `AutoModelForImageTextToText` (the library's own loading path): BLIP-2
(`Blip2ForConditionalGeneration`), BLIP (`BlipForConditionalGeneration`), GIT (`GitForCausalLM`)
and `VisionEncoderDecoderModel`. Models without a processor class (VisionEncoderDecoder) get an
image processor and a tokenizer loaded side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finerewards.errors import UsageError

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

SUPPORTED = (
    "Blip2ForConditionalGeneration",
    "BlipForConditionalGeneration",
    "GitForCausalLM",
    "VisionEncoderDecoderModel",
)

STRIPS_OWN_SEP = ("BlipForConditionalGeneration",)
"""Classes whose `generate` drops the [SEP] that the tokenizer puts after a text prompt."""


@dataclass
class CaptionSettings:
    """Decoding settings: deterministic search only (greedy when num_beams is 1)."""

    max_new_tokens: int = 40
    num_beams: int = 3
    prompt: str | None = None


class Captioner:
    """A loaded captioning model with its pre- and post-processing."""

    def __init__(
        self,
        path: str,
        device: str,
        dtype: torch.dtype,
        settings: CaptionSettings,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModelForImageTextToText

        self.settings = settings
        self.device = device
        self.dtype = dtype
        try:
            model = AutoModelForImageTextToText.from_pretrained(
                path, dtype=dtype, trust_remote_code=trust_remote_code
            )
        except ValueError as exc:
            raise UsageError(
                f"captioner {path!r} is not an image-to-text model transformers can load "
                f"({exc}); supported: {', '.join(SUPPORTED)}"
            ) from None
        self.model = model.to(device).eval()
        self.processor, self.image_processor, self.tokenizer = _load_processors(path, trust_remote_code)
        self.encoder_decoder = bool(getattr(self.model.config, "is_encoder_decoder", False))
        self.strips_own_sep = type(self.model).__name__ in STRIPS_OWN_SEP
        if settings.prompt and self.encoder_decoder:
            raise UsageError(f"caption_prompt is not supported by {type(self.model).__name__} captioners")

    def inputs(self, images: Sequence[Image]) -> dict[str, Any]:
        """The model inputs of a batch; the prompt (if any) is the same text for every image,
        so a batch never needs padding."""
        rgb = [image.convert("RGB") for image in images]
        prompt = self.settings.prompt
        if prompt and self.processor is not None:
            batch = dict(self.processor(images=rgb, text=[prompt] * len(rgb), return_tensors="pt"))
        else:
            batch = dict(self.image_processor(images=rgb, return_tensors="pt"))
            if prompt:
                batch.update(self.tokenizer([prompt] * len(rgb), return_tensors="pt"))
        batch.pop("token_type_ids", None)
        if prompt and not self.encoder_decoder and not self.strips_own_sep:
            batch = _drop_end_token(batch, self.tokenizer)
        out = {}
        for key, value in batch.items():
            if hasattr(value, "is_floating_point"):
                cast = self.dtype if value.is_floating_point() else None
                out[key] = value.to(self.device, dtype=cast)
        return out

    def caption(self, images: Sequence[Image]) -> list[str]:
        """One caption per image, in order (a single batched `generate`)."""
        import torch

        inputs = self.inputs(images)
        with torch.inference_mode():
            generated = self.model.generate(
                **inputs,
                max_new_tokens=self.settings.max_new_tokens,
                num_beams=self.settings.num_beams,
                do_sample=False,
                num_return_sequences=1,
            )
        generated = _strip_input(generated, inputs.get("input_ids"))
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return [self._clean(text) for text in texts]

    def _clean(self, text: str) -> str:
        """One line of text, without the prompt when the model repeats it."""
        text = " ".join(text.split())
        prompt = " ".join((self.settings.prompt or "").split())
        if prompt and text.lower().startswith(prompt.lower()):
            text = text[len(prompt) :].strip()
        return text

    def close(self) -> None:
        """Drop the model and its processors (the reward frees accelerator memory after)."""
        self.model = self.processor = self.image_processor = self.tokenizer = None


def _strip_input(generated: torch.Tensor, input_ids: torch.Tensor | None) -> torch.Tensor:
    """Drop the prompt tokens a decoder-only model returns ahead of its new tokens."""
    if input_ids is None or generated.shape[1] < input_ids.shape[1]:
        return generated
    width = input_ids.shape[1]
    if bool((generated[:, :width] == input_ids.to(generated.device)).all()):
        return generated[:, width:]
    return generated


def _drop_end_token(batch: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """Remove a [SEP]/eos that the tokenizer appended to the prompt: a decoder-only captioner
    must continue the prompt, not start after its end."""
    ids = batch.get("input_ids")
    ends = {tokenizer.sep_token_id, tokenizer.eos_token_id} - {None, tokenizer.bos_token_id}
    if ids is None or ids.shape[1] < 2 or not ends:
        return batch
    if all(int(last) in ends for last in ids[:, -1]):
        batch = dict(batch)
        for key in ("input_ids", "attention_mask"):
            if key in batch:
                batch[key] = batch[key][:, :-1]
    return batch


def _load_processors(path: str, trust_remote_code: bool) -> tuple[Any, Any, Any]:
    """(processor or None, image processor, tokenizer): the model's multimodal processor when it
    ships one, else an image processor and a tokenizer loaded side by side."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer
    from transformers.processing_utils import ProcessorMixin

    try:
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError, KeyError):
        processor = None
    if isinstance(processor, ProcessorMixin) and hasattr(processor, "tokenizer"):
        return processor, processor.image_processor, processor.tokenizer
    image_processor = AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    return None, image_processor, tokenizer
