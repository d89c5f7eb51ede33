"""Quality figures of the shipped toy:clip and toy:captioner on renders they never saw.

    HF_HUB_OFFLINE=1 python benchmarks/bench_toy_clip_captioner.py [--seeds 3] [--random 2000]

Writes benchmarks/results/toy_clip.json, benchmarks/results/toy_captioner.json and the sections
`toy-clip` and `toy-captioner` of docs/benchmarks.md. Definitions: docs/toyworld-models.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mdsections import machine, write_section  # noqa: E402

COMMAND = "HF_HUB_OFFLINE=1 python benchmarks/bench_toy_clip_captioner.py"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def clip_section(fig: dict[str, Any], info: dict[str, Any], size_mb: float, seconds: float) -> str:
    wins, n = fig["image_prompt_pair_win"], fig["image_prompt_pair_n"]
    text_wins = fig["caption_prompt_pair_win"]
    lines = [
        "## toy:clip",
        "",
        f"`{COMMAND}` ({machine()}; evaluation {seconds:.0f} s). Model: {size_mb:.2f} MB safetensors, "
        f"trained in {info['training']['seconds'] / 60:.1f} min ({info['training']['machine']}).",
        f"Held-out renders: {fig['prompts']} toy:test prompts x {fig['cases'] // fig['prompts']} "
        "unseen render seeds, and their near misses.",
        "",
        "- Zero-shot labelling of object crops (15 labels, `a {label}`): "
        f"**{_pct(fig['crop_label_accuracy'])}**",
        f"- `clip` reward prefers the satisfying render (missing / recoloured / extra pooled): "
        f"**{_pct(fig['clip_reward_prefers_satisfying'])}**",
        f"- Satisfying render ranked first among all its near misses: "
        f"{_pct(fig['image_prompt_ranked_first_all'])}",
        "",
        "| near miss | pairs | image-prompt win | caption-prompt win (text tower) |",
        "|---|---|---|---|",
    ]
    for kind in wins:
        lines.append(f"| {kind} | {n[kind]} | {_pct(wins[kind])} | {_pct(text_wins[kind])} |")
    lines += ["", "| category | satisfying render ranked first |", "|---|---|"]
    for category, value in fig["image_prompt_ranked_first"].items():
        lines.append(f"| {category} | {_pct(value)} |")
    lines += [
        "",
        f"Caption-prompt cosine of one scene (mean): {fig['caption_prompt_mean_cosine']:.3f}; "
        f"the true caption ranked first among near misses' captions: "
        f"{_pct(fig['caption_prompt_ranked_first'])}.",
    ]
    return "\n".join(lines)


def captioner_section(fig: dict[str, Any], info: dict[str, Any], size_mb: float, seconds: float) -> str:
    lines = [
        "## toy:captioner",
        "",
        f"`{COMMAND}` ({machine()}; evaluation {seconds:.0f} s). Model: {size_mb:.2f} MB safetensors, "
        f"trained in {info['training']['seconds'] / 60:.1f} min ({info['training']['machine']}). "
        "Greedy decoding.",
        "",
        f"- Correct captions (`captions.caption_correct`), toy:test prompt renders: "
        f"**{_pct(fig['correct_prompt_renders'])}**; random 1-4 object scenes: "
        f"**{_pct(fig['correct_random_scenes'])}**; all: {_pct(fig['correct_all'])}",
        f"- Word for word the canonical caption: {_pct(fig['exact_canonical'])}",
        "",
        "| held-out set | images | correct |",
        "|---|---|---|",
    ]
    for key, value in fig["correct_by_set"].items():
        lines.append(f"| {key} | {fig['n_by_set'][key]} | {_pct(value)} |")
    return "\n".join(lines)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="render seeds per toy:test prompt")
    parser.add_argument("--random", type=int, default=2000, help="random scenes for the captioner")
    parser.add_argument("--only", choices=["clip", "captioner"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from finerewards.models import toy_model_info, toy_models_dir
    from finerewards.toyworld import captioner_eval, clip_eval

    torch.set_num_threads(args.threads)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    if args.only in (None, "clip"):
        start = time.time()
        fig = clip_eval.evaluate(toy_models_dir() / "clip", seeds=args.seeds)
        seconds = time.time() - start
        (results / "toy_clip.json").write_text(json.dumps(fig, indent=2) + "\n")
        info = toy_model_info("toy:clip")
        write_section("toy-clip", clip_section(fig, info, _size_mb(toy_models_dir() / "clip"), seconds))
        print(json.dumps(fig, indent=2))
    if args.only in (None, "captioner"):
        start = time.time()
        fig = captioner_eval.evaluate(toy_models_dir() / "captioner", seeds=args.seeds, n_random=args.random)
        seconds = time.time() - start
        (results / "toy_captioner.json").write_text(json.dumps(fig, indent=2) + "\n")
        info = toy_model_info("toy:captioner")
        folder = toy_models_dir() / "captioner"
        write_section("toy-captioner", captioner_section(fig, info, _size_mb(folder), seconds))
        print(json.dumps(fig, indent=2))


if __name__ == "__main__":
    main()
