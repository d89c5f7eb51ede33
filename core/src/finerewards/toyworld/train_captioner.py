"""Train `toy:captioner`: a small transformers `BlipForConditionalGeneration` on toy-world renders.

Targets are canonical captions (`captions.caption`): every object named with its count, colour
and shape, and the relation of a two-object scene when it is clear, e.g. `two yellow circles
and a green triangle`, `a red circle to the left of a blue square`. Scenes are half random
(1 to 4 objects of any shapes and colours, many no prompt describes) and half renders of
toy:train prompts; a share is degraded like generated images. Scenes whose caption is a held-out
toy:test prompt (color_attr, position) are never trained on. Decoding is greedy (deterministic).

Rebuild with `fr toyworld train-models --only captioner`
(or `python -m finerewards.toyworld.train_captioner`).
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

from finerewards.toyworld.captions import caption
from finerewards.toyworld.render import layout
from finerewards.toyworld.scenes import Scene, degrade, random_scene, render_scenes
from finerewards.toyworld.trainkit import (
    MEAN,
    STD,
    geometry_head,
    geometry_loss,
    held_out_texts,
    init_patch_positions,
    lr_factor,
    pixel_tensor,
    train_prompts,
    write_model_card,
)
from finerewards.toyworld.world import CATEGORIES, SIZE

if TYPE_CHECKING:
    import torch

MODEL_DIR = Path(__file__).resolve().parent / "models" / "captioner"
SEED = 13
MAX_NEW_TOKENS = 24
RELATION_WORDS = ("to", "above", "below", "left", "right")
"""The caption tokens that decide a relation. A relation is one decision in a caption of about
ten tokens, in a quarter of the captions; `relation_weight` gives it a share of the loss."""


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 3000
    batch: int = 96
    prompt_share: float = 0.5
    degrade_share: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    vision_width: int = 128
    vision_layers: int = 4
    patch_size: int = 8
    text_width: int = 128
    text_layers: int = 3
    geometry_weight: float = 1.0
    """Weight of the training-only patch geometry loss (`trainkit.geometry_loss`)."""
    relation_weight: float = 5.0
    """Loss weight of the relation words (`RELATION_WORDS`) against 1 for every other token."""
    sincos_positions: bool = True
    """Start the ViT's patch positions at 2-D sine-cosine codes (`trainkit.init_patch_positions`)."""
    seed: int = SEED


def sample_scene(rng: random.Random, prompt_share: float) -> tuple[Scene, str]:
    """A training scene and its canonical caption (never a held-out test prompt)."""
    while True:
        if rng.random() < prompt_share:
            prompt = rng.choice(train_prompts()[rng.choice(CATEGORIES)])
            scene = layout(prompt, rng.getrandbits(31))
        else:
            scene = random_scene(rng)
        text = caption(scene)
        if text not in held_out_texts():
            return scene, text


def build_processor() -> Any:
    """BlipProcessor: 64 x 64 BlipImageProcessor (mean/std 0.5) + the word-level BertTokenizer."""
    from transformers import BlipImageProcessor, BlipProcessor

    from finerewards.toyworld.vocab import build_bert_tokenizer

    image_processor = BlipImageProcessor(
        size={"height": SIZE, "width": SIZE},
        image_mean=list(MEAN),
        image_std=list(STD),
        do_convert_rgb=True,
    )
    return BlipProcessor(image_processor=image_processor, tokenizer=build_bert_tokenizer())


def build_model(tokenizer: Any, cfg: TrainSettings) -> Any:
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipTextConfig, BlipVisionConfig

    text = BlipTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.text_width,
        encoder_hidden_size=cfg.vision_width,
        intermediate_size=2 * cfg.text_width,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        sep_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = BlipVisionConfig(
        hidden_size=cfg.vision_width,
        intermediate_size=2 * cfg.vision_width,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=4,
        image_size=SIZE,
        patch_size=cfg.patch_size,
        initializer_range=0.02,
    )
    config = BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict())
    model = BlipForConditionalGeneration(config)
    if cfg.sincos_positions:
        init_patch_positions(model.vision_model.embeddings.position_embedding, SIZE // cfg.patch_size)
    gen = model.generation_config
    gen.max_new_tokens, gen.num_beams, gen.do_sample = MAX_NEW_TOKENS, 1, False
    gen.bos_token_id, gen.eos_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    return model


def caption_loss(
    logits: torch.Tensor, labels: torch.Tensor, relation_ids: torch.Tensor, relation_weight: float
) -> torch.Tensor:
    """Next-token cross-entropy (as BLIP's own loss: shifted, padding ignored, no smoothing),
    with the relation words weighted `relation_weight`."""
    import torch

    targets = labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none"
    ).view_as(targets)
    weights = (targets != -100).float()
    weights = torch.where(torch.isin(targets, relation_ids), weights * relation_weight, weights)
    return (per_token * weights).sum() / weights.sum()


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
    relation_ids = torch.tensor(tokenizer.convert_tokens_to_ids(list(RELATION_WORDS)))
    head = geometry_head(cfg.vision_width)
    params = [*model.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup, cfg.steps))
    start, cpu_start = time.time(), time.process_time()
    for step in range(1, cfg.steps + 1):
        pairs = [sample_scene(rng, cfg.prompt_share) for _ in range(cfg.batch)]
        scenes = [s for s, _ in pairs]
        images = render_scenes(scenes)
        images = np.stack([degrade(a, rng) if rng.random() < cfg.degrade_share else a for a in images])
        enc = tokenizer([t for _, t in pairs], padding=True, return_tensors="pt")
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        out = model(
            pixel_values=pixel_tensor(images), input_ids=enc.input_ids, attention_mask=enc.attention_mask
        )
        text_loss = caption_loss(out.logits, labels, relation_ids, cfg.relation_weight)
        aux = geometry_loss(head, out.last_hidden_state[:, 1:], scenes, cfg.patch_size)
        loss = text_loss + cfg.geometry_weight * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == 1:
            print(
                f"step {step} loss {text_loss.item():.4f} geometry {aux.item():.4f} "
                f"{time.time() - start:.0f}s",
                flush=True,
            )
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    write_model_card(
        out_dir, _card(), "finerewards.toyworld.train_captioner:train", cfg, seconds, cpu_seconds
    )
    return out_dir


def _card() -> dict[str, Any]:
    """What `fr_model.json` says of the model besides its training record."""
    return {
        "library": "transformers",
        "class": "BlipForConditionalGeneration",
        "processor": "BlipProcessor",
        "description": (
            "Tiny BLIP captioner (ViT 64x64 patch 8, word-level BERT decoder) trained on "
            "toy-world renders to write canonical captions; greedy decoding."
        ),
        "image_size": SIZE,
        "caption_grammar": (
            "groups of equal (colour, shape) in palette then shape order, each 'a {color} "
            "{shape}' or '{n} {color} {shape}s', joined by ' and '; two different objects "
            "with a clear relation: 'a {color} {shape} {relation} a {color} {shape}' "
            "(finerewards.toyworld.captions)"
        ),
        "generation": {"num_beams": 1, "do_sample": False, "max_new_tokens": MAX_NEW_TOKENS},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train toy:captioner from scratch (seeded).")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--relation-weight", type=float, default=TrainSettings.relation_weight)
    parser.add_argument("--evaluate", action="store_true", help="only measure the model in --out")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    if args.evaluate:
        from finerewards.toyworld.captioner_eval import evaluate

        print(json.dumps(evaluate(args.out), indent=2))
        return
    train(args.out, TrainSettings(steps=args.steps, relation_weight=args.relation_weight))


if __name__ == "__main__":
    main()
