"""Does the fine-tuning step itself move `toy:sd`, whatever the reward? (issue 9's loop check)

    python benchmarks/finetune_drift.py SOURCE ['{"training": {"target": "images"}}']

Runs the toy preset's rounds (its prompts per round, K and LoRA, the RAFT training settings it
had before it moved to DPO, and the JSON overrides given) outside `fr train`, training each
round on one of:
- `gt`: ground-truth renders of the round's prompts (the data toy:sd was trained on);
- `self`: one sample of the model per prompt, unselected (pure self-consumption drift);
- `oracle`: the best of K samples by the exact oracle.
Then prints oracle accuracy on balanced `toy:test` prompts (about 100 images per category,
seeds 1,000,000 + i: compare runs with each other, and with `gt` at 1e-12 learning rate for
the base on these seeds). Figures: docs/benchmarks.md, section `toy-preset-probes`.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import balanced_prompts

EVAL_SEED = 1_000_000
RAFT = {"training": {"objective": "raft", "steps_per_round": 10, "learning_rate": 1e-4}}
"""The toy preset's training before it moved to DPO: what the documented probes ran."""


def main() -> None:
    import torch
    from diffusers import DDPMScheduler

    from finerewards.toyworld.oracle import evaluate, score
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.toyworld.render import render
    from finerewards.toyworld.sd_quality import generation_settings, sample
    from finerewards.train.config import PRESETS, TrainConfig, deep_merge
    from finerewards.train.distributed import Dist
    from finerewards.train.finetune import embed_round, encode_round, train_round
    from finerewards.train.generate import generate_with_latents
    from finerewards.train.lora import add_lora
    from finerewards.train.pipeline import load_pipeline

    source = sys.argv[1]
    overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    cfg = TrainConfig.model_validate(deep_merge(deep_merge(PRESETS["toy"], RAFT), overrides))
    pipe = load_pipeline("toy:sd")
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    params = add_lora(pipe.unet, cfg.lora, 1)
    pipe.unet.eval()
    train, rng, dist = load_prompt_set("train"), random.Random(0), Dist("cpu")
    for index in range(cfg.rounds):
        prompts = rng.sample(train, cfg.prompts_per_round)
        if source == "gt":
            images = [render(p, seed=rng.randrange(10**9)) for p in prompts]
            data = encode_round(pipe, images, prompts, "cpu", 64)
        else:
            k = 1 if source == "self" else cfg.images_per_prompt
            texts = [p for p in prompts for _ in range(k)]
            seeds = [rng.randrange(10**9) for _ in texts]
            images, latents = generate_with_latents(pipe, texts, seeds, cfg.generation)
            best = [
                max(range(i * k, (i + 1) * k), key=lambda j: score(p, images[j]))
                for i, p in enumerate(prompts)
            ]
            if cfg.training.target == "images":
                data = encode_round(pipe, [images[j] for j in best], prompts, "cpu", 64)
            else:
                data = embed_round(pipe, [latents[j] for j in best], prompts, "cpu", 64)
        loss = train_round(pipe, params, data, cfg.training, noise_scheduler, 100 + index, dist, "cpu")
        pipe.unet.eval()
        print(json.dumps({"round": index, "loss": round(loss, 4)}), flush=True)
    evaluation = balanced_prompts(100)
    arrays = sample(pipe, evaluation, [EVAL_SEED + i for i in range(len(evaluation))], generation_settings())
    accuracy = evaluate(zip(evaluation, arrays))["accuracy"]
    print(
        json.dumps(
            {"source": source, "overrides": overrides, **{k: round(v, 3) for k, v in accuracy.items()}}
        )
    )


if __name__ == "__main__":
    main()
