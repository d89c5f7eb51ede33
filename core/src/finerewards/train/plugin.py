"""Built-in plugin that adds `fr train` and `fr generate` to the CLI.

Importing this module must stay cheap (`fr --help` never imports torch): the commands only
parse their options here and import the trainer inside the function body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from finerewards.errors import UsageError
from finerewards.hookspecs import hookimpl

TRAIN_HELP = (
    "Fine-tune a diffusion model's LoRA on its own best samples, ranked by rewards.\n\n"
    "Each round generates K images per prompt, scores them with every --reward, ranks each"
    " prompt's candidates (--normalize, --aggregate), keeps the best per prompt (and the best"
    " --keep-fraction of prompts), and fine-tunes the LoRA on the kept pairs. With no --model or"
    " --prompts: the toy world's toy:sd on toy:train. Resume an interrupted run with --resume DIR."
)
"""One paragraph a line: the help screen wraps it to the terminal."""

RESUME_COMPATIBLE = {"rounds", "device"}


def _weights(items: list[str]) -> dict[str, float] | None:
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--weight expects REWARD=NUMBER, got {item!r}") from None
    return out


def train_command(
    reward: Annotated[list[str], typer.Option("--reward", "-r", help="Reward name (repeatable).")] = [],  # noqa: B006
    model: Annotated[
        str | None, typer.Option(help="Pipeline: toy:<name>, a local folder or a hub id.")
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            help="Prompt source: .txt/.jsonl/.json/.csv/.tsv, toy:train, toy:test, "
            "hf:DATASET[:SPLIT[:COLUMN]]."
        ),
    ] = None,
    rounds: Annotated[int | None, typer.Option(help="Number of rounds.")] = None,
    prompts_per_round: Annotated[int | None, typer.Option(help="Prompts sampled per round (0: all).")] = None,
    images_per_prompt: Annotated[
        int | None, typer.Option("--images-per-prompt", "-k", help="Candidates K per prompt.")
    ] = None,
    steps_per_round: Annotated[int | None, typer.Option(help="LoRA optimiser steps per round.")] = None,
    aggregate: Annotated[
        str | None, typer.Option(help="Aggregator across rewards (default rank-sum).")
    ] = None,
    normalize: Annotated[
        str | None, typer.Option(help="Normaliser for every reward (default: each reward's own).")
    ] = None,
    weight: Annotated[
        list[str], typer.Option("--weight", help="REWARD=W weight in the aggregate (repeatable).")
    ] = [],  # noqa: B006
    keep_fraction: Annotated[
        float | None, typer.Option(help="Keep the best fraction F of prompts (0 < F <= 1).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed: every random choice derives from it.")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Defaults: toy (CPU, minutes) or paper (SD-1.5).")
    ] = None,
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="KEY=VALUE: lora.rank=8, training.learning_rate=1e-4, REWARD.OPTION=V, ... (repeatable).",
        ),
    ] = [],  # noqa: B006
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file with settings (run.toml format).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="New run folder (default runs/train-DATE-TIME).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder from its last finished round.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1, mps.")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the score cache.")
    ] = False,
    keep_resident: Annotated[
        bool, typer.Option("--keep-resident", help="Keep all models on the accelerator (when memory allows).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or round lines.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary of the run on stdout.")
    ] = False,
) -> None:
    from finerewards.train import loop

    echo = None if quiet else loop.stderr_echo
    if resume is not None:
        given = {
            "--reward": reward,
            "--model": model,
            "--prompts": prompts,
            "--prompts-per-round": prompts_per_round,
            "--images-per-prompt": images_per_prompt,
            "--steps-per-round": steps_per_round,
            "--aggregate": aggregate,
            "--normalize": normalize,
            "--weight": weight,
            "--keep-fraction": keep_fraction,
            "--seed": seed,
            "--preset": preset,
            "--set": set_,
            "--config": config,
            "--out": out,
            "--no-cache": no_cache,
            "--keep-resident": keep_resident,
        }
        extra = [flag for flag, value in given.items() if value not in (None, [], False)]
        if extra:
            raise UsageError(
                f"--resume continues a run with its own run.toml; {extra[0]} cannot be changed "
                "(only --rounds, --device, --quiet and --json go with --resume)"
            )
        summary = loop.resume(resume, rounds=rounds, device=device, progress=not quiet, echo=echo)
    else:
        from finerewards.train.config import resolve_config

        flags: dict[str, Any] = {
            "rewards": list(reward) or None,
            "model": model,
            "prompts": prompts,
            "rounds": rounds,
            "prompts_per_round": prompts_per_round,
            "images_per_prompt": images_per_prompt,
            "training": {"steps_per_round": steps_per_round} if steps_per_round is not None else None,
            "aggregate": aggregate,
            "normalize": normalize,
            "weights": _weights(weight),
            "keep_fraction": keep_fraction,
            "seed": seed,
            "device": device,
            "cache": False if no_cache else None,
            "keep_resident": True if keep_resident else None,
        }
        settings = resolve_config(preset=preset, config_file=config, flags=flags, set_items=list(set_))
        summary = loop.train(settings, out, progress=not quiet, echo=echo)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif not quiet:
        typer.echo(f"LoRA: {summary['lora']}\nreport: {summary['report']}", err=True)


def generate_command(
    prompts: Annotated[str, typer.Option(help="Prompt source (as for fr train).")],
    out: Annotated[Path, typer.Option(help="New folder for the images and manifest.jsonl.")],
    model: Annotated[
        str | None,
        typer.Option(help="Pipeline (default: the run's model with a run's --lora, else the preset's)."),
    ] = None,
    lora: Annotated[
        Path | None,
        typer.Option(help="LoRA: a folder with pytorch_lora_weights.safetensors, the file, or a run folder."),
    ] = None,
    images_per_prompt: Annotated[
        int, typer.Option("--images-per-prompt", "-k", help="Images per prompt.")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same images.")] = 0,
    preset: Annotated[str | None, typer.Option(help="Generation defaults: toy or paper.")] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    guidance_scale: Annotated[float | None, typer.Option(help="Classifier-free guidance scale.")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="default, ddim, ddpm, euler, euler-ancestral, dpm-solver, pndm.")
    ] = None,
    height: Annotated[int | None, typer.Option(help="Image height.")] = None,
    width: Annotated[int | None, typer.Option(help="Image width.")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="Negative prompt.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="generation KEY=VALUE (repeatable).")] = [],  # noqa: B006
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, mps.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Generate images with a model (and optionally a trained LoRA): PNGs plus manifest.jsonl."""
    from finerewards.fsutil import check_out_dir
    from finerewards.train.generate import GenerateRequest, run_generate
    from finerewards.train.settings import generation_settings

    request_model, settings, lora_file = generation_settings(
        model=model,
        lora=lora,
        preset=preset,
        flags={
            "steps": steps,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "height": height,
            "width": width,
            "negative_prompt": negative_prompt,
        },
        set_items=list(set_),
    )
    if images_per_prompt < 1:
        raise UsageError(f"--images-per-prompt must be at least 1, got {images_per_prompt}")
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    check_out_dir(out)
    from finerewards.prompts import load_prompts

    request = GenerateRequest(
        model=request_model,
        prompts=load_prompts(prompts),
        out=out,
        lora=lora_file,
        images_per_prompt=images_per_prompt,
        seed=seed,
        settings=settings,
        device=device,
        progress=not quiet,
    )
    rows = run_generate(request)
    if as_json:
        typer.echo(
            json.dumps({"out": str(out), "images": len(rows), "manifest": str(out / "manifest.jsonl")})
        )
    elif not quiet:
        typer.echo(f"{len(rows)} image(s) in {out}", err=True)


@hookimpl
def register_commands(app: Any) -> None:
    app.command("train", help=TRAIN_HELP)(train_command)
    app.command("generate")(generate_command)
