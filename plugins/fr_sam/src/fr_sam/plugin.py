"""Hook implementations and the options of the `sam` reward (cheap to import: no torch here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from finerewards import RewardOptions, RewardSpec, hookimpl


class SamRewardOptions(RewardOptions):
    """Options of the SAM reward. Model options take `toy:<name>`, a local path or a hub id."""

    # parts (segment-anything)
    sam_model: str = "toy:sam"
    """A `.pth`/`.safetensors` SAM checkpoint (built with `sam_model_type`), or a folder holding
    `sam_builder.json` + weights (the toy layout, see finerewards.toyworld.sam_builder)."""
    sam_model_type: str = "vit_h"
    """segment-anything builder for a checkpoint file: vit_h, vit_l, vit_b (ignored for folders)."""
    points_per_side: int | None = Field(None, ge=1)
    """Point grid of SamAutomaticMaskGenerator; None: the model folder's recommended value, else 32."""
    points_per_batch: int | None = Field(None, ge=1)
    """Points per mask-decoder call (memory vs speed); None: the folder's value, else 64."""
    background_points: Literal["prompt", "skip"] = "prompt"
    """prompt: every grid point goes to the mask decoder (the library); skip: points whose pixel
    has the image's background colour (the median of its border pixels, within
    `background_tolerance`) are not prompted. SAM answers such a point with the background, which
    is not a part: on images of a few objects on a plain ground (the toy world) this saves most
    of the mask decoder's work. Off for photographs, whose border is not a plain background."""
    background_tolerance: int = Field(40, ge=0, le=255)
    """Largest per-channel difference (0-255) from the background colour that is background."""
    pred_iou_thresh: float | None = Field(None, ge=0.0, le=1.0)
    stability_score_thresh: float | None = Field(None, ge=0.0, le=1.0)
    box_nms_thresh: float | None = Field(None, ge=0.0, le=1.0)
    min_area: int = Field(20, ge=0)
    """Masks smaller than this many pixels are not parts (SAM's specks and fragments)."""
    min_region_area: int | None = Field(None, ge=0)
    """Holes and islands smaller than this (pixels) are removed from each mask, as the library's
    `min_mask_region_area` does (here without OpenCV); None: `min_area`; 0: off."""
    single_component: bool = False
    """Keep only each mask's largest connected component (toy world: an object is one piece)."""
    max_area_fraction: float = Field(0.5, gt=0.0, le=1.0)
    """A mask covering at least this share of the image is the background, not a part: it is
    left out of the score (counted in the details as `background_masks`)."""
    encoder_batch: int | None = Field(None, ge=1)
    """Images per SAM image-encoder forward; None: the whole batch at once. ViT-H's global
    attention holds about 1.5 GiB of fp16 activations per 1024x1024 image, so cap it at scale."""
    max_parts: int = Field(32, ge=1)
    """At most this many parts per image, the largest first."""

    # labels (zero-shot CLIP)
    clip_model: str = "toy:clip"
    vocabulary: str = "toy"
    """General labels besides the prompt's noun phrases: coco-ade20k, toy, none, or a file."""
    label_template: str = "a {label}"
    """How a label is written for CLIP's text encoder."""
    crop_context: float = Field(1.5, ge=1.0)
    """A part's crop is a square this many times its box's longer side (white outside the image)."""

    # ratings (causal language model)
    lm_model: str = "toy:lm"
    lm_prompt_format: Literal["auto", "plain", "chat", "vicuna"] = "auto"
    """auto: the tokenizer's chat template when it has one, else Vicuna's USER/ASSISTANT format;
    plain: finerewards.rubric's question as is (what toy:lm was trained on)."""
    answer_prefix: str = " "
    """Text between the question and the answer digit ("Answer: 3")."""
    trust_remote_code: bool = False

    # score
    weighting: Literal["mean", "area"] = "mean"
    """mean: the paper's mean rating over parts; area: parts weighted by their pixel area."""
    count_check: bool = False
    """Parts beyond the number a prompt phrase asks for ("two cats", a third cat) are rated 1.
    Meant for images whose parts are whole objects (the toy world); off for photographs, where
    SAM's sub-parts would read as extra objects."""
    empty_score: float = Field(1.0, ge=1.0, le=3.0)
    """Score of an image with no parts (nothing the prompt asks for is there): the lowest rating."""
    offload: bool = False
    """Keep the three models on the CPU and move each to the device only for its stage (lower peak
    accelerator memory, slower)."""


TOY = {
    "sam_model": "toy:sam",
    "clip_model": "toy:clip",
    "lm_model": "toy:lm",
    "vocabulary": "toy",
    "label_template": "a {label}",
    "lm_prompt_format": "plain",
    "background_points": "skip",
    "min_area": 20,
    "single_component": True,
    "max_area_fraction": 0.5,
    "count_check": True,
}
PAPER = {
    "sam_model": "sam_vit_h_4b8939.pth",
    "sam_model_type": "vit_h",
    "points_per_side": 32,
    "pred_iou_thresh": 0.88,
    "stability_score_thresh": 0.95,
    "encoder_batch": 2,
    "min_area": 256,
    "max_area_fraction": 0.8,
    "clip_model": "openai/clip-vit-large-patch14",
    "vocabulary": "coco-ade20k",
    "label_template": "a photo of a {label}.",
    "lm_model": "lmsys/vicuna-7b-v1.5",
    "lm_prompt_format": "auto",
    "count_check": False,
}


@hookimpl
def register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="sam",
            description=(
                "Local view: SAM parts labelled by CLIP, each rated 1-3 by a language model for how "
                "likely it is in the prompt's scene; the mean rating"
            ),
            factory="fr_sam.reward:SamReward",
            higher_is_better=True,
            score_range=(1.0, 3.0),
            options=SamRewardOptions,
            presets={"toy": TOY, "paper": PAPER},
            default_normalizer="zscore",
            batch_size=8,
            requires=("torch", "transformers", "segment_anything"),
            install="pip install fr-sam",
        )
    )
