"""Load `toy:captioner` the way users do and measure it on renders it never saw.

A caption is right when `captions.caption_correct` accepts it: it names exactly the objects of
the scene (counts, colours, shapes), any relation it states holds, and it states one whenever
the canonical caption does. Two held-out sets: renders of every toy:test prompt (at render seeds
no training run drew) and random 1-4 object scenes from a seed no training run used.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finerewards.toyworld.captions import caption, caption_correct
from finerewards.toyworld.clip_eval import EVAL_SEED
from finerewards.toyworld.prompts import load_prompt_rows
from finerewards.toyworld.render import layout, render_scene
from finerewards.toyworld.scenes import Scene, random_scene
from finerewards.toyworld.train_captioner import MODEL_DIR

if TYPE_CHECKING:
    from PIL.Image import Image


def load(folder: str | Path = MODEL_DIR) -> tuple[Any, Any]:
    """(model, processor): the class named in fr_model.json and AutoProcessor, from_pretrained."""
    import json

    import transformers

    info = json.loads((Path(folder) / "fr_model.json").read_text())
    model = getattr(transformers, info["class"]).from_pretrained(str(folder)).eval()
    processor = transformers.AutoProcessor.from_pretrained(str(folder))
    return model, processor


def generate_captions(model: Any, processor: Any, images: Sequence[Image], batch: int = 128) -> list[str]:
    """Greedy captions (the saved generation config), decoded without special tokens."""
    import torch

    out: list[str] = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            inputs = processor(images=list(images[i : i + batch]), return_tensors="pt")
            ids = model.generate(pixel_values=inputs["pixel_values"])
            out += [t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)]
    return out


def prompt_scenes(seeds: int = 1, per_category: int | None = None) -> list[tuple[str, Scene]]:
    """(category, scene) renders of toy:test prompts at EVAL_SEED.."""
    by_category: dict[str, list[str]] = {}
    for prompt, category in load_prompt_rows("test"):
        by_category.setdefault(category, []).append(prompt)
    return [
        (category, layout(prompt, EVAL_SEED + k))
        for category, prompts in by_category.items()
        for prompt in prompts[:per_category]
        for k in range(seeds)
    ]


def random_scenes(n: int) -> list[Scene]:
    """n random 1-4 object scenes from a seed no training run uses."""
    rng = random.Random(EVAL_SEED)
    return [random_scene(rng) for _ in range(n)]


def evaluate(
    folder: str | Path = MODEL_DIR, seeds: int = 1, per_category: int | None = None, n_random: int = 1000
) -> dict[str, Any]:
    """Caption accuracy on held-out renders, per toy:test category and per object count."""
    model, processor = load(folder)
    tagged = [(f"prompt:{c}", s) for c, s in prompt_scenes(seeds, per_category)]
    tagged += [(f"random:{len(s)}_objects", s) for s in random_scenes(n_random)]
    texts = generate_captions(model, processor, [render_scene(s) for _, s in tagged])
    right: dict[str, list[bool]] = {}
    exact: list[bool] = []
    errors: list[dict[str, str]] = []
    for (tag, scene), text in zip(tagged, texts, strict=True):
        ok = caption_correct(text, scene)
        right.setdefault(tag, []).append(ok)
        exact.append(text == caption(scene))
        if not ok and len(errors) < 10:
            errors.append({"expected": caption(scene), "got": text})
    prompt_hits = [b for k, v in right.items() if k.startswith("prompt:") for b in v]
    random_hits = [b for k, v in right.items() if k.startswith("random:") for b in v]
    return {
        "images": len(tagged),
        "correct_prompt_renders": _mean(prompt_hits),
        "correct_random_scenes": _mean(random_hits),
        "correct_all": _mean(prompt_hits + random_hits),
        "exact_canonical": _mean(exact),
        "correct_by_set": {k: _mean(v) for k, v in sorted(right.items())},
        "n_by_set": {k: len(v) for k, v in sorted(right.items())},
        "examples_wrong": errors,
    }


def _mean(values: Sequence[bool]) -> float | None:
    return float(np.mean(values)) if len(values) else None
