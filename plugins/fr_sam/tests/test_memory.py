"""Paper-scale size accounting (meta device) and the memory-measurement harness (tiny, CPU)."""

from __future__ import annotations

import torch
from transformers import CLIPModel, LlamaForCausalLM

from finerewards.registry import get_registry
from finerewards.testing import default_inputs
from fr_sam.memory import assemble_reward, build_paper_models, parameter_bytes, stage_peaks
from fr_sam.testing import shared_tiny_models
from fr_sam.weights import load_sam


def test_paper_models_have_the_published_sizes() -> None:
    """Built from the configs written in fr_sam.memory: the published parameter counts."""
    models = build_paper_models("meta")
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    assert counts["lm"] == 6_738_415_616  # Llama-2-7B / Vicuna-7B v1.5
    assert counts["clip"] == 427_616_513  # openai/clip-vit-large-patch14
    assert 635e6 < counts["sam"] < 645e6  # SAM ViT-H
    values, size = parameter_bytes(models["lm"], 2)
    assert size == 2 * values and 12.5 < size / 2**30 < 12.6


def test_measurement_harness_runs_on_tiny_models() -> None:
    paths = shared_tiny_models()
    spec = get_registry().reward("sam")
    options = spec.resolve_options("toy", paths)
    models = {
        "sam": load_sam(paths["sam_model"], "vit_h")[0],
        "clip": CLIPModel.from_pretrained(paths["clip_model"]),
        "lm": LlamaForCausalLM.from_pretrained(paths["lm_model"]),
    }
    reward = assemble_reward(models, options, "cpu", torch.float32)
    images, prompts = default_inputs()
    result = stage_peaks(reward, images, prompts, "cpu")
    assert set(result["stage_peak_gib"]) == {"sam", "clip", "lm"}
    assert result["parts"] > 0 and len(result["scores"]) == len(images)
