"""Train `toy:itm`: a small transformers `BlipForImageTextRetrieval` (BLIP image-text matching)
on toy-world renders, the toy model of the `blip-itm` baseline reward.

It starts from `toy:captioner` (the same BLIP vision tower; its text decoder's weights start
the bidirectional text encoder), as BLIP's ITM starts from its pre-trained encoders, and learns
BLIP's two objectives: ITM (does this text describe this image? a 2-way head on the text
encoder's first token, cross-attending to the image) and ITC (contrastive, projected unimodal
first tokens). Batches are groups of a scene and its near misses (`train_clip.scene_group`:
an object missing, recoloured, reshaped, added, colours swapped, the relation mirrored), every
image against every text of its group, labelled by the world's rules (`captions.describes`):
hard negatives by construction (BLIP mines its own by ITC similarity). A share of images is
degraded like generated ones.
The first token is [CLS] (the toy tokenizer has no [ENC]): the reward's toy preset says
`first_token = "cls"`.

Texts in `toy:test`'s held-out categories (color_attr, position) are never trained on.
Rebuild with `fr toyworld train-models --only itm` (or `python -m finerewards.toyworld.train_itm`).
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

from finerewards.models import resolve_model
from finerewards.toyworld.scenes import degrade, render_scenes
from finerewards.toyworld.train_clip import TrainSettings as ClipSettings
from finerewards.toyworld.train_clip import positives, scene_group, soft_targets_loss
from finerewards.toyworld.trainkit import lr_factor, pixel_tensor, write_model_card

if TYPE_CHECKING:
    import torch

MODEL_DIR = Path(__file__).resolve().parent / "models" / "itm"
SEED = 17


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 600
    groups: int = 16
    """Scene groups per batch (a scene and up to `variants` near misses each)."""
    variants: int = 3
    prompt_share: float = 0.6
    degrade_share: float = 0.3
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup: int = 50
    itc_weight: float = 0.5
    temperature: float = 0.07
    """ITC softmax temperature (BLIP learns it from 0.07; fixed here)."""
    seed: int = SEED


def build_model(captioner: str = "toy:captioner") -> tuple[Any, Any]:
    """(BlipForImageTextRetrieval, BlipProcessor) initialised from the toy captioner."""
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipForImageTextRetrieval,
        BlipProcessor,
    )

    folder = resolve_model(captioner)
    source = BlipForConditionalGeneration.from_pretrained(folder)
    source_config: Any = source.config
    # `is_decoder` stays true, as in the published BLIP configs: it builds the cross-attention
    # layers; the text encoder's forward is bidirectional unless asked otherwise.
    config = BlipConfig(
        text_config=source_config.text_config.to_dict(),
        vision_config=source_config.vision_config.to_dict(),
        image_text_hidden_size=source_config.text_config.hidden_size,
    )
    model = BlipForImageTextRetrieval(config)
    model.vision_model.load_state_dict(source.vision_model.state_dict())
    model.text_encoder.load_state_dict(source.text_decoder.bert.state_dict())
    return model, BlipProcessor.from_pretrained(folder)


def itm_logits(
    model: Any, image_embeds: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """ITM logits (pairs, 2) of image embedding i with text i, computed as the `blip-itm`
    reward does: the text's first token, cross-attending to the image, into the ITM head."""
    import torch

    hidden = model.text_encoder(
        input_ids=input_ids,
        attention_mask=mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long),
    ).last_hidden_state
    return model.itm_head(hidden[:, 0, :])


def sample_batch(
    rng: random.Random, cfg: TrainSettings
) -> tuple[np.ndarray, list[str], np.ndarray, list[int]]:
    """(images, texts, truth (images x texts), group id of each image) for one step."""
    sampling = ClipSettings(variants=cfg.variants, prompt_share=cfg.prompt_share)
    scenes, texts, groups = [], [], []
    for g in range(cfg.groups):
        for scene, text in scene_group(rng, sampling):
            scenes.append(scene)
            texts.append(text)
            groups.append(g)
    images = render_scenes(scenes)
    images = np.stack([degrade(a, rng) if rng.random() < cfg.degrade_share else a for a in images])
    return images, texts, positives(scenes, texts), groups


def train(
    out_dir: str | Path = MODEL_DIR, settings: TrainSettings | None = None, log_every: int = 50
) -> Path:
    """Fine-tune from toy:captioner with a fixed seed; save model + processor + fr_model.json."""
    import torch
    import torch.nn.functional as F

    cfg = settings or TrainSettings()
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model, processor = build_model()
    model.train()
    tokenizer = processor.tokenizer
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup, cfg.steps))
    start, cpu_start = time.time(), time.process_time()
    for step in range(1, cfg.steps + 1):
        images, texts, truth, groups = sample_batch(rng, cfg)
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        image_embeds = model.vision_model(pixel_values=pixel_tensor(images)).last_hidden_state
        # ITM: every image against every text of its group (hard negatives).
        pairs = [(i, j) for i in range(len(texts)) for j in range(len(texts)) if groups[i] == groups[j]]
        rows = torch.tensor([i for i, _ in pairs])
        cols = torch.tensor([j for _, j in pairs])
        labels = torch.from_numpy(truth[rows.numpy(), cols.numpy()]).long()
        logits = itm_logits(model, image_embeds[rows], enc.input_ids[cols], enc.attention_mask[cols])
        per_pair = F.cross_entropy(logits, labels, reduction="none")
        positive = labels == 1
        itm = 0.5 * (per_pair[positive].mean() + per_pair[~positive].mean())  # balanced classes
        # ITC: unimodal first tokens, projected, against every text of the batch.
        text_cls = model.text_encoder(
            input_ids=enc.input_ids, attention_mask=enc.attention_mask
        ).last_hidden_state
        image_feat = F.normalize(model.vision_proj(image_embeds[:, 0, :]), dim=-1)
        text_feat = F.normalize(model.text_proj(text_cls[:, 0, :]), dim=-1)
        sims = image_feat @ text_feat.T / cfg.temperature
        target = torch.from_numpy(truth)
        itc = 0.5 * (soft_targets_loss(sims, target) + soft_targets_loss(sims.T, target.T))
        loss = itm + cfg.itc_weight * itc
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == 1:
            accuracy = (logits.argmax(-1) == labels).float().mean().item()
            print(
                f"step {step} itm {itm.item():.4f} (pair accuracy {accuracy:.3f}) itc {itc.item():.4f} "
                f"{time.time() - start:.0f}s",
                flush=True,
            )
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    write_model_card(out_dir, _card(), "finerewards.toyworld.train_itm:train", cfg, seconds, cpu_seconds)
    return out_dir


def evaluate(folder: str | Path = MODEL_DIR, per_category: int | None = None) -> dict[str, Any]:
    """Share of (satisfying render, near miss) pairs of toy:test prompts (renders never trained
    on) in which the satisfying one gets the higher ITM match probability, by kind of near miss."""
    import torch
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    from finerewards.toyworld.clip_eval import eval_cases
    from finerewards.toyworld.render import render_scene

    model = BlipForImageTextRetrieval.from_pretrained(str(folder)).eval()
    tokenizer = BlipProcessor.from_pretrained(str(folder)).tokenizer
    cases = eval_cases(1, per_category)
    items = [(p, s) for p, s, _ in cases] + [(p, v) for p, _, misses in cases for v in misses.values()]
    scores = []
    with torch.inference_mode():
        for start in range(0, len(items), 256):
            chunk = items[start : start + 256]
            pixels = pixel_tensor(np.stack([np.asarray(render_scene(s)) for _, s in chunk]))
            enc = tokenizer([p for p, _ in chunk], padding=True, return_tensors="pt")
            image_embeds = model.vision_model(pixel_values=pixels).last_hidden_state
            probs = itm_logits(model, image_embeds, enc.input_ids, enc.attention_mask).softmax(-1)[:, 1]
            scores += probs.tolist()
    index = {id(s): i for i, (_, s) in enumerate(items)}
    wins: dict[str, list[bool]] = {}
    for _prompt, scene, misses in cases:
        for kind, variant in misses.items():
            wins.setdefault(kind, []).append(scores[index[id(scene)]] > scores[index[id(variant)]])
    satisfying = [scores[index[id(s)]] for _, s, _ in cases]
    return {
        "cases": len(cases),
        "pair_win": {k: float(np.mean(v)) for k, v in sorted(wins.items())},
        "pair_n": {k: len(v) for k, v in sorted(wins.items())},
        "satisfying_mean_probability": float(np.mean(satisfying)),
    }


def _card() -> dict[str, Any]:
    return {
        "library": "transformers",
        "class": "BlipForImageTextRetrieval",
        "processor": "BlipProcessor",
        "description": (
            "Tiny BLIP image-text matching model (ViT 64x64 patch 8, word-level BERT encoder with "
            "cross-attention), fine-tuned from toy:captioner with BLIP's ITM and ITC losses on "
            "toy-world scenes and their near misses; the first token is [CLS]."
        ),
        "first_token": "cls",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train toy:itm from toy:captioner (seeded).")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--evaluate", action="store_true", help="only measure the model in --out")
    args = parser.parse_args(argv)
    if args.evaluate:
        print(json.dumps(evaluate(args.out), indent=2))
        return
    train(args.out, TrainSettings(steps=args.steps))
    print(json.dumps(evaluate(args.out), indent=2))


if __name__ == "__main__":
    main()
