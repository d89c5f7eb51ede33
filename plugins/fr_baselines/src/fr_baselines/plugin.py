"""Hook implementations and options only: cheap to import (no torch, no transformers).

Six baseline rewards, each following its published definition; the model code lives in the
modules named by each spec's factory and is imported only when the reward is used. Every model
option goes through `finerewards.resolve_model`, so a hub id, a local folder or a `toy:` name
all work. The README of this distribution documents each definition, reference and range.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from finerewards import RewardOptions, RewardSpec, hookimpl

CLIP_L14 = "openai/clip-vit-large-patch14"
CLIP_H14 = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


class ClipScoreOptions(RewardOptions):
    """CLIPScore (Hessel et al. 2021): w * max(cos(image, prompt), 0)."""

    model: str = CLIP_L14
    """A transformers CLIPModel (hub id, folder or toy:clip); its processor is read from it."""
    w: float = Field(2.5, gt=0)
    """Scale: 2.5 in Hessel et al.; 100 gives the torchmetrics CLIPScore."""
    prefix: str = ""
    """Text put before each prompt (Hessel et al. used "A photo depicts " for captions)."""


class PickScoreOptions(RewardOptions):
    """PickScore (Kirstain et al. 2023): logit_scale * cos(image, prompt)."""

    model: str = "yuvalkirstain/PickScore_v1"
    processor: str = CLIP_H14


class HPSv2Options(RewardOptions):
    """HPSv2 (Wu et al. 2023): cos(image, prompt) of open_clip ViT-H-14 with the HPS weights."""

    base: str = CLIP_H14
    """The CLIPModel config and processor of the ViT-H-14 architecture (its weights are not read)."""
    checkpoint: str = "xswu/HPSv2"
    """Hub repo, local folder or local file holding the open_clip checkpoint."""
    checkpoint_file: str = "HPS_v2_compressed.pt"
    """HPS_v2_compressed.pt (v2.0, the paper's) or HPS_v2.1_compressed.pt (v2.1)."""


class ImageRewardOptions(RewardOptions):
    """ImageReward-v1.0 (Xu et al. 2023): MLP over BLIP's image-grounded [CLS] feature."""

    checkpoint: str = "THUDM/ImageReward"
    """Hub repo, local folder or local file holding ImageReward.pt."""
    checkpoint_file: str = "ImageReward.pt"
    tokenizer: str = "google-bert/bert-base-uncased"
    """BLIP's text tokenizer (bert-base-uncased; [DEC]/[ENC] are not used by the score)."""
    config: str | None = None
    """A BlipConfig (folder or hub id); unset: the published ImageReward-v1.0 architecture."""


class AestheticOptions(RewardOptions):
    """LAION improved aesthetic predictor: MLP on the L2-normalised CLIP ViT-L/14 image embedding."""

    clip_model: str = CLIP_L14
    head: str = "trl-lib/ddpo-aesthetic-predictor"
    """Hub repo, local folder or local file holding the MLP (sac+logos+ava1-l14-linearMSE)."""
    head_file: str = "aesthetic-model.pth"


class BlipItmOptions(RewardOptions):
    """BLIP image-text matching (Li et al. 2022)."""

    model: str = "Salesforce/blip-itm-large-coco"
    head: Literal["itm", "itc"] = "itm"
    """itm: probability of "match" from the ITM head; itc: cosine of the contrastive features."""
    first_token: Literal["enc", "cls"] = "enc"
    """ITM only: BLIP's retrieval code puts [ENC] first; transformers' example keeps [CLS]."""
    max_length: int = Field(35, ge=4)
    """Prompt tokens (BLIP pads and truncates to 35)."""


def _specs() -> list[RewardSpec]:
    return [
        RewardSpec(
            name="clip",
            description="CLIPScore: w * max(cos, 0) of CLIP image and prompt embeddings (Hessel et al. 2021)",
            factory="fr_baselines.clip_score:ClipScore",
            score_range=(0.0, float("inf")),
            options=ClipScoreOptions,
            presets={"toy": {"model": "toy:clip"}, "paper": {"model": CLIP_L14}},
            batch_size=32,
        ),
        RewardSpec(
            name="pickscore",
            description="PickScore: CLIP-H preference model, logit_scale * cos (Kirstain et al. 2023)",
            factory="fr_baselines.pickscore:PickScore",
            score_range=(-100.0, 100.0),
            options=PickScoreOptions,
            presets={"paper": {}},
            batch_size=16,
        ),
        RewardSpec(
            name="hpsv2",
            description="HPSv2: cos of CLIP ViT-H-14 fine-tuned on human preferences (Wu et al. 2023)",
            factory="fr_baselines.hpsv2:HPSv2",
            score_range=(-1.0, 1.0),
            options=HPSv2Options,
            presets={"paper": {}},
            batch_size=16,
        ),
        RewardSpec(
            name="imagereward",
            description="ImageReward-v1.0: BLIP-based human preference reward, normalised (Xu et al. 2023)",
            factory="fr_baselines.imagereward:ImageReward",
            options=ImageRewardOptions,
            presets={"paper": {}},
            batch_size=16,
        ),
        RewardSpec(
            name="aesthetic",
            description="LAION aesthetic predictor: MLP on CLIP ViT-L/14 image embedding; ignores the prompt",
            factory="fr_baselines.aesthetic:Aesthetic",
            options=AestheticOptions,
            presets={"paper": {}},
            batch_size=32,
        ),
        RewardSpec(
            name="blip-itm",
            description="BLIP image-text matching probability (blip-itm-large-coco; Li et al. 2022)",
            factory="fr_baselines.blip_itm:BlipItm",
            score_range=(-1.0, 1.0),
            options=BlipItmOptions,
            presets={"toy": {"model": "toy:itm", "first_token": "cls"}, "paper": {}},
            batch_size=16,
        ),
    ]


@hookimpl
def register_rewards(register: Callable[[RewardSpec], None]) -> None:
    for spec in _specs():
        register(spec)
