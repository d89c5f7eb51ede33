"""`fr toyworld ...`: list the shipped toy models, render ground truth, evaluate, retrain.

Only typer is imported at module level (this is loaded for every `fr` call); numpy, PIL and
the model libraries are imported inside the commands that use them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from finerewards.errors import UsageError

app = typer.Typer(
    name="toyworld",
    help="The embedded toy world: shipped tiny models, ground-truth renders, the exact oracle.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the shipped toy models (`toy:<name>`), their folder, library and class."""
    from finerewards.models import toy_model_info, toy_model_names

    rows = []
    for name in toy_model_names():
        info = toy_model_info(name)
        rows.append(
            {
                "name": info["name"],
                "path": info["path"],
                "library": info.get("library"),
                "class": info.get("class"),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no toy models shipped (build them: fr toyworld train-models)")
    for row in rows:
        typer.echo(f"{row['name']:<16} {row['library'] or '-':<14} {row['class'] or '-':<32} {row['path']}")


@app.command()
def render(
    prompts: Annotated[
        str, typer.Option("--prompts", help="toy:train, toy:test, or a text file (one prompt a line).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNGs and manifest.jsonl.")],
    seed: Annotated[int, typer.Option(help="Seed of the first image; image i uses seed + i.")] = 0,
    per_prompt: Annotated[int, typer.Option("--per-prompt", min=1, help="Images per prompt.")] = 1,
) -> None:
    """Render ground-truth images for prompts and write a manifest (image, prompt, seed)."""
    from finerewards.fsutil import atomic_save_image, check_out_dir, make_dir
    from finerewards.manifest import write_manifest
    from finerewards.prompts import load_prompts
    from finerewards.toyworld.prompts import parse
    from finerewards.toyworld.render import render as render_prompt

    check_out_dir(out)
    texts = load_prompts(prompts)
    for number, text in enumerate(texts, 1):
        try:
            parse(text)
        except ValueError as exc:
            raise UsageError(f"{prompts}: prompt {number}: {exc}") from None
    make_dir(out)
    rows: list[dict[str, Any]] = []
    index = 0
    for text in texts:
        for _ in range(per_prompt):
            name = f"{index:05d}.png"
            image_seed = seed + index
            atomic_save_image(out / name, render_prompt(text, image_seed))
            rows.append({"image": name, "prompt": text, "seed": image_seed})
            index += 1
    write_manifest(out / "manifest.jsonl", rows)
    typer.echo(f"wrote {len(rows)} image{'s' if len(rows) != 1 else ''} and {out / 'manifest.jsonl'}")


@app.command("eval")
def eval_(
    manifest: Annotated[Path, typer.Argument(help="JSONL of {image, prompt} (paths relative to it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Accuracy of the oracle on a manifest, per category and overall."""
    from finerewards.manifest import load_image, read_manifest
    from finerewards.toyworld.oracle import satisfies, summarize
    from finerewards.toyworld.prompts import parse

    items = read_manifest(manifest)
    lines = [n for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    requirements = []
    for item, line in zip(items, lines, strict=True):
        try:
            requirements.append(parse(item.prompt))
        except ValueError as exc:
            raise UsageError(f"{manifest}:{line}: {exc}") from None
    hits: dict[str, list[bool]] = {}
    for item, req in zip(items, requirements, strict=True):
        hits.setdefault(req.category, []).append(satisfies(req, load_image(item.image)))
    result = summarize(hits)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{'category':<14} {'n':>6} {'accuracy':>9}")
    for category, value in result["accuracy"].items():
        typer.echo(f"{category:<14} {result['n'][category]:>6} {value:>9.3f}")


@app.command("train-models")
def train_models(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Train only this model (repeatable).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the models here instead of into the installed package."),
    ] = None,
) -> None:
    """Rebuild the shipped toy models from scratch (seeded; slow: see docs/toyworld.md)."""
    from finerewards.toyworld.train_models import train

    for name, folder in train(only or None, out):
        typer.echo(f"trained toy:{name} -> {folder}")
