"""The inverse key maps round-trip, and the benchmark's tiny models load through every reward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from frb_tiny import IMAGE, blip_config, openclip_tiny

from finerewards.registry import get_registry
from finerewards.testing import default_inputs
from fr_baselines import tiny
from fr_baselines.blip_keys import ImageRewardParts, join_imagereward, split_imagereward
from fr_baselines.openclip_keys import openclip_to_transformers, transformers_to_openclip


def test_openclip_map_round_trips() -> None:
    pytest.importorskip("open_clip")
    state = openclip_tiny(seed=5).state_dict()
    back = transformers_to_openclip(openclip_to_transformers(state))
    assert set(back) == {k for k in state if not k.endswith("attn_mask")}
    for key, value in back.items():
        assert torch.equal(value, state[key]), key


def test_imagereward_map_round_trips() -> None:
    from transformers import BlipTextModel, BlipVisionModel

    from fr_baselines.common import MLPHead

    config = blip_config(IMAGE)
    parts = ImageRewardParts(
        vision=BlipVisionModel(config.vision_config).state_dict(),
        text=BlipTextModel(config.text_config, add_pooling_layer=False).state_dict(),
        head=MLPHead(32).state_dict(),
    )
    again = split_imagereward(join_imagereward(parts))
    for mine, theirs in ((again.vision, parts.vision), (again.text, parts.text), (again.head, parts.head)):
        assert set(mine) == set(theirs)
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)


@pytest.mark.parametrize("name", ["clip", "pickscore", "hpsv2", "imagereward", "aesthetic", "blip-itm"])
def test_benchmark_models_load_and_score(name: str, tmp_path: Path) -> None:
    spec = get_registry().reward(name)
    reward = spec.build(spec.resolve_options("paper", tiny.build(tmp_path, name, image_size=32)))
    reward.setup("cpu", "float32")
    images, prompts = default_inputs()
    out = reward.score(images[:3], prompts[:3])
    # different images, different results (CLIP score may clamp a random model's cosines to 0)
    assert len(out.scores) == 3 and len({(s, str(d)) for s, d in zip(out.scores, out.details)}) == 3
    reward.close()


def test_benchmark_runs_clip_rewards_on_one_clip(tmp_path: Path) -> None:
    """build_on_clip (used with toy:clip): HPSv2 on a CLIP's own weights equals that CLIP's cosine."""
    clip = tiny.build(tmp_path, "clip", image_size=32)
    images, prompts = default_inputs()
    results = {}
    for name in ("clip", "pickscore", "hpsv2", "aesthetic"):
        spec = get_registry().reward(name)
        opts = clip if name == "clip" else tiny.build_on_clip(tmp_path, name, clip["model"])
        reward = spec.build(spec.resolve_options("paper", opts))
        reward.setup("cpu", "float32")
        results[name] = reward.score(images, prompts)
    cosines = [d["cosine"] for d in results["clip"].details]
    assert results["hpsv2"].scores == pytest.approx(cosines, abs=1e-5)  # square images: no padding
    assert [d["cosine"] for d in results["pickscore"].details] == pytest.approx(cosines, abs=1e-5)
