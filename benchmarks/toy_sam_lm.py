"""Quality figures of the shipped toy:sam and toy:lm -> benchmarks/results/toy_{sam,lm}.json and
the `toy-sam` / `toy-lm` sections of docs/benchmarks.md.

Run with `python benchmarks/toy_sam_lm.py [--sam-images 200] [--only sam|lm]` (CPU, offline;
about a second per SAM image on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mdsections import machine, write_section  # noqa: E402

RESULTS = HERE / "results"
COMMAND = "python benchmarks/toy_sam_lm.py"


def bench_sam(images: int) -> None:
    from finerewards.models import resolve_model, toy_model_info
    from finerewards.toyworld import train_sam

    folder = resolve_model("toy:sam")
    info = toy_model_info("toy:sam")
    rows = [train_sam.evaluate(folder, images, degraded=d) for d in (False, True)]
    size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
    _save("toy_sam", {"rows": rows, "size_mb": size, "generator": info["generator"]})
    gen = ", ".join(f"{k}={v}" for k, v in info["generator"].items())
    lines = [
        "## toy:sam (segment-anything `Sam`)",
        "",
        f"`{COMMAND} --only sam --sam-images {images}` on {machine()}. Held-out ground-truth "
        "renders of `toy:test` prompts (the renderer's layouts, seeds 1000+; training uses "
        "its own random scenes); degraded = per-object colour shift, grey smudges, blur, noise.",
        "",
        f"Generator: `SamAutomaticMaskGenerator({gen})`, masks under `min_area` px dropped.",
        "",
        "| renders | images | objects found (IoU >= 0.8) | spurious masks / image "
        "| background mask found | s / image |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {'degraded' if row['degraded'] else 'clean'} | {row['images']} "
            f"| {row['recall_iou80']:.3f} | {row['spurious_per_image']:.3f} "
            f"| {row['background_found']:.3f} | {row['seconds_per_image']:.2f} |"
        )
    lines += ["", _training_line(info, size)]
    write_section("toy-sam", "\n".join(lines))


def bench_lm() -> None:
    from finerewards.models import resolve_model, toy_model_info
    from finerewards.toyworld import train_lm
    from finerewards.toyworld.prompts import load_prompt_set

    folder = resolve_model("toy:lm")
    info = toy_model_info("toy:lm")
    held = train_lm.evaluate(folder)
    everything = train_lm.evaluate(folder, sorted(set(load_prompt_set("test"))))
    size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
    _save("toy_lm", {"held_out": held, "toy_test": everything, "size_mb": size})
    lines = [
        "## toy:lm (transformers `LlamaForCausalLM`)",
        "",
        f"`{COMMAND} --only lm` on {machine()}. Every label ({len(train_lm.LABELS)}) asked "
        "for each prompt with `rubric.rating_question`; expected rating from the probabilities "
        "of the answers 1/2/3. A pair is right when the expected rating is within 0.5 of the "
        "rule (>= 2.5 for asked-for labels, <= 1.5 for absent ones).",
        "",
        "| prompts | pairs | expected rating right | rule 3 | rule 2 | rule 1 | argmax right "
        "| lowest E[rating] at rule 3 | highest at rule 1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, fig in (("held out (toy:test color_attr + position)", held), ("all of toy:test", everything)):
        lines.append(
            f"| {name}: {fig['prompts']} | {fig['pairs']} | {fig['expected_ok']:.3f} "
            f"| {fig['expected_ok_rule3']:.3f} | {fig['expected_ok_rule2']:.3f} "
            f"| {fig['expected_ok_rule1']:.3f} | {fig['argmax_ok']:.3f} "
            f"| {fig['min_expected_rule3']:.3f} | {fig['max_expected_rule1']:.3f} |"
        )
    lines += ["", _training_line(info, size)]
    write_section("toy-lm", "\n".join(lines))


def _training_line(info: dict, size: float) -> str:
    training = info["training"]
    cpu = training.get("cpu_seconds")
    cpu_text = f", {cpu / 60:.1f} min of CPU" if cpu else ""
    return (
        f"Size {size:.2f} MB; trained from scratch by `OMP_NUM_THREADS=1 fr toyworld train-models "
        f"--only {info['name'].removeprefix('toy:')}` in {training['seconds'] / 60:.1f} min wall"
        f"{cpu_text} ({training['machine']}, 2 cores shared with other jobs; seed {training['seed']})."
    )


def _save(name: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sam-images", type=int, default=200)
    parser.add_argument("--only", choices=["sam", "lm"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.only in (None, "sam"):
        bench_sam(args.sam_images)
    if args.only in (None, "lm"):
        bench_lm()


if __name__ == "__main__":
    main()
