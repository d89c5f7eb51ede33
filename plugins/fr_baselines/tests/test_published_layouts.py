"""The loaders accept the published checkpoints' key names and shapes, at full size.

Tensors are on the meta device (no memory, no download): the key/shape layouts come from the
published configs and from the reference code (open_clip's ViT-H-14; BLIP's vit.py and med.py
as used by ImageReward; the improved-aesthetic-predictor MLP), the targets from the configs of
the published transformers models. A strict load of the mapped layout into the target must
leave no key missing, unexpected or of another shape - so the real weights load where they exist.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from fr_baselines.blip_keys import split_imagereward
from fr_baselines.common import MLPHead, load_mlp_head, load_state_dict
from fr_baselines.imagereward import imagereward_config
from fr_baselines.openclip_keys import KeyMapError, openclip_to_transformers

META = torch.device("meta")


def shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def meta_state(layout: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device=META) for k, shape in layout.items()}


# the LAION aesthetic MLP (sac+logos+ava1-l14-linearMSE.pth) --------------------------------

AESTHETIC_LAYOUT = {
    "layers.0.weight": (1024, 768),
    "layers.0.bias": (1024,),
    "layers.2.weight": (128, 1024),
    "layers.2.bias": (128,),
    "layers.4.weight": (64, 128),
    "layers.4.bias": (64,),
    "layers.6.weight": (16, 64),
    "layers.6.bias": (16,),
    "layers.7.weight": (1, 16),
    "layers.7.bias": (1,),
}


def test_aesthetic_head_has_the_published_layout() -> None:
    assert shapes(MLPHead(768).state_dict()) == AESTHETIC_LAYOUT


def test_aesthetic_head_loads_a_published_style_pth(tmp_path: Any) -> None:
    """An OrderedDict of tensors saved by torch.save, read with weights_only=True."""
    from collections import OrderedDict

    torch.manual_seed(0)
    state = OrderedDict((k, torch.randn(s)) for k, s in AESTHETIC_LAYOUT.items())
    torch.save(state, tmp_path / "sac+logos+ava1-l14-linearMSE.pth")
    head = load_mlp_head(str(tmp_path / "sac+logos+ava1-l14-linearMSE.pth"), 768)
    x = torch.randn(3, 768)
    want = x
    for i in (0, 2, 4, 6, 7):
        want = want @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
    torch.testing.assert_close(head(x), want.squeeze(-1))


def test_aesthetic_head_rejects_another_layout(tmp_path: Any) -> None:
    from finerewards.errors import UsageError

    torch.save({"fc.weight": torch.zeros(1, 768)}, tmp_path / "other.pth")
    with pytest.raises(UsageError, match="not an aesthetic"):
        load_mlp_head(str(tmp_path / "other.pth"), 768)


def test_pickled_code_is_refused(tmp_path: Any) -> None:
    """weights_only=True: a checkpoint that would run code on load is an error, not an import."""
    from finerewards.errors import UsageError
    from finerewards.testing import code_running_checkpoint

    marker = code_running_checkpoint(tmp_path / "evil.pth")
    with pytest.raises(UsageError, match="not a plain tensor checkpoint loadable with weights_only=True"):
        load_state_dict(str(tmp_path / "evil.pth"))
    assert not os.path.exists(marker)


# HPSv2: open_clip ViT-H-14 -> transformers CLIPModel(laion/CLIP-ViT-H-14-laion2B-s32B-b79K) -------

VIT_H14_CONFIG = {  # config.json of laion/CLIP-ViT-H-14-laion2B-s32B-b79K
    "projection_dim": 1024,
    "text_config": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
        "hidden_act": "gelu",
    },
    "vision_config": {
        "hidden_size": 1280,
        "intermediate_size": 5120,
        "num_attention_heads": 16,
        "num_hidden_layers": 32,
        "image_size": 224,
        "patch_size": 14,
        "hidden_act": "gelu",
    },
}


def test_hpsv2_map_fits_vit_h14_exactly() -> None:
    open_clip = pytest.importorskip("open_clip")
    from transformers import CLIPConfig, CLIPModel

    with META:
        reference = open_clip.create_model("ViT-H-14", pretrained=None, device=META)
        target = CLIPModel(CLIPConfig(**VIT_H14_CONFIG))
    published = reference.state_dict()
    assert len(published) == 686  # the open_clip ViT-H-14 key count (HPS_v2_compressed.pt)
    mapped = openclip_to_transformers(published)
    assert shapes(mapped) == shapes(target.state_dict())
    result = target.load_state_dict(mapped, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_hpsv2_map_rejects_another_checkpoint() -> None:
    with pytest.raises(KeyMapError, match="unknown keys"):
        openclip_to_transformers({"vision_model.embeddings.class_embedding": torch.zeros(4)})


def test_hpsv2_checkpoint_wrapper_and_module_prefix_are_unwrapped(tmp_path: Any) -> None:
    torch.save({"epoch": 3, "state_dict": {"module.logit_scale": torch.tensor(4.6)}}, tmp_path / "c.pt")
    assert list(load_state_dict(str(tmp_path / "c.pt"))) == ["logit_scale"]


# ImageReward.pt: BLIP_Pretrain(vit="large", image_size=224) + MLP(768) ---------------------


def blip_vit_layout(width: int = 1024, depth: int = 24, patch: int = 16, image: int = 224) -> dict:
    """BLIP's models/vit.py VisionTransformer (timm modules), as ImageReward builds it."""
    tokens = (image // patch) ** 2 + 1
    layout: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, width),
        "pos_embed": (1, tokens, width),
        "patch_embed.proj.weight": (width, 3, patch, patch),
        "patch_embed.proj.bias": (width,),
        "norm.weight": (width,),
        "norm.bias": (width,),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        layout |= {
            b + "norm1.weight": (width,),
            b + "norm1.bias": (width,),
            b + "attn.qkv.weight": (3 * width, width),
            b + "attn.qkv.bias": (3 * width,),
            b + "attn.proj.weight": (width, width),
            b + "attn.proj.bias": (width,),
            b + "norm2.weight": (width,),
            b + "norm2.bias": (width,),
            b + "mlp.fc1.weight": (4 * width, width),
            b + "mlp.fc1.bias": (4 * width,),
            b + "mlp.fc2.weight": (width, 4 * width),
            b + "mlp.fc2.bias": (width,),
        }
    return layout


def med_bert_layout(hidden: int = 768, layers: int = 12, encoder_width: int = 1024) -> dict:
    """BLIP's models/med.py BertModel(add_pooling_layer=False) with cross-attention (med_config.json)."""
    layout: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (30524, hidden),
        "embeddings.position_embeddings.weight": (512, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
        "embeddings.position_ids": (1, 512),  # a persistent buffer in med.py
    }
    for i in range(layers):
        b = f"encoder.layer.{i}."
        for kind, kv_width in (("attention", hidden), ("crossattention", encoder_width)):
            layout |= {
                f"{b}{kind}.self.query.weight": (hidden, hidden),
                f"{b}{kind}.self.query.bias": (hidden,),
                f"{b}{kind}.self.key.weight": (hidden, kv_width),
                f"{b}{kind}.self.key.bias": (hidden,),
                f"{b}{kind}.self.value.weight": (hidden, kv_width),
                f"{b}{kind}.self.value.bias": (hidden,),
                f"{b}{kind}.output.dense.weight": (hidden, hidden),
                f"{b}{kind}.output.dense.bias": (hidden,),
                f"{b}{kind}.output.LayerNorm.weight": (hidden,),
                f"{b}{kind}.output.LayerNorm.bias": (hidden,),
            }
        layout |= {
            b + "intermediate.dense.weight": (4 * hidden, hidden),
            b + "intermediate.dense.bias": (4 * hidden,),
            b + "output.dense.weight": (hidden, 4 * hidden),
            b + "output.dense.bias": (hidden,),
            b + "output.LayerNorm.weight": (hidden,),
            b + "output.LayerNorm.bias": (hidden,),
        }
    return layout


def imagereward_layout() -> dict[str, tuple[int, ...]]:
    layout = {f"blip.visual_encoder.{k}": s for k, s in blip_vit_layout().items()}
    layout |= {f"blip.text_encoder.{k}": s for k, s in med_bert_layout().items()}
    layout |= {
        "blip.vision_proj.weight": (256, 1024),
        "blip.vision_proj.bias": (256,),
        "blip.text_proj.weight": (256, 768),
        "blip.text_proj.bias": (256,),
    }
    layout |= {f"mlp.{k}": s for k, s in AESTHETIC_LAYOUT.items()}
    return layout


def test_blip_vit_layout_is_timms() -> None:
    """Cross-check the hand-written BLIP ViT layout against timm's ViT-L/16 (same modules)."""
    pytest.importorskip("timm")
    from timm.models.vision_transformer import VisionTransformer

    with META:
        vit = VisionTransformer(
            img_size=224, patch_size=16, embed_dim=1024, depth=24, num_heads=16, num_classes=0
        )
    assert shapes(vit.state_dict()) == blip_vit_layout()


def test_imagereward_map_fits_the_published_architecture_exactly() -> None:
    from transformers import BlipTextModel, BlipVisionModel

    config = imagereward_config()
    parts = split_imagereward(meta_state(imagereward_layout()))
    with META:
        vision = BlipVisionModel(config.vision_config)
        text = BlipTextModel(config.text_config, add_pooling_layer=False)
    for model, state in ((vision, parts.vision), (text, parts.text)):
        assert shapes(state) == shapes(model.state_dict())
        result = model.load_state_dict(state, strict=True, assign=True)
        assert not result.missing_keys and not result.unexpected_keys
    assert shapes(parts.head) == AESTHETIC_LAYOUT


def test_imagereward_map_rejects_unknown_keys() -> None:
    from fr_baselines.blip_keys import KeyMapError as BlipKeyMapError

    state = meta_state(imagereward_layout())
    with pytest.raises(BlipKeyMapError, match="itm_head"):
        split_imagereward(state | {"blip.itm_head.weight": torch.empty(2, 768, device=META)})
    with pytest.raises(BlipKeyMapError, match="missing"):
        split_imagereward({k: v for k, v in state.items() if not k.startswith("mlp.")})
    with pytest.raises(BlipKeyMapError, match="visual_encoder.blocks.0.attn.q_norm"):
        split_imagereward(state | {"blip.visual_encoder.blocks.0.attn.q_norm.weight": torch.empty(1)})


def test_published_sizes_for_the_memory_table() -> None:
    """Parameter counts the README's memory column is computed from (published configs)."""
    from transformers import BlipTextModel, BlipVisionModel, CLIPConfig, CLIPModel

    config = imagereward_config()
    with META:
        vit_h = CLIPModel(CLIPConfig(**VIT_H14_CONFIG))
        ir = sum(
            p.numel()
            for m in (
                BlipVisionModel(config.vision_config),
                BlipTextModel(config.text_config, False),
                MLPHead(768),
            )
            for p in m.parameters()
        )
    assert sum(p.numel() for p in vit_h.parameters()) == pytest.approx(986e6, rel=0.01)
    assert ir == pytest.approx(448e6, rel=0.02)
