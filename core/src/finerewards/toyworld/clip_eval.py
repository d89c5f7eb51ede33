"""Load `toy:clip` the way users do and measure it on renders it never saw.

Figures (see docs/benchmarks.md): zero-shot labelling of object crops against the 15 labels;
for each toy:test prompt, whether its satisfying render beats each near miss (an object missing,
recoloured, added, the relation flipped) on image-prompt similarity, and is ranked first among
all of them; and the same with the scene's caption in place of the image (text-text), which is
what a caption reward using this text tower sees.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finerewards.toyworld.captions import caption, describes
from finerewards.toyworld.prompts import load_prompt_rows, parse
from finerewards.toyworld.render import layout, render_scene
from finerewards.toyworld.scenes import (
    Scene,
    add_object,
    crop_object,
    drop_object,
    flip_relation,
    recolor_object,
)
from finerewards.toyworld.train_clip import LABEL_TEMPLATE, LABELS, MODEL_DIR, features

if TYPE_CHECKING:
    from PIL.Image import Image

EVAL_SEED = 900_000
"""Render seeds of evaluation scenes start here (training draws its own random scenes)."""
PAIR_TYPES = ("missing", "recolored", "extra", "flipped")


def load(folder: str | Path = MODEL_DIR) -> tuple[Any, Any]:
    """(CLIPModel, CLIPProcessor) through from_pretrained (a local folder: no hub access)."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(folder)).eval()
    processor = CLIPProcessor.from_pretrained(str(folder))
    return model, processor


def embed_images(model: Any, processor: Any, images: Sequence[Image], batch: int = 256) -> np.ndarray:
    """L2-normalised image embeddings (N, D)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            pixels = processor(images=list(images[i : i + batch]), return_tensors="pt")["pixel_values"]
            emb = features(model.get_image_features(pixel_values=pixels))
            out.append(torch.nn.functional.normalize(emb, dim=-1).numpy())
    return np.concatenate(out)


def embed_texts(model: Any, processor: Any, texts: Sequence[str], batch: int = 512) -> np.ndarray:
    """L2-normalised text embeddings (N, D)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = processor.tokenizer(list(texts[i : i + batch]), padding=True, return_tensors="pt")
            emb = features(model.get_text_features(**enc))
            out.append(torch.nn.functional.normalize(emb, dim=-1).numpy())
    return np.concatenate(out)


def label_crops(model: Any, processor: Any, crops: Sequence[Image]) -> list[str]:
    """Zero-shot labels ("red circle") of object crops made by `scenes.crop_object`."""
    label_emb = embed_texts(model, processor, [LABEL_TEMPLATE.format(label=x) for x in LABELS])
    scores = embed_images(model, processor, crops) @ label_emb.T
    return [LABELS[i] for i in scores.argmax(axis=1)]


def near_misses(prompt: str, scene: Scene, rng: random.Random) -> dict[str, Scene]:
    """The near misses of a satisfying scene that do not satisfy the prompt, by pair type."""
    req = parse(prompt)
    candidates: dict[str, Scene | None] = {
        "missing": drop_object(rng, scene),
        "recolored": recolor_object(rng, scene),
        "extra": add_object(rng, scene),
        "flipped": flip_relation(rng, scene, req.relation) if req.relation else None,
    }
    return {k: v for k, v in candidates.items() if v is not None and not describes(prompt, v)}


def eval_cases(seeds: int = 1, per_category: int | None = None) -> list[tuple[str, Scene, dict[str, Scene]]]:
    """(prompt, satisfying scene, near misses) for toy:test prompts x `seeds` render seeds."""
    by_category: dict[str, list[str]] = {}
    for prompt, category in load_prompt_rows("test"):
        by_category.setdefault(category, []).append(prompt)
    cases = []
    for prompts in by_category.values():
        for prompt in prompts[:per_category]:
            for k in range(seeds):
                seed = EVAL_SEED + k
                scene = layout(prompt, seed)
                rng = random.Random(f"{prompt}|{seed}")
                cases.append((prompt, scene, near_misses(prompt, scene, rng)))
    return cases


def crop_accuracy(model: Any, processor: Any, scenes: Sequence[Scene]) -> float:
    """Share of objects whose crop (from the oracle's boxes) gets its true label."""
    from finerewards.toyworld.oracle import find_objects

    crops, truth = [], []
    for scene in scenes:
        image = render_scene(scene)
        for obj in find_objects(image):
            crops.append(crop_object(image, obj.bbox))
            truth.append(f"{obj.color} {obj.shape}")
    predicted = label_crops(model, processor, crops)
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def evaluate(
    folder: str | Path = MODEL_DIR, seeds: int = 1, per_category: int | None = None
) -> dict[str, Any]:
    """All toy:clip figures on toy:test prompts (renders at EVAL_SEED.. never trained on)."""
    model, processor = load(folder)
    cases = eval_cases(seeds, per_category)
    prompts = sorted({p for p, _, _ in cases})
    text_emb = dict(zip(prompts, embed_texts(model, processor, prompts), strict=True))
    scenes = [s for _, s, _ in cases] + [v for _, _, misses in cases for v in misses.values()]
    image_emb = embed_images(model, processor, [render_scene(s) for s in scenes])
    captions = [caption(s) for s in scenes]
    caption_emb = embed_texts(model, processor, captions)
    index = {id(s): i for i, s in enumerate(scenes)}
    wins: dict[str, list[bool]] = {k: [] for k in PAIR_TYPES}
    text_wins: dict[str, list[bool]] = {k: [] for k in PAIR_TYPES}
    first: dict[str, list[bool]] = {}
    text_first: list[bool] = []
    same_scene_sim = []
    for prompt, scene, misses in cases:
        t = text_emb[prompt]
        good = index[id(scene)]
        sims = {k: float(image_emb[index[id(v)]] @ t) for k, v in misses.items()}
        csims = {k: float(caption_emb[index[id(v)]] @ t) for k, v in misses.items()}
        good_sim, good_csim = float(image_emb[good] @ t), float(caption_emb[good] @ t)
        same_scene_sim.append(good_csim)
        for k in misses:
            wins[k].append(good_sim > sims[k])
            text_wins[k].append(good_csim > csims[k])
        if misses:
            first.setdefault(parse(prompt).category, []).append(good_sim > max(sims.values()))
            text_first.append(good_csim > max(csims.values()))
    pooled = wins["missing"] + wins["recolored"] + wins["extra"]
    return {
        "prompts": len(prompts),
        "cases": len(cases),
        "crop_label_accuracy": crop_accuracy(model, processor, [s for _, s, _ in cases]),
        "image_prompt_pair_win": {k: _mean(v) for k, v in wins.items()},
        "image_prompt_pair_n": {k: len(v) for k, v in wins.items()},
        "clip_reward_prefers_satisfying": _mean(pooled),
        "image_prompt_ranked_first": {k: _mean(v) for k, v in sorted(first.items())},
        "image_prompt_ranked_first_all": _mean([b for v in first.values() for b in v]),
        "caption_prompt_pair_win": {k: _mean(v) for k, v in text_wins.items()},
        "caption_prompt_ranked_first": _mean(text_first),
        "caption_prompt_mean_cosine": _mean(same_scene_sim),
    }


def _mean(values: Sequence[float | bool]) -> float | None:
    return float(np.mean(values)) if len(values) else None
