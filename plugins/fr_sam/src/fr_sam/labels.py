"""Labels: zero-shot CLIP on each part's crop, every part of a batch in ONE image forward.

A part's crop is a square `crop_context` times its box's longer side, centred on the box, white
outside the image (the crop toy:clip was trained on: finerewards.toyworld.scenes.crop_object),
resized to CLIP's input size. Its candidate labels are its own prompt's noun phrases plus the
general vocabulary; text embeddings are cached per label string, so the fixed vocabulary is
encoded once per reward object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image


@dataclass(frozen=True)
class Label:
    text: str
    confidence: float
    """Softmax probability of `text` among the part's candidate labels."""


def crop_box(box: tuple[int, int, int, int], context: float) -> tuple[int, int, int, int]:
    """Square crop (left, top, right, bottom) of `context` x the box's longer side, centred on it."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    side = max(1, round(max(w, h) * context))
    left = round(x0 + w / 2 - side / 2)
    top = round(y0 + h / 2 - side / 2)
    return (left, top, left + side, top + side)


def crop_part(image: Image, box: tuple[int, int, int, int], context: float, size: int) -> Image:
    """The labelling input of one part: the context crop, white outside the image, size x size."""
    from PIL import Image as PILImage

    left, top, right, bottom = crop_box(box, context)
    canvas = PILImage.new("RGB", (right - left, bottom - top), (255, 255, 255))
    canvas.paste(image.convert("RGB"), (-left, -top))
    return canvas.resize((size, size), PILImage.Resampling.BICUBIC)


def _features(output: Any) -> torch.Tensor:
    """Projected embeddings from get_*_features (a tensor in transformers 4, an output in 5)."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


class Labeller:
    """CLIPModel + processor: labels parts among per-image candidate sets."""

    def __init__(self, model: Any, processor: Any, template: str, context: float) -> None:
        self.model = model.eval()
        self.processor = processor
        self.template = template
        self.context = context
        size = processor.image_processor.crop_size  # a dict or SizeDict {"height", "width"}
        self.size = int(size if isinstance(size, int) else size["height"])
        self._text: dict[str, torch.Tensor] = {}

    @classmethod
    def load(cls, ref: str, template: str, context: float, trust_remote_code: bool = False) -> Labeller:
        from transformers import CLIPModel, CLIPProcessor

        model = CLIPModel.from_pretrained(ref, trust_remote_code=trust_remote_code)
        processor = CLIPProcessor.from_pretrained(ref, trust_remote_code=trust_remote_code)
        return cls(model, processor, template, context)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def text_embeddings(self, labels: Sequence[str]) -> torch.Tensor:
        """Normalised text embeddings (on CPU, float32); unseen labels encoded in one batch."""
        import torch

        missing = [label for label in dict.fromkeys(labels) if label not in self._text]
        if missing:
            texts = [self.template.format(label=label) for label in missing]
            enc = self.processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
            with torch.inference_mode():
                emb = _features(self.model.get_text_features(**enc.to(self.device))).float().cpu()
            emb = emb / emb.norm(dim=-1, keepdim=True)
            self._text.update(zip(missing, emb))
        return torch.stack([self._text[label] for label in labels])

    def label(
        self,
        images: Sequence[Image],
        boxes: Sequence[Sequence[tuple[int, int, int, int]]],
        candidates: Sequence[Sequence[str]],
    ) -> list[list[Label]]:
        """Labels of every part of every image: one CLIP image forward over all crops."""
        import torch

        crops = [crop_part(img, box, self.context, self.size) for img, bs in zip(images, boxes) for box in bs]
        out: list[list[Label]] = [[] for _ in images]
        if not crops:
            return out
        pixels = self.processor.image_processor(images=crops, return_tensors="pt")["pixel_values"]
        dtype = next(self.model.parameters()).dtype
        with torch.inference_mode():
            emb = _features(self.model.get_image_features(pixel_values=pixels.to(self.device, dtype)))
        emb = emb.float().cpu()
        emb = emb / emb.norm(dim=-1, keepdim=True)
        scale = float(self.model.logit_scale.detach().exp().clamp(max=100.0))
        self.text_embeddings([name for names in candidates for name in names])  # one text batch
        row = 0
        for i, image_boxes in enumerate(boxes):
            if not image_boxes:
                continue
            names = list(dict.fromkeys(candidates[i]))
            text = self.text_embeddings(names)
            probs = (scale * emb[row : row + len(image_boxes)] @ text.T).softmax(dim=-1)
            for p in probs:
                best = int(p.argmax())
                out[i].append(Label(names[best], float(p[best])))
            row += len(image_boxes)
        return out
