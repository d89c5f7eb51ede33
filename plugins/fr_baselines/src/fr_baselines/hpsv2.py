"""HPSv2 (Wu et al. 2023, "Human Preference Score v2"): cos(E_image, E_text) of open_clip
ViT-H-14 fine-tuned on HPD v2, the checkpoint HPS_v2_compressed.pt (or HPS_v2.1_compressed.pt)
of the hub repo xswu/HPSv2. Range [-1, 1]; typical values 0.20 to 0.30.

The reference (hpsv2.score) runs open_clip; here the same weights load into transformers'
CLIPModel through the documented key map in `openclip_keys` (no open_clip dependency), with the
config and processors of laion/CLIP-ViT-H-14-laion2B-s32B-b79K (the same architecture and BPE
tokenizer). The image is prepared as HPSv2's `preprocess_val`: the longer side resized to 224
(bicubic), padded to a square with black, then CLIP-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finerewards import RewardOutput, resolve_model
from finerewards.errors import UsageError
from fr_baselines.base import BaselineReward
from fr_baselines.clip_pair import ClipPair, load_processors
from fr_baselines.common import checkpoint_path, load_state_dict, quiet_transformers
from fr_baselines.openclip_keys import openclip_to_transformers

if TYPE_CHECKING:
    from PIL.Image import Image

    from fr_baselines.plugin import HPSv2Options


def resize_max_pad(image: Image, size: int) -> Image:
    """open_clip's ResizeMaxSize: longer side to `size` (bicubic), centred on a black square."""
    from PIL import Image as PILImage

    width, height = image.size
    scale = size / max(width, height)
    if scale == 1.0:
        return image
    new_w, new_h = round(width * scale), round(height * scale)
    resized = image.resize((new_w, new_h), PILImage.Resampling.BICUBIC)
    if (new_w, new_h) == (size, size):
        return resized
    canvas = PILImage.new(image.mode, (size, size), 0)
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def load_hps_model(base: str, checkpoint: str, dtype: object) -> object:
    """A CLIPModel of `base`'s config holding the open_clip checkpoint's weights (strict)."""
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig.from_pretrained(base)
    state = openclip_to_transformers(load_state_dict(checkpoint))
    with quiet_transformers():
        model, info = CLIPModel.from_pretrained(
            None, config=config, state_dict=state, dtype=dtype, output_loading_info=True
        )
    problems = [
        f"{kind}: {sorted(info[kind])[:3]}" for kind in ("missing_keys", "mismatched_keys") if info[kind]
    ]
    if problems:
        raise UsageError(f"HPSv2 checkpoint {checkpoint} does not fit {base}: {'; '.join(problems)}")
    return model.eval()


class HPSv2(BaselineReward):
    options: HPSv2Options
    pair: ClipPair

    def load(self) -> None:
        base = resolve_model(self.options.base)
        path = checkpoint_path(self.options.checkpoint, self.options.checkpoint_file)
        model = load_hps_model(base, path, self.dtype).to(self.device)
        tokenizer, image_processor = load_processors(base)
        size = model.config.vision_config.image_size
        self.pair = ClipPair(
            model,
            tokenizer,
            image_processor,
            self.device,
            self.dtype,
            lambda image: resize_max_pad(image, size),
        )

    def compute(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        return RewardOutput(self.pair.cosines(images, prompts).tolist())
