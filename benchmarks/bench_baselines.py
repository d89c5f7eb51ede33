"""fr-baselines benchmark: batched scoring against batch size 1 on a CPU.

    python benchmarks/bench_baselines.py                    # six rewards + CLIP ViT-L/14 (random weights)
    python benchmarks/bench_baselines.py --no-paper-clip    # the six rewards only (seconds)

For each reward: the same reward object, the same images (toy-world renders with their prompts),
scored in chunks of 1 and in chunks of the spec's batch size; images/s is the best of
`--repeats` passes (11) after a warm-up, the two sizes taking turns. Threads: torch's default
(every core of the machine, as `fr train` runs), and the speed-up again on `--compare-threads`
(1) threads. Models: the toy preset's model where the reward has one (toy:clip for `clip`,
toy:itm for `blip-itm`), toy:clip's towers under a random head for pickscore, hpsv2 and
aesthetic, and small random models in the published formats at toy scale (64 px, width 64;
fr_baselines.tiny) for imagereward - loaded through each reward's real loading path. The last
reward row is a CLIPModel built from openai/clip-vit-large-patch14's config (speed does not
depend on the weights), to show what batching buys on a CPU when the model, not the per-call
overhead, dominates. Writes benchmarks/results/baselines.json and the `fr-baselines` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mdsections import machine, run_like_fr, write_section  # noqa: E402

RESULTS = HERE / "results"
REWARDS = ("clip", "pickscore", "hpsv2", "imagereward", "aesthetic", "blip-itm")
GOAL = 3.0


def inputs(n: int) -> tuple[list[Any], list[str]]:
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.toyworld.render import render

    prompts = [str(getattr(p, "text", p)) for p in load_prompt_set("test")][:n]
    prompts = (prompts * (n // max(len(prompts), 1) + 1))[:n]
    return [render(p, seed=i) for i, p in enumerate(prompts)], prompts


def build(name: str, root: Path) -> tuple[Any, str, int]:
    from finerewards.models import toy_model_names
    from finerewards.registry import get_registry
    from fr_baselines import tiny

    spec = get_registry().reward(name)
    toy = spec.presets.get("toy")
    if toy and toy.get("model") in toy_model_names():  # clip (toy:clip), blip-itm (toy:itm)
        reward, models = spec.build(spec.resolve_options("toy")), str(toy["model"])
    elif "toy:clip" in toy_model_names() and name in ("pickscore", "hpsv2", "aesthetic"):
        options = tiny.build_on_clip(root, name, "toy:clip")
        reward, models = spec.build(spec.resolve_options("paper", options)), "toy:clip towers (+ random head)"
    else:
        options = tiny.build(root, name)
        reward, models = spec.build(spec.resolve_options("paper", options)), "tiny random (fr_baselines.tiny)"
    reward.setup("cpu", "float32")
    return reward, models, spec.batch_size


def paper_clip(root: Path) -> tuple[Any, str, int]:
    """CLIPScore on a random CLIPModel of openai/clip-vit-large-patch14's published config."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    from finerewards.published_configs import CLIP_VIT_L_14
    from finerewards.registry import get_registry
    from fr_baselines import tiny

    folder = root / "clip-vit-l14"
    byte_vocabulary = {"vocab_size": 514, "bos_token_id": 512, "eos_token_id": 513, "pad_token_id": 513}
    config = CLIPConfig(
        **{**CLIP_VIT_L_14, "text_config": {**CLIP_VIT_L_14["text_config"], **byte_vocabulary}}
    )  # vocabulary cut to the byte tokenizer's 514 entries; everything else as published
    CLIPModel(config).save_pretrained(folder)
    tiny._clip_tokenizer(folder)
    CLIPImageProcessorPil().save_pretrained(folder)
    spec = get_registry().reward("clip")
    reward = spec.build(spec.resolve_options("paper", {"model": str(folder)}))
    reward.setup("cpu", "float32")
    return reward, "random CLIP ViT-L/14 (published config)", 8


def best_rates(
    run: Callable[[int, int], object], total: int, sizes: tuple[int, ...], repeats: int
) -> list[float]:
    """Best items/s over `repeats` passes for each chunk size in `sizes`; `run(start, size)`
    processes items [start, start + size). After a warm-up, the sizes take turns within each
    repeat, so that a slow spell of this shared machine hits all of them alike."""
    for size in sizes:
        run(0, size)
    best = [float("inf")] * len(sizes)
    for _ in range(repeats):
        for k, size in enumerate(sizes):
            start = time.perf_counter()
            for i in range(0, total, size):
                run(i, size)
            best[k] = min(best[k], time.perf_counter() - start)
    return [total / seconds for seconds in best]


def rate(
    reward: Any, images: list[Any], prompts: list[str], sizes: tuple[int, ...], repeats: int
) -> list[float]:
    """A reward's best images/s at each chunk size in `sizes` (`best_rates`)."""
    return best_rates(
        lambda i, n: reward.score(images[i : i + n], prompts[i : i + n]), len(images), sizes, repeats
    )


def tower_ceiling(images: list[Any], batches: tuple[int, ...], repeats: int) -> dict[str, Any] | None:
    """Images/s of toy:clip's image tower alone (pixels ready, no reward code) at batch 1 and at
    the fastest of `batches`: the most batching can buy any reward built on that tower on this
    CPU (larger is not always faster: past a size the activations fall out of the caches)."""
    import torch

    from finerewards.models import resolve_model, toy_model_names
    from fr_baselines.aesthetic import load_clip_vision

    if "toy:clip" not in toy_model_names():
        return None
    from transformers import AutoImageProcessor

    ref = resolve_model("toy:clip")
    tower = load_clip_vision(ref, torch.float32)
    pixels = AutoImageProcessor.from_pretrained(ref, backend="pil")(images=images, return_tensors="pt")[
        "pixel_values"
    ]

    with torch.inference_mode():
        rates = best_rates(
            lambda i, n: tower(pixel_values=pixels[i : i + n]), len(pixels), (1, *batches), repeats
        )
    single = rates[0]
    batched, batch = max(zip(rates[1:], batches))
    return {
        "reward": "(toy:clip image tower alone)",
        "models": "toy:clip vision forward, no preprocessing",
        "images": len(pixels),
        "batch_size": batch,
        "images_per_s_batch1": round(single, 2),
        "images_per_s_batched": round(batched, 2),
        "speedup": round(batched / single, 2),
        "ceiling": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rewards", nargs="*", default=list(REWARDS))
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument(
        "--paper-clip", action=argparse.BooleanOptionalAction, default=True, help="also CLIP ViT-L/14"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument(
        "--compare-threads", type=int, default=1, help="also the speed-up on this many threads (0: no)"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--doc-only", action="store_true", help="rewrite the doc from the last results")
    args = parser.parse_args()
    if args.doc_only:
        write_section("fr-baselines", markdown(json.loads((RESULTS / "baselines.json").read_text())))
        return

    import torch

    run_like_fr()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-baselines-") as tmp:
        jobs = [
            (name, lambda n=name: build(n, Path(tmp)), args.images, args.repeats) for name in args.rewards
        ]
        if args.paper_clip:  # a minute per pass on a CPU: 16 images, one pass
            jobs.append(("clip (ViT-L/14)", lambda: paper_clip(Path(tmp)), 16, 1))
        for label, make, n, repeats in jobs:
            reward, models, batch = make()
            images, prompts = inputs(n)
            single, batched = rate(reward, images, prompts, (1, batch), repeats)
            compared = None
            if args.compare_threads and repeats > 1:  # not for the one-pass ViT-L/14
                threads = torch.get_num_threads()
                torch.set_num_threads(args.compare_threads)
                one, many = rate(reward, images, prompts, (1, batch), repeats)
                compared = many / one
                torch.set_num_threads(threads)
            reward.close()
            row = {
                "reward": label,
                "models": models,
                "images": n,
                "batch_size": batch,
                "images_per_s_batch1": round(single, 2),
                "images_per_s_batched": round(batched, 2),
                "speedup": round(batched / single, 2),
                "speedup_compared_threads": None if compared is None else round(compared, 2),
            }
            rows.append(row)
            print(
                f"{label:16} batch 1: {single:8.2f} img/s  batch {batch}: {batched:8.2f} img/s  "
                f"x{batched / single:.2f}  ({models})",
                flush=True,
            )

        ceiling = tower_ceiling(inputs(args.images)[0], (4, 8, 16, 32), args.repeats)
        if ceiling is not None:
            rows.append(ceiling)
            print(f"{ceiling['reward']}: x{ceiling['speedup']:.2f}", flush=True)

    result = {
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "compare_threads": args.compare_threads,
        "goal_speedup": GOAL,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "baselines.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_doc:
        write_section("fr-baselines", markdown(result))


def markdown(result: dict[str, Any]) -> str:
    compare = result.get("compare_threads") or 0
    columns = ["reward", "models", "batch", "img/s at 1", "img/s batched", "speed-up"]
    if compare:
        columns.append(f"speed-up on {compare} thread{'s' if compare > 1 else ''}")
    lines = [
        "## fr-baselines: batched scoring on a CPU",
        "",
        f"`python benchmarks/bench_baselines.py` on {result['machine']}, float32, "
        f"{result['torch_threads']} torch threads (torch's default: every core, as `fr train` runs). "
        "Same reward object and images (toy-world renders), scored one at a time and in chunks of "
        "the reward's default batch size; best of 11 passes, the two sizes taking turns (one pass "
        "for ViT-L/14); glibc's malloc set up as `fr` sets it (`finerewards.allocator`). Goal: "
        "batched at least "
        f"{result['goal_speedup']:.0f}x faster per image.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in result["rows"]:
        line = (
            f"| {row['reward']} | {row['models']} | {row['batch_size']} | {row['images_per_s_batch1']} "
            f"| {row['images_per_s_batched']} | {row['speedup']}x |"
        )
        if compare:
            value = row.get("speedup_compared_threads")
            line += f" {value}x |" if value is not None else " – |"
        lines.append(line)
    rewards = [row for row in result["rows"] if not row.get("ceiling")]
    below = [row["reward"] for row in rewards if row["speedup"] < result["goal_speedup"]]
    lines += ["", f"Below the goal: {', '.join(below)}." if below else "Every reward meets the goal."]
    lines += [
        "",
        "At toy scale a call costs mostly fixed work (image processor, tokenizer, Python, many small "
        "matrix products), which a batch shares, and a batch's larger matrix products keep both "
        "cores busy where one image's cannot: that is the CPU case the toy preset is for. A "
        "paper-size model on a CPU is compute-bound (the ViT-L/14 row), so batching gains little "
        "there; paper-scale rewards belong on a GPU (not measured: no GPU on this machine).",
    ]
    ceiling = next((row for row in result["rows"] if row.get("ceiling")), None)
    if ceiling is not None:
        lines += [
            "",
            "The last row is toy:clip's image tower alone (its forward pass on ready pixels, at the "
            "fastest of batch 4, 8, 16 and 32), which clip, pickscore, hpsv2 and aesthetic all run: "
            f"batching makes it {ceiling['speedup']}x faster per image. toy:clip (width 128, 4 "
            "layers, 65 tokens) is about 0.1 GFLOP an image, so its forward is bound by arithmetic "
            "more than by per-call overhead. Batching saves the overhead around it (preprocessing, "
            "tokenizer, the text tower on short texts, Python), so the larger the tower's share of "
            "a reward's time, the closer the reward stays to the tower's ratio: aesthetic (the tower "
            "and a small MLP, no text side) gains least and stays below 3x in most runs. "
            "imagereward runs a tiny random model (width 64, 2 layers) that is overhead-bound.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
