"""Train `toy:sam`: a small segment-anything `Sam` on toy-world renders, the way SAM is trained.

Data: random valid scenes (1 to 4 flat objects on white, TOYWORLD.md), half of them degraded
like generated images (per-object colour shifts, blur, pixel noise, brightness jitter, faint grey
smudges on the background), so the model also segments imperfect generations.

Prompts: single foreground points (label 1), as `SamAutomaticMaskGenerator` gives them. A point
on an object must return that object's mask; a point on the background returns the whole
background region (every pixel outside the objects, smudges included), so the generator yields
one background-sized mask per image that the SAM plugin recognises and drops.

Loss (SAM paper): focal (x20) + dice (x1) on the masks; with the three multimask outputs only
the best one is back-propagated, the single-mask output (token 0) is always trained; the IoU
head learns the real IoU of every output (MSE), which is what the generator filters on.

Rebuild with `fr toyworld train-models --only sam` (or `python -m finerewards.toyworld.train_sam`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finerewards.toyworld.render import SceneObject, render_array, scene_problems, shape_mask
from finerewards.toyworld.trainkit import lr_factor, write_model_card
from finerewards.toyworld.world import COLORS, MARGIN, MAX_OBJECTS, MAX_SIDE, MIN_SIDE, SHAPES, SIZE

if TYPE_CHECKING:
    import torch

MODEL_DIR = Path(__file__).resolve().parent / "models" / "sam"
SEED = 5
GENERATOR_SETTINGS: dict[str, Any] = {
    "points_per_side": 16,
    "points_per_batch": 256,
    "pred_iou_thresh": 0.88,
    "stability_score_thresh": 0.92,
    "stability_score_offset": 1.0,
    "box_nms_thresh": 0.7,
    "min_mask_region_area": 0,
}
"""Recommended `SamAutomaticMaskGenerator` arguments (also written into sam_builder.json)."""
MIN_AREA = 20
"""Drop generator masks smaller than this (px), like the oracle's smallest object."""
BACKGROUND_MIN_FRACTION = 0.5
"""A mask covering at least this share of the image is the background region, not a part."""


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 2000
    batch_images: int = 8
    points_per_image: int = 8
    background_share: float = 0.25
    augment_share: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    polish_steps: int = 300
    """Second phase, fresh AdamW at `polish_lr`: SAM's loss plus the two terms below."""
    polish_lr: float = 3e-4
    all_outputs_weight: float = 0.5
    hard_pixels: int = 8
    seed: int = SEED


# --- data ------------------------------------------------------------------------------------


def random_scene(rng: random.Random) -> list[SceneObject]:
    """A valid ground-truth scene of 1 to MAX_OBJECTS random objects (rejection sampling)."""
    while True:
        count = rng.randint(1, MAX_OBJECTS)
        placed: list[SceneObject] = []
        for _ in range(count * 50):
            size = rng.randint(MIN_SIDE, MAX_SIDE)
            obj = SceneObject(
                rng.choice(SHAPES),
                rng.choice(COLORS),
                size,
                rng.randint(MARGIN, SIZE - MARGIN - size),
                rng.randint(MARGIN, SIZE - MARGIN - size),
            )
            if not scene_problems([*placed, obj]):
                placed.append(obj)
                if len(placed) == count:
                    return placed


def object_masks(objects: list[SceneObject]) -> np.ndarray:
    """(n, SIZE, SIZE) bool masks of the objects, in the scene's order."""
    masks = np.zeros((len(objects), SIZE, SIZE), dtype=bool)
    for i, obj in enumerate(objects):
        masks[i, obj.y : obj.y + obj.size, obj.x : obj.x + obj.size] = shape_mask(obj.shape, obj.size)
    return masks


def degrade(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A generated-looking copy of a flat render: colour shifts, smudges, blur, noise (uint8)."""
    out = image.astype(np.float32)
    for mask in masks:
        out[mask] += rng.normal(0.0, 18.0, size=3)
    if rng.random() < 0.4:
        out = _smudge(out, np.asarray(masks.any(0)), rng)
    out = out * rng.uniform(0.9, 1.05) + rng.uniform(-10.0, 10.0)
    sigma = rng.uniform(0.0, 1.0)
    if sigma > 0.3:
        out = _blur(out, sigma)
    out += rng.normal(0.0, rng.uniform(0.0, 8.0), size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _smudge(image: np.ndarray, objects: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A faint grey blob on the background (what a diffusion model leaves behind)."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    cx, cy, r = rng.uniform(4, SIZE - 4), rng.uniform(4, SIZE - 4), rng.uniform(2, 6)
    blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)) * rng.uniform(20, 60)
    blob[objects] = 0.0
    return image - blob[..., None]


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    radius = 2
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma * sigma))
    taps /= taps.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sum(w * padded[:, i : i + SIZE] for i, w in enumerate(taps))
    return sum(w * rows[i : i + SIZE] for i, w in enumerate(taps))


def sample_image(
    rng: random.Random, nprng: np.random.Generator, augment_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 HxWx3, object masks) of one random scene, degraded with `augment_share`."""
    objects = random_scene(rng)
    masks = object_masks(objects)
    image = render_array(objects)
    if nprng.random() < augment_share:
        image = degrade(image, masks, nprng)
    return image, masks


def sample_points(
    masks: np.ndarray, count: int, background_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` (x, y) prompts and their target masks: a random pixel of an object or of the
    background, jittered within the pixel."""
    background = np.asarray(~masks.any(0))
    targets = np.concatenate([masks, background[None]], 0)
    points = np.zeros((count, 2), dtype=np.float32)
    chosen = np.zeros((count, SIZE, SIZE), dtype=bool)
    for i in range(count):
        k = len(masks) if rng.random() < background_share else int(rng.integers(len(masks)))
        ys, xs = np.nonzero(targets[k])
        j = int(rng.integers(len(xs)))
        points[i] = (xs[j] + rng.uniform(-0.5, 0.5), ys[j] + rng.uniform(-0.5, 0.5))
        chosen[i] = targets[k]
    return points, chosen


# --- loss ------------------------------------------------------------------------------------


def mask_losses(logits: torch.Tensor, target: torch.Tensor, hard_pixels: int = 0) -> torch.Tensor:
    """SAM's 20 * focal + dice per mask: logits (P, M, H, W), target (P, H, W) -> (P, M).

    `hard_pixels` > 0 adds the mean cross-entropy of each mask's worst pixels: a few stray
    pixels barely move focal or dice, yet they stretch a mask's box so that the generator's box
    NMS keeps the mask as a second, spurious copy of its object.
    """
    import torch.nn.functional as F

    t = target[:, None].expand_as(logits).float()
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = prob * t + (1 - prob) * (1 - t)
    alpha_t = 0.25 * t + 0.75 * (1 - t)
    focal = (alpha_t * ce * (1 - p_t) ** 2).flatten(2).mean(-1)
    inter = (prob * t).flatten(2).sum(-1)
    dice = 1 - (2 * inter + 1) / (prob.flatten(2).sum(-1) + t.flatten(2).sum(-1) + 1)
    loss = 20 * focal + dice
    if hard_pixels:
        loss = loss + ce.flatten(2).topk(hard_pixels, dim=-1).values.mean(-1)
    return loss


def real_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of each binarised output (logit > 0) with the target: (P, M)."""
    pred = logits > 0
    t = target[:, None]
    inter = (pred & t).flatten(2).sum(-1).float()
    union = (pred | t).flatten(2).sum(-1).float()
    return inter / union.clamp(min=1)


def decode(sam: Any, embeddings: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four mask outputs and IoU predictions for one point prompt per row.

    `embeddings` (P, C, h, w) holds the image embedding of each prompt's image, so prompts of
    many images go through the decoder in one batch. This is `MaskDecoder.predict_masks` with
    the per-image `repeat_interleave` done by the caller (a test checks both agree); the
    modules are the library's own.
    """
    import torch

    dec = sam.mask_decoder
    labels = torch.ones(points.shape[0], 1, dtype=torch.int)
    sparse, dense = sam.prompt_encoder(points=(points[:, None], labels), boxes=None, masks=None)
    output_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)
    tokens = torch.cat((output_tokens[None].expand(sparse.size(0), -1, -1), sparse), dim=1)
    src = embeddings + dense
    pos_src = sam.prompt_encoder.get_dense_pe().expand(src.shape[0], -1, -1, -1)
    b, c, h, w = src.shape
    hs, src = dec.transformer(src, pos_src, tokens)
    mask_tokens_out = hs[:, 1 : 1 + dec.num_mask_tokens]
    upscaled = dec.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
    hyper = torch.stack(
        [mlp(mask_tokens_out[:, i]) for i, mlp in enumerate(dec.output_hypernetworks_mlps)], dim=1
    )
    b, c, h, w = upscaled.shape
    masks = (hyper @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
    return masks, dec.iou_prediction_head(hs[:, 0])


def batch_loss(
    sam: Any,
    images: torch.Tensor,
    points: torch.Tensor,
    targets: torch.Tensor,
    all_outputs_weight: float = 0.0,
    hard_pixels: int = 0,
) -> torch.Tensor:
    """Loss of a batch: images (B, 3, H, W) 0..255, points (B, K, 2), targets (B, K, H, W).

    Mask loss: the single output (token 0) + the best of the three multimask outputs (SAM's
    rule) + `all_outputs_weight` x their mean: a toy-world point is never ambiguous (flat
    objects, no parts), and an output left untrained drifts into a near-copy of the object
    that the generator keeps as a spurious mask. IoU head: MSE to every output's real IoU.
    """
    import torch.nn.functional as F

    embeddings = sam.image_encoder(sam.preprocess(images))
    k = points.shape[1]
    logits, iou_pred = decode(sam, embeddings.repeat_interleave(k, 0), points.flatten(0, 1))
    flat_targets = targets.flatten(0, 1)
    losses = mask_losses(logits, flat_targets, hard_pixels)
    multi = losses[:, 1:]
    mask_loss = losses[:, 0] + multi.min(dim=1).values + all_outputs_weight * multi.mean(dim=1)
    iou = real_iou(logits.detach(), flat_targets)
    return mask_loss.mean() + F.mse_loss(iou_pred, iou)


# --- training --------------------------------------------------------------------------------


def train(
    out_dir: str | Path = MODEL_DIR,
    settings: TrainSettings | None = None,
    log_every: int = 100,
    save_every: int = 0,
    init_from: str | Path | None = None,
) -> Path:
    """Train from scratch with a fixed seed and write the model folder; returns its path."""
    import torch

    from finerewards.toyworld.sam_builder import GENERATOR_KEY, build_sam, default_settings, save_sam

    cfg = settings or TrainSettings()
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    rng, nprng = random.Random(cfg.seed), np.random.default_rng(cfg.seed)
    builder = default_settings()
    sam = build_sam(builder).train()
    if init_from is not None:  # experiments only: the shipped model is trained from scratch
        from safetensors.torch import load_file

        sam.load_state_dict(load_file(str(Path(init_from) / "model.safetensors")))
    phases = [  # (steps, lr, warmup, all-outputs weight, hard pixels)
        (cfg.steps, cfg.lr, cfg.warmup, 0.0, 0),
        (cfg.polish_steps, cfg.polish_lr, min(10, cfg.polish_steps), cfg.all_outputs_weight, cfg.hard_pixels),
    ]
    start, cpu_start = time.time(), time.process_time()
    step = 0
    for steps, lr, warmup, all_outputs, hard in phases:
        opt = torch.optim.AdamW(sam.parameters(), lr=lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(lr_factor, warmup=warmup, total=steps))
        for _ in range(steps):
            step += 1
            images, points, targets = [], [], []
            for _ in range(cfg.batch_images):
                image, masks = sample_image(rng, nprng, cfg.augment_share)
                pts, tgt = sample_points(masks, cfg.points_per_image, cfg.background_share, nprng)
                images.append(image)
                points.append(pts)
                targets.append(tgt)
            batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
            loss = batch_loss(
                sam,
                batch,
                torch.from_numpy(np.stack(points)),
                torch.from_numpy(np.stack(targets)),
                all_outputs,
                hard,
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(sam.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % log_every == 0 or step == 1:
                print(f"step {step} loss {loss.item():.4f} {time.time() - start:.0f}s", flush=True)
            if save_every and step % save_every == 0:
                save_sam(sam, {**builder, GENERATOR_KEY: GENERATOR_SETTINGS}, out_dir / f"step{step}")
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    save_sam(sam.eval(), {**builder, GENERATOR_KEY: GENERATOR_SETTINGS}, out_dir)
    write_model_card(out_dir, _card(), "finerewards.toyworld.train_sam:train", cfg, seconds, cpu_seconds)
    return out_dir


def _card() -> dict[str, Any]:
    """What `fr_model.json` says of the model besides its training record."""
    return {
        "library": "segment-anything",
        "class": "Sam",
        "description": (
            "Tiny Segment Anything (ViT 96x4 on 64x64 inputs, 4-px patches; two-way transformer "
            "64x2) trained on toy-world renders: an object point returns the object, a background "
            "point the whole background. Load with finerewards.toyworld.sam_builder.load_sam."
        ),
        "files": {"settings": "sam_builder.json", "weights": "model.safetensors"},
        "generator": {**GENERATOR_SETTINGS, "min_area": MIN_AREA},
    }


# --- evaluation ------------------------------------------------------------------------------


def eval_scenes(count: int, seed: int = 1000) -> list[list[SceneObject]]:
    """Ground-truth layouts of `toy:test` prompts drawn with `seed` (the renderer's own scene
    sampler, not the training one), one render seed per scene."""
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.toyworld.render import layout

    prompts = load_prompt_set("test")
    rng = random.Random(seed)
    return [layout(rng.choice(prompts), seed + i) for i in range(count)]


def match_masks(pred: list[np.ndarray], objects: np.ndarray) -> dict[str, int]:
    """Counts for one image: objects found at IoU >= 0.8, background found, spurious masks.

    A mask is background when it covers >= BACKGROUND_MIN_FRACTION of the image. Every other
    mask is matched to its best object; it is spurious when that IoU is < 0.5 or when a better
    mask already took the object (a duplicate).
    """
    fg = [m for m in pred if m.mean() < BACKGROUND_MIN_FRACTION]
    bg = [m for m in pred if m.mean() >= BACKGROUND_MIN_FRACTION]
    background = np.asarray(~objects.any(0))
    ious = np.array([[_iou(m, o) for o in objects] for m in fg]).reshape(len(fg), len(objects))
    found = int((ious.max(0) >= 0.8).sum()) if len(fg) else 0
    spurious, taken = 0, set()
    for i in np.argsort(-ious.max(1)) if len(fg) else []:
        j = int(ious[i].argmax())
        if ious[i, j] < 0.5 or j in taken:
            spurious += 1
        taken.add(j)
    return {
        "objects": len(objects),
        "found": found,
        "spurious": spurious,
        "background_masks": len(bg),
        "background_found": int(any(_iou(m, background) >= 0.8 for m in bg)),
    }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def evaluate(
    folder: str | Path = MODEL_DIR, images: int = 200, seed: int = 1000, degraded: bool = False
) -> dict[str, Any]:
    """Figures of the automatic mask generator (shipped settings, masks >= MIN_AREA px) on
    held-out renders: object recall at IoU >= 0.8, spurious masks per image, background share."""
    from finerewards.toyworld.sam_builder import mask_generator

    generator = mask_generator(folder)
    nprng = np.random.default_rng(seed)
    totals: dict[str, int] = {}
    start = time.time()
    for objects in eval_scenes(images, seed):
        masks = object_masks(objects)
        image = render_array(objects)
        if degraded:
            image = degrade(image, masks, nprng)
        pred = [r["segmentation"] for r in generator.generate(image) if r["area"] >= MIN_AREA]
        for key, value in match_masks(pred, masks).items():
            totals[key] = totals.get(key, 0) + value
    return {
        "images": images,
        "degraded": degraded,
        "recall_iou80": totals["found"] / totals["objects"],
        "spurious_per_image": totals["spurious"] / images,
        "background_found": totals["background_found"] / images,
        "background_masks_per_image": totals["background_masks"] / images,
        "seconds_per_image": (time.time() - start) / images,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train toy:sam from scratch (seeded).")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--evaluate", type=int, metavar="IMAGES", help="only measure the model in --out")
    parser.add_argument("--save-every", type=int, default=0, help="also save checkpoints under --out")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on busy cores)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.evaluate:
        for degraded in (False, True):
            print(json.dumps(evaluate(args.out, args.evaluate, degraded=degraded)))
        return
    train(args.out, TrainSettings(steps=args.steps), save_every=args.save_every)


if __name__ == "__main__":
    main()
