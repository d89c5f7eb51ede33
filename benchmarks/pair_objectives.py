"""Which loss learns from selected own samples? RAFT against DPO on one fixed pool (issue 9).

    python benchmarks/pair_objectives.py pool            # 384 toy:train prompts x 4 samples
    python benchmarks/pair_objectives.py raft            # the denoising loss on the winners
    python benchmarks/pair_objectives.py dpo '{"learning_rate": 3e-4}'
    python benchmarks/pair_objectives.py binding         # DPO on colour-binding render pairs

`pool` samples `toy:sd` once (the toy preset's generation settings) and scores every image with
the exact oracle. The other commands train a fresh LoRA for 200 steps of the trainer's own
`train_round` (the toy preset's training settings, with the JSON overrides) on the pool's
prompts where the oracle's best candidate is satisfying and its worst is not: the winners alone
(`raft`), or (winner, loser) pairs (`dpo`). Then they print oracle accuracy on the balanced
`toy:test` evaluation (seeds 100,000 + i, as `tune_toy_preset.py` and `quality.py`). Figures:
docs/benchmarks.md, section `toy-preset-probes`.

`binding` asks whether the adapter can learn colour binding at all when the pairs show nothing
else: the same number of DPO pairs, each a ground-truth render of a `toy:train` color_attr
prompt against the same layout with the two objects' colours swapped.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import Evaluator  # noqa: E402

POOL = HERE / "results" / "tune" / "pair_pool.safetensors"
PROMPTS, K = 384, 4


def make_pool() -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from finerewards.fsutil import atomic_path
    from finerewards.toyworld.oracle import score
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.train.config import PRESETS, TrainConfig
    from finerewards.train.generate import generate_with_latents
    from finerewards.train.pipeline import load_pipeline

    config = TrainConfig.model_validate(PRESETS["toy"])
    rng = random.Random(0)
    prompts = rng.sample(load_prompt_set("train"), PROMPTS)
    texts = [p for p in prompts for _ in range(K)]
    seeds = [rng.randrange(10**9) for _ in texts]
    images, _ = generate_with_latents(load_pipeline("toy:sd"), texts, seeds, config.generation)
    scores = torch.tensor([score(p, im) for p, im in zip(texts, images)])
    pixels = torch.from_numpy(np.stack([np.asarray(im) for im in images]))
    POOL.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(POOL) as tmp:
        save_file({"pixels": pixels, "scores": scores}, str(tmp), metadata={"prompts": json.dumps(prompts)})
    print(json.dumps({"pool": len(texts), "satisfying": round(float((scores == 1.0).float().mean()), 3)}))


def pool_pairs() -> tuple[list[Any], list[Any], list[str]]:
    """(winners, losers, prompts): the pool's prompts whose oracle-best sample satisfies the
    prompt and whose worst does not."""
    from PIL import Image
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(POOL))
    with safe_open(str(POOL), "pt") as handle:
        prompts = json.loads(handle.metadata()["prompts"])
    scores = tensors["scores"].view(-1, K)
    images = [Image.fromarray(a.numpy()) for a in tensors["pixels"]]
    winners, losers, texts = [], [], []
    for i, prompt in enumerate(prompts):
        best, worst = int(scores[i].argmax()), int(scores[i].argmin())
        if scores[i, best] == 1.0 and scores[i, worst] < 1.0:
            winners.append(images[i * K + best])
            losers.append(images[i * K + worst])
            texts.append(prompt)
    return winners, losers, texts


def binding_pairs(count: int) -> tuple[list[Any], list[Any], list[str]]:
    """`count` (render, colour-swapped render) pairs of toy:train color_attr prompts naming two
    shapes in two colours (a swap of anything else would still satisfy the prompt)."""
    from dataclasses import replace

    from finerewards.toyworld.prompts import load_prompt_set, prompt_category
    from finerewards.toyworld.render import layout, render_scene

    rng = random.Random(0)
    prompts = [p for p in load_prompt_set("train") if prompt_category(p) == "color_attr"]
    winners, losers, texts = [], [], []
    for i in range(count):
        first, second = layout(prompt := rng.choice(prompts), i)
        while first.shape == second.shape or first.color == second.color:  # a swap must fail it
            first, second = layout(prompt := rng.choice(prompts), i)
        winners.append(render_scene([first, second]))
        losers.append(render_scene([replace(first, color=second.color), replace(second, color=first.color)]))
        texts.append(prompt)
    return winners, losers, texts


def train(objective: str, overrides: dict[str, Any]) -> None:
    from diffusers import DDPMScheduler

    from finerewards.toyworld.oracle import evaluate
    from finerewards.train.config import PRESETS, TrainConfig, deep_merge
    from finerewards.train.distributed import Dist
    from finerewards.train.finetune import encode_round, train_round
    from finerewards.train.lora import add_lora
    from finerewards.train.pipeline import load_pipeline

    winners, losers, texts = pool_pairs()
    if objective == "binding":  # as many pairs as the pool has, learned by DPO
        winners, losers, texts = binding_pairs(len(texts))
    loss = "dpo" if objective == "binding" else objective
    training = {**PRESETS["toy"]["training"], "steps_per_round": 200, "objective": loss, **overrides}
    config = TrainConfig.model_validate(deep_merge(PRESETS["toy"], {"training": training}))
    pipe = load_pipeline("toy:sd")
    params = add_lora(pipe.unet, config.lora, 1)
    data = encode_round(pipe, winners, texts, "cpu", 64)
    rejected = encode_round(pipe, losers, texts, "cpu", 64) if loss == "dpo" else None
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    train_round(pipe, params, data, config.training, scheduler, 0, Dist("cpu"), "cpu", None, rejected)
    pipe.unet.eval()
    evaluator = Evaluator(100, dict(PRESETS["toy"]["generation"]), accuracy_only=True)
    accuracy = evaluate(zip(evaluator.prompts, evaluator.sample_pipeline(pipe)))["accuracy"]
    figures = {k: round(v, 3) for k, v in accuracy.items()}
    print(json.dumps({"objective": objective, "pairs": len(texts), "overrides": overrides, **figures}))


def main() -> None:
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    command = sys.argv[1]
    if command == "pool":
        make_pool()
    else:
        train(command, json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})


if __name__ == "__main__":
    main()
