"""Each reward equals its reference computation on the same (tiny, random) weights.

The references are the published code paths, rebuilt independently here: open_clip's own
model, tokenizer and preprocessing for HPSv2; timm's ViT (BLIP's ViT layout) and ImageReward's
torchvision transform for ImageReward; the model cards' transformers calls for CLIP score,
PickScore and BLIP ITM; the improved-aesthetic-predictor's normalise-then-MLP for the aesthetic
score. A wrong key map, a transposed projection, a missing normalisation or a different
preprocessing step makes these fail.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from frb_tiny import tiny_options, tiny_root
from PIL import Image

from finerewards.registry import get_registry
from finerewards.testing import default_inputs

ATOL = 2e-4


def build(name: str, **extra: Any) -> Any:
    spec = get_registry().reward(name)
    reward = spec.build(spec.resolve_options("paper", {**tiny_options(name), **extra}))
    reward.setup("cpu", "float32")
    return reward


@pytest.fixture(scope="module")
def inputs() -> tuple[list[Image.Image], list[str]]:
    images, prompts = default_inputs()
    # a non-square photo-like image too, so resize/crop/pad choices matter
    wide = Image.new("RGB", (96, 48), (250, 250, 250))
    for x in range(10, 40):
        for y in range(5, 35):
            wide.putpixel((x, y), (220, 40, 40))
    return [*images, wide], [*prompts, "a red square"]


def clip_reference_cos(folder: str, images: list[Image.Image], prompts: list[str]) -> torch.Tensor:
    """The CLIP model-card computation: processor(text, images, padding=True), model forward."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(folder).eval()
    processor = CLIPProcessor.from_pretrained(folder, backend="pil")
    batch = processor(text=prompts, images=images, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    return torch.diagonal(out.logits_per_image) / model.logit_scale.exp()


def test_clip_score_is_hessel_clipscore(inputs: tuple[list[Image.Image], list[str]]) -> None:
    images, prompts = inputs
    cos = clip_reference_cos(str(tiny_root() / "clip"), images, prompts)
    want = (2.5 * cos.clamp(min=0)).tolist()
    got = build("clip").score(images, prompts).scores
    assert got == pytest.approx(want, abs=ATOL)
    hundred = build("clip", w=100.0).score(images, prompts).scores  # torchmetrics' scale
    assert hundred == pytest.approx((100 * cos.clamp(min=0)).tolist(), abs=100 * ATOL)


def test_clip_score_clamps_negative_cosines_and_uses_the_prefix() -> None:
    images, prompts = default_inputs()
    reward = build("clip")
    out = reward.score(images, prompts)
    for score, detail in zip(out.scores, out.details):
        assert score == pytest.approx(2.5 * max(detail["cosine"], 0.0), abs=1e-6)
    prefixed = build("clip", prefix="A photo depicts ").score(images, prompts)
    cos = clip_reference_cos(str(tiny_root() / "clip"), images, ["A photo depicts " + p for p in prompts])
    assert [d["cosine"] for d in prefixed.details] == pytest.approx(cos.tolist(), abs=ATOL)


def test_pickscore_is_the_model_card_computation(inputs: tuple[list[Image.Image], list[str]]) -> None:
    from transformers import AutoProcessor, CLIPModel

    images, prompts = inputs
    folder = str(tiny_root() / "clip")
    model = CLIPModel.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder, backend="pil")
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")
        text = processor(text=prompts, padding=True, truncation=True, max_length=77, return_tensors="pt")
        image_embs = F.normalize(model.get_image_features(**pixels).pooler_output, dim=-1)
        text_embs = F.normalize(model.get_text_features(**text).pooler_output, dim=-1)
        want = torch.diagonal(model.logit_scale.exp() * text_embs @ image_embs.T)
    got = build("pickscore").score(images, prompts).scores
    assert got == pytest.approx(want.tolist(), abs=100 * ATOL)
    assert max(got) > 10  # logit_scale.exp() = 100 in the tiny model, as in PickScore_v1


def test_hpsv2_equals_open_clip_on_the_same_checkpoint(inputs: tuple[list[Image.Image], list[str]]) -> None:
    """hpsv2.score: open_clip model + checkpoint, preprocess_val, open_clip tokenizer, diag(img @ txt.T)."""
    open_clip = pytest.importorskip("open_clip")
    from frb_tiny import openclip_tiny
    from open_clip.transform import image_transform

    images, prompts = inputs
    model = openclip_tiny(seed=1)  # the same seed tiny_root() used for the saved checkpoint
    preprocess = image_transform(32, is_train=False, resize_mode="longest")
    tokenizer = open_clip.tokenizer.SimpleTokenizer()
    with torch.no_grad():
        pixels = torch.stack([preprocess(image) for image in images])
        out = model(pixels, tokenizer(prompts))
        want = torch.diagonal(out[0] @ out[1].T)
    got = build("hpsv2").score(images, prompts).scores
    assert got == pytest.approx(want.tolist(), abs=ATOL)


def test_hpsv2_tokens_match_open_clip() -> None:
    open_clip = pytest.importorskip("open_clip")
    from transformers import AutoTokenizer

    prompts = ["a purple triangle to the left of a red square", "Two  CIRCLES, three squares!"]
    theirs = open_clip.tokenizer.SimpleTokenizer()(prompts)
    ours = AutoTokenizer.from_pretrained(tiny_root() / "hpsv2" / "base")(prompts)["input_ids"]
    for row, ids in zip(theirs.tolist(), ours):
        assert row[: len(ids)] == ids


def imagereward_transform(n_px: int) -> Any:
    """ImageReward's _transform (torchvision), as in ImageReward/ImageReward.py."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose(
        [
            Resize(n_px, interpolation=InterpolationMode.BICUBIC),
            CenterCrop(n_px),
            lambda image: image.convert("RGB"),
            ToTensor(),
            Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
        ]
    )


def test_imagereward_equals_the_reference_pipeline(inputs: tuple[list[Image.Image], list[str]]) -> None:
    """BLIP ViT (timm layout) -> BLIP text encoder with cross-attention -> MLP -> (r - mean) / std."""
    pytest.importorskip("timm")
    from frb_tiny import build_imagereward
    from transformers import AutoTokenizer

    images, prompts = inputs
    folder, vit, text = build_imagereward(tiny_root() / "imagereward-ref", seed=3)
    state = torch.load(folder / "ImageReward.pt", weights_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        pixels = torch.stack([imagereward_transform(32)(image) for image in images])
        image_embeds = vit.forward_features(pixels)
        tokens = tokenizer(prompts, padding="max_length", truncation=True, max_length=35, return_tensors="pt")
        hidden = text(
            input_ids=tokens.input_ids,
            attention_mask=tokens.attention_mask,
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long),
        ).last_hidden_state[:, 0, :]
        x = hidden
        for i in (0, 2, 4, 6, 7):  # the MLP: linear layers only (dropout is inert at eval)
            x = x @ state[f"mlp.layers.{i}.weight"].T + state[f"mlp.layers.{i}.bias"]
        want = (x.squeeze(-1) - 0.16717362830052426) / 1.0333394966054072
    got = build("imagereward", checkpoint=str(folder), config=str(folder), tokenizer=str(folder))
    out = got.score(images, prompts)
    assert out.scores == pytest.approx(want.tolist(), abs=ATOL)
    assert [d["raw"] for d in out.details] == pytest.approx(x.squeeze(-1).tolist(), abs=ATOL)


def test_imagereward_vision_tower_matches_timm_vit() -> None:
    """The renamed ViT computes what BLIP's (timm-layout) ViT computes."""
    pytest.importorskip("timm")
    reward = build("imagereward")
    from frb_tiny import blip_vit

    vit = blip_vit(seed=3)
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = vit.forward_features(pixels)
        got = reward.vision(pixel_values=pixels).last_hidden_state
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_aesthetic_is_mlp_of_normalised_clip_embedding(inputs: tuple[list[Image.Image], list[str]]) -> None:
    from transformers import CLIPImageProcessorPil, CLIPModel

    images, prompts = inputs
    folder = tiny_root() / "aesthetic"
    clip = CLIPModel.from_pretrained(folder / "clip").eval()
    processor = CLIPImageProcessorPil.from_pretrained(folder / "clip")
    head = torch.load(folder / "aesthetic-model.pth", weights_only=True)
    with torch.no_grad():
        embeds = clip.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
        x = embeds / embeds.norm(dim=-1, keepdim=True)
        for i in (0, 2, 4, 6, 7):
            x = x @ head[f"layers.{i}.weight"].T + head[f"layers.{i}.bias"]
    reward = build("aesthetic")
    got = reward.score(images, prompts).scores
    assert got == pytest.approx(x.squeeze(-1).tolist(), abs=ATOL)
    assert reward.score(images, ["something else"] * len(images)).scores == pytest.approx(got, abs=1e-6)
    assert not hasattr(reward.clip, "text_model")  # only the vision tower was loaded


def blip_reference(images: list[Image.Image], prompts: list[str], first_id: int | None) -> tuple[Any, Any]:
    """transformers' BlipForImageTextRetrieval forward, as its model card calls it."""
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    folder = tiny_root() / "blip"
    model = BlipForImageTextRetrieval.from_pretrained(folder).eval()
    processor = BlipProcessor.from_pretrained(folder, backend="pil")
    batch = processor(
        images=images, text=prompts, padding="max_length", max_length=35, truncation=True, return_tensors="pt"
    )
    ids = batch.input_ids.clone()
    if first_id is not None:
        ids[:, 0] = first_id
    with torch.no_grad():
        itm = model(input_ids=ids, pixel_values=batch.pixel_values, attention_mask=batch.attention_mask)
        itc = model(
            input_ids=batch.input_ids,
            pixel_values=batch.pixel_values,
            attention_mask=batch.attention_mask,
            use_itm_head=False,
        )
    return itm.itm_score.softmax(dim=1)[:, 1], torch.diagonal(itc.itm_score)


def test_blip_itm_heads_match_transformers(inputs: tuple[list[Image.Image], list[str]]) -> None:
    from frb_tiny import bert_vocab

    images, prompts = inputs
    enc_id = bert_vocab().index("[ENC]")
    itm_enc, itc = blip_reference(images, prompts, enc_id)
    itm_cls, _ = blip_reference(images, prompts, None)
    got_enc = build("blip-itm").score(images, prompts).scores
    got_cls = build("blip-itm", first_token="cls").score(images, prompts).scores
    got_itc = build("blip-itm", head="itc").score(images, prompts).scores
    assert got_enc == pytest.approx(itm_enc.tolist(), abs=ATOL)
    assert got_cls == pytest.approx(itm_cls.tolist(), abs=ATOL)
    assert got_itc == pytest.approx(itc.tolist(), abs=ATOL)
    assert max(abs(a - b) for a, b in zip(got_enc, got_cls)) > 1e-4  # the first token matters


def test_blip_enc_token_falls_back_to_blip_rule(tmp_path: Any) -> None:
    """A tokenizer without [ENC] (as transformers' BLIP repos ship) still gets BLIP's id [DEC] + 1."""
    from frb_tiny import bert_vocab, build_blip_itm

    from fr_baselines.blip_itm import enc_token_id

    folder = build_blip_itm(tmp_path / "blip", seed=4, with_enc=False)
    reward = build("blip-itm", model=str(folder))
    assert reward.first_id == bert_vocab().index("[DEC]") + 1
    assert enc_token_id(reward.tokenizer, reward.model.config) == bert_vocab().index("[ENC]")
