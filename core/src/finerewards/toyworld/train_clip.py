"""Train `toy:clip`: a small transformers `CLIPModel` on toy-world renders, contrastively.

Each batch holds groups of a scene and its near misses (an object missing, recoloured, reshaped,
added, two colours swapped, the scene mirrored so the relation flips), rendered, a share of them
degraded like generated images. Every image comes with one true text: a prompt of any of the six
categories or a caption (`captions.caption`), so prompts and captions of one scene meet at one
image embedding. Because many texts are true of several images ("a circle"), the contrastive
target is every (image, text) pair the world's rules call true (`captions.describes`), not just
the diagonal. Object crops (`scenes.crop_object`) learn the 15 labels `a {color} {shape}` with a
cross-entropy over the label embeddings, which is exactly the zero-shot labelling of the SAM reward.

Texts in `toy:test`'s held-out categories (color_attr, position) are never trained on.
Rebuild with `fr toyworld train-models --only clip` (or `python -m finerewards.toyworld.train_clip`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finerewards.toyworld.captions import caption, describes, group_phrase
from finerewards.toyworld.prompts import parse
from finerewards.toyworld.render import layout
from finerewards.toyworld.scenes import (
    VARIANTS,
    Scene,
    crop_object,
    degrade,
    flip_relation,
    random_scene,
    render_scenes,
    scene_bbox,
)
from finerewards.toyworld.trainkit import (
    BACKGROUND_KIND,
    MEAN,
    STD,
    geometry_head,
    geometry_loss,
    held_out_texts,
    init_patch_positions,
    lr_factor,
    pixel_tensor,
    scene_summary,
    train_prompts,
    write_model_card,
)
from finerewards.toyworld.world import CATEGORIES, COLORS, RELATIONS, SHAPES, SIZE, relation_holds

if TYPE_CHECKING:
    import torch

MODEL_DIR = Path(__file__).resolve().parent / "models" / "clip"
SEED = 11
LABELS: tuple[str, ...] = tuple(f"{c} {s}" for c in COLORS for s in SHAPES)
"""The 15 object labels, `{color} {shape}`."""
LABEL_TEMPLATE = "a {label}"
"""How a label is written as a text for zero-shot labelling ("a red circle")."""


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 1500
    groups: int = 24
    """Scenes per batch; each comes with `variants` near misses."""
    variants: int = 3
    crops: int = 48
    prompt_share: float = 0.6
    """Share of scenes drawn from a toy:train prompt (the rest: random 1-4 object scenes)."""
    relation_share: float = 0.0
    """Share of non-prompt two-object scenes that get their mirror image as a near miss
    (an experiment; the shipped model uses 0)."""
    geometry_weight: float = 0.0
    """Weight of the training-only geometry losses (`trainkit.geometry_loss`, `summary_loss`);
    an experiment, the shipped model uses 0."""
    degrade_share: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    vision_width: int = 128
    vision_layers: int = 4
    patch_size: int = 8
    text_width: int = 128
    text_layers: int = 3
    projection: int = 128
    sincos_positions: bool = False
    """Start the ViT's patch positions at 2-D sine-cosine codes (`trainkit.init_patch_positions`);
    an experiment, the shipped model starts from the library's random init."""
    seed: int = SEED


# --- texts -----------------------------------------------------------------------------------


def descriptions(scene: Scene, rng: random.Random) -> list[str]:
    """Texts true of a scene: every prompt form that fits it, its caption, and the caption with
    its groups in a random order (held-out test prompts left out)."""
    texts = [caption(scene)]
    if len(scene) == 1:
        o = scene[0]
        texts += [f"a {o.shape}", f"a {o.color} {o.shape}"]
    elif len(scene) == 2:
        for a, b in ((scene[0], scene[1]), (scene[1], scene[0])):
            if a.shape != b.shape:
                texts.append(f"a {a.shape} and a {b.shape}")
            if (a.color, a.shape) != (b.color, b.shape):
                texts.append(f"a {a.color} {a.shape} and a {b.color} {b.shape}")
                texts += [
                    f"a {a.color} {a.shape} {r} a {b.color} {b.shape}"
                    for r in RELATIONS
                    if relation_holds(r, a.center, b.center)
                ]
    if len(scene) > 1 and len({o.shape for o in scene}) == 1:
        texts.append(f"{['two', 'three', 'four'][len(scene) - 2]} {scene[0].shape}s")
    groups = sorted({(o.color, o.shape) for o in scene})
    if len(groups) > 2:
        rng.shuffle(groups)
        counts = {g: sum((o.color, o.shape) == g for o in scene) for g in groups}
        texts.append(" and ".join(group_phrase(counts[g], str(g[0]), g[1]) for g in groups))
    return [t for t in dict.fromkeys(texts) if t not in held_out_texts()]


# --- batches ---------------------------------------------------------------------------------


def _pick(texts: list[str], rng: random.Random, relational: bool) -> str:
    """A random text; a relation-stating one (3 times in 4) when `relational` and one exists."""
    stating = [t for t in texts if any(f" {r} " in t for r in RELATIONS)]
    if relational and stating and rng.random() < 0.75:
        return rng.choice(stating)
    return rng.choice(texts)


def _relation_of(scene: Scene) -> str | None:
    """The relation of a two-object scene's first object to its second, when one holds."""
    if len(scene) != 2:
        return None
    return next((r for r in RELATIONS if relation_holds(r, scene[0].center, scene[1].center)), None)


def scene_group(rng: random.Random, cfg: TrainSettings) -> list[tuple[Scene, str]]:
    """A base scene with its text, then up to `cfg.variants` near misses with theirs.

    Position prompts, and `cfg.relation_share` of other two-object scenes whose relation
    holds, always get the mirrored scene (the relation flipped) as a near miss, and both sides
    then mostly get texts that state a relation: the only pairs that teach relations.
    """
    text: str | None = None
    if rng.random() < cfg.prompt_share:
        category = rng.choice(CATEGORIES)
        text = rng.choice(train_prompts()[category])
        base = layout(text, rng.getrandbits(31))
    else:
        base = random_scene(rng)
    relation = _relation_of(base)
    kinds = list(VARIANTS)
    rng.shuffle(kinds)
    kinds.remove("flipped")
    flip = relation is not None and (
        (text is not None and parse(text).relation is not None) or rng.random() < cfg.relation_share
    )
    if flip:
        kinds.insert(0, "flipped")
    if text is None:
        text = _pick(descriptions(base, rng) or [caption(base)], rng, flip)
    group = [(base, text)]
    for kind in kinds:
        if len(group) > cfg.variants:
            break
        if kind == "flipped":
            variant: Scene | None = flip_relation(rng, base, relation)
        else:
            variant = VARIANTS[kind](rng, base)
        if variant is None:
            continue
        texts = descriptions(variant, rng)
        if texts:
            group.append((variant, _pick(texts, rng, kind == "flipped")))
    return group


def positives(scenes: list[Scene], texts: list[str]) -> np.ndarray:
    """(images, texts) bool matrix: which text is true of which scene (the contrastive target)."""
    matrix = np.zeros((len(scenes), len(texts)), dtype=bool)
    for j, text in enumerate(texts):
        for i, scene in enumerate(scenes):
            matrix[i, j] = i == j or describes(text, scene)
    return matrix


def crop_batch(rng: random.Random, n: int, degrade_share: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, SIZE, SIZE, 3) object crops from random scenes, slightly jittered, and label ids."""
    crops, labels = [], []
    for _ in range(n):
        scene = random_scene(rng)
        array = render_scenes([scene])[0]
        if rng.random() < degrade_share:
            array = degrade(array, rng)
        obj = rng.choice(scene)
        x, y, w, h = scene_bbox(obj)
        jitter = (
            x + rng.randint(-1, 1),
            y + rng.randint(-1, 1),
            w + rng.randint(-1, 1),
            h + rng.randint(-1, 1),
        )
        crop = crop_object(array, jitter, SIZE, context=rng.uniform(1.35, 1.65))
        crops.append(np.asarray(crop))
        labels.append(LABELS.index(f"{obj.color} {obj.shape}"))
    return np.stack(crops), np.array(labels)


# --- model -----------------------------------------------------------------------------------


def build_processor() -> Any:
    """CLIPProcessor: 64 x 64 image processor (mean/std 0.5) + the word-level CLIP tokenizer."""
    from transformers import CLIPImageProcessor, CLIPProcessor

    from finerewards.toyworld.vocab import build_clip_tokenizer

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": SIZE},
        crop_size={"height": SIZE, "width": SIZE},
        image_mean=list(MEAN),
        image_std=list(STD),
        do_convert_rgb=True,
    )
    return CLIPProcessor(image_processor=image_processor, tokenizer=build_clip_tokenizer())


def build_model(tokenizer: Any, cfg: TrainSettings) -> Any:
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    text = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.text_width,
        intermediate_size=2 * cfg.text_width,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = CLIPVisionConfig(
        image_size=SIZE,
        patch_size=cfg.patch_size,
        hidden_size=cfg.vision_width,
        intermediate_size=2 * cfg.vision_width,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=4,
    )
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=cfg.projection
    )
    model = CLIPModel(config)
    if cfg.sincos_positions:
        weight = model.vision_model.embeddings.position_embedding.weight
        init_patch_positions(weight, SIZE // cfg.patch_size)
    return model


def features(output: Any) -> torch.Tensor:
    """Projected embeddings from get_*_features (a tensor, or an output whose pooler holds it)."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def summary_loss(predicted: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
    """Auxiliary loss on the image embedding: a linear read-out of it must give each kind's
    count and mean centre (`trainkit.scene_summary`). Relations are then linear in the
    embedding, so a text embedding can score them by cosine."""
    import torch

    target, present = (torch.from_numpy(a) for a in scene_summary(scenes))
    predicted = predicted.view(target.shape)
    counts = ((predicted[..., 0] - target[..., 0]) ** 2).mean()
    where = ((predicted[..., 1:] - target[..., 1:]) ** 2).sum(-1)[present].mean()
    return 10.0 * (counts + where)


def soft_targets_loss(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the uniform distribution over each row's positives."""
    target = positive.float() / positive.float().sum(dim=1, keepdim=True)
    return -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()


def train(
    out_dir: str | Path = MODEL_DIR, settings: TrainSettings | None = None, log_every: int = 50
) -> Path:
    """Train from scratch with a fixed seed; save model + processor + fr_model.json."""
    import torch

    cfg = settings or TrainSettings()
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    processor = build_processor()
    tokenizer = processor.tokenizer
    model = build_model(tokenizer, cfg).train()
    label_ids = tokenizer([LABEL_TEMPLATE.format(label=x) for x in LABELS], padding=True, return_tensors="pt")
    patch_head = geometry_head(cfg.vision_width)
    summary_head = torch.nn.Linear(cfg.projection, BACKGROUND_KIND * 3)
    params = [*model.parameters(), *patch_head.parameters(), *summary_head.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup, cfg.steps))
    start, cpu_start = time.time(), time.process_time()
    for step in range(1, cfg.steps + 1):
        pairs = [p for _ in range(cfg.groups) for p in scene_group(rng, cfg)]
        scenes, texts = [s for s, _ in pairs], [t for _, t in pairs]
        images = render_scenes(scenes)
        images = np.stack([degrade(a, rng) if rng.random() < cfg.degrade_share else a for a in images])
        crops, crop_labels = crop_batch(rng, cfg.crops, cfg.degrade_share)
        positive = torch.from_numpy(positives(scenes, texts))
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        pixels = pixel_tensor(np.concatenate([images, crops]))
        vision = model.get_image_features(pixel_values=pixels)
        image_emb = vision.pooler_output
        n = len(scenes)
        geometry = geometry_loss(patch_head, vision.last_hidden_state[:n, 1:], scenes, cfg.patch_size)
        geometry = geometry + summary_loss(summary_head(image_emb[:n]), scenes)
        text_emb = features(model.get_text_features(**enc))
        label_emb = features(model.get_text_features(**label_ids))
        image_emb = image_emb / image_emb.norm(dim=-1, keepdim=True)
        text_emb = text_emb / text_emb.norm(dim=-1, keepdim=True)
        label_emb = label_emb / label_emb.norm(dim=-1, keepdim=True)
        scale = model.logit_scale.clamp(max=np.log(100.0)).exp()
        logits = scale * image_emb[:n] @ text_emb.T
        contrastive = (soft_targets_loss(logits, positive) + soft_targets_loss(logits.T, positive.T)) / 2
        crop_logits = scale * image_emb[n:] @ label_emb.T
        crop_loss = torch.nn.functional.cross_entropy(crop_logits, torch.from_numpy(crop_labels))
        loss = contrastive + crop_loss + cfg.geometry_weight * geometry
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == 1:
            crop_acc = (crop_logits.argmax(1).numpy() == crop_labels).mean()
            print(
                f"step {step} loss {contrastive.item():.3f} crop {crop_loss.item():.3f} "
                f"geometry {geometry.item():.3f} "
                f"crop_acc {crop_acc:.2f} scale {scale.item():.1f} {time.time() - start:.0f}s",
                flush=True,
            )
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    write_model_card(out_dir, _card(), "finerewards.toyworld.train_clip:train", cfg, seconds, cpu_seconds)
    return out_dir


def _card() -> dict[str, Any]:
    """What `fr_model.json` says of the model besides its training record."""
    return {
        "library": "transformers",
        "class": "CLIPModel",
        "processor": "CLIPProcessor",
        "description": (
            "Tiny CLIP (ViT 64x64 patch 8, word-level tokenizer) trained contrastively on "
            "toy-world renders with near-miss negatives, prompts and captions, and on object "
            "crops labelled 'a {color} {shape}'."
        ),
        "image_size": SIZE,
        "labelling": {
            "labels": list(LABELS),
            "template": LABEL_TEMPLATE,
            "crop": (
                "finerewards.toyworld.scenes.crop_object(image, bbox): a square 1.5 x the "
                "object's longer box side, centred on the box, white outside the canvas, "
                "resized to 64 x 64 (bicubic)"
            ),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train toy:clip from scratch (seeded).")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--evaluate", action="store_true", help="only measure the model in --out")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    if args.evaluate:
        from finerewards.toyworld.clip_eval import evaluate

        print(json.dumps(evaluate(args.out), indent=2))
        return
    train(args.out, TrainSettings(steps=args.steps))


if __name__ == "__main__":
    main()
