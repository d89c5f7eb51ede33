"""The `fr` command line (typer). Heavy libraries are imported inside commands only.

Errors become one line on stderr and an exit code (2 for usage errors, 1 for failures); the
traceback is shown only with `--debug` or FR_DEBUG=1.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from finerewards import __version__
from finerewards.allocator import tune_malloc
from finerewards.errors import LIBRARY_MESSAGE_LIMIT, FRError, UsageError, one_line
from finerewards.plugins import DISABLE_ENV, disabled_names
from finerewards.registry import get_registry

app = typer.Typer(
    name="fr",
    help="FineRewards: align text-to-image diffusion models with fine-grained semantic rewards.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Preset(str, Enum):
    toy = "toy"
    paper = "paper"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fr (finerewards) {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks on errors (also FR_DEBUG=1).")
    ] = False,
) -> None:
    """FineRewards: reward-ranked fine-tuning of diffusion models with semantic rewards."""


def _json_range(value: float) -> float | None:
    return value if math.isfinite(value) else None


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the loaded plugins, what they provide, and any that failed with their error."""
    registry = get_registry()
    infos = list(registry.host.plugins.values())
    if as_json:
        typer.echo(json.dumps([info.as_json() for info in infos], indent=2))
        return
    for info in infos:
        dist = f"{info.distribution} {info.version}" if info.distribution else "built-in"
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.provides.items()) or "-"
        status = "ok" if info.ok else "FAILED"
        typer.echo(f"{info.name:<14} {dist:<28} {status:<7} {provides}")
        for error in info.errors:
            typer.echo(f"{'':<14} error: {one_line(error)}")
        for warning in info.warnings:
            typer.echo(f"{'':<14} warning: {one_line(warning)}")
    skipped = disabled_names()
    if skipped:
        typer.echo(f"skipped by {DISABLE_ENV}: {', '.join(sorted(skipped))}")


def reward_rows() -> list[dict[str, Any]]:
    registry = get_registry()
    rows = []
    for name, entry in sorted(registry.rewards.items()):
        spec = entry.spec
        missing = spec.missing_requirements()
        row: dict[str, Any] = {
            "name": name,
            "plugin": entry.plugin.name,
            "distribution": entry.plugin.distribution,
            "description": spec.description,
            "higher_is_better": spec.higher_is_better,
            "range": [_json_range(spec.score_range[0]), _json_range(spec.score_range[1])],
            "presets": sorted(spec.presets),
            "default_normalizer": spec.default_normalizer,
            "batch_size": spec.batch_size,
            "toy_only": spec.toy_only,
            "available": not missing,
        }
        if missing:
            row["missing"] = missing
            row["install"] = spec.install or f"pip install {' '.join(missing)}"
        rows.append(row)
    return rows


@app.command()
def rewards(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the rewards that installed plugins provide."""
    rows = reward_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no rewards installed (try: pip install fr-caption fr-sam fr-baselines)")
    cells = [
        (
            row["name"],
            row["plugin"],
            f"{'higher' if row['higher_is_better'] else 'lower'} is better",
            f"presets {'/'.join(row['presets']) or '-'}",
        )
        for row in rows
    ]
    widths = [max(len(cell[i]) for cell in cells) for i in range(4)]
    for row, cell in zip(rows, cells):
        state = "" if row["available"] else f"  [unavailable: {row['install']}]"
        columns = "  ".join(f"{text:<{width}}" for text, width in zip(cell, widths))
        typer.echo(f"{columns}  {row['description']}{state}")


@app.command()
def score(
    images: Annotated[list[Path] | None, typer.Argument(help="Images to score against --prompt.")] = None,
    reward: Annotated[list[str], typer.Option("--reward", "-r", help="Reward name (repeatable).")] = [],  # noqa: B006 - typer reads the default, never mutates it
    manifest: Annotated[
        Path | None, typer.Option(help="JSONL of {image, prompt}; image paths relative to it.")
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="The prompt for the IMAGE arguments.")] = None,
    preset: Annotated[Preset, typer.Option(help="Model preset of every reward.")] = Preset.toy,
    set_: Annotated[list[str], typer.Option("--set", help="REWARD.OPTION=VALUE (repeatable).")] = [],  # noqa: B006
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per batch.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, mps.")] = "auto",
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the score cache.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score images against prompts with one or more rewards."""
    from finerewards.config import parse_reward_options
    from finerewards.manifest import ManifestItem, load_image, read_manifest

    if not reward:
        raise UsageError("no reward given: add --reward NAME (`fr rewards` lists them)")
    if manifest is not None and (prompt is not None or images):
        raise UsageError("give either --manifest FILE or --prompt TEXT IMAGE..., not both")
    if manifest is not None:
        items = read_manifest(manifest)
    elif prompt is not None and images:
        items = [ManifestItem(path, prompt) for path in images]
    elif prompt is not None:
        raise UsageError("--prompt needs at least one IMAGE argument")
    else:
        raise UsageError("nothing to score: give --manifest FILE or --prompt TEXT IMAGE...")

    from finerewards.cache import ScoreCache
    from finerewards.scoring import Scorer

    scorer = Scorer(
        reward,
        preset=preset.value,
        options=parse_reward_options(set_, reward),
        device=device,
        batch_size=batch_size,
        cache=None if no_cache else ScoreCache(),
        progress=not quiet,
    )
    scorer.prepare()
    pictures = [load_image(item.image) for item in items]
    results = scorer.score(pictures, [item.prompt for item in items], [str(i.image) for i in items])
    shown = [str(item.image) if manifest is None else _relative(item.image, manifest) for item in items]
    if as_json:
        for i, item in enumerate(items):
            row = {
                "image": shown[i],
                "prompt": item.prompt,
                "scores": {name: results[name].scores[i] for name in reward},
                "details": {name: results[name].details[i] for name in reward},
            }
            typer.echo(json.dumps(row))
        return
    width = min(40, max(len(s) for s in shown))
    typer.echo(f"{'image':<{width}}  {'prompt':<32}  " + "  ".join(f"{n:>10}" for n in reward))
    for i, item in enumerate(items):
        text = item.prompt if len(item.prompt) <= 32 else item.prompt[:29] + "..."
        values = "  ".join(f"{results[n].scores[i]:>10.4f}" for n in reward)
        typer.echo(f"{shown[i][-width:]:<{width}}  {text:<32}  {values}")


def _relative(path: Path, manifest: Path) -> str:
    try:
        return str(path.relative_to(manifest.parent))
    except ValueError:
        return str(path)


def _add_plugin_commands() -> None:
    registry = get_registry()
    for info, call in registry.host.call_each("register_commands"):
        try:
            call(app=app)
        except Exception as exc:
            registry.host.fail(info, "register_commands", exc)


def _is_parser_error(exc: Exception) -> bool:
    """typer's command-line parser errors (unknown option, missing value, Ctrl-D at a prompt).
    Recognised by shape: newer typer versions vendor click, older ones use click itself."""
    return ("click" in type(exc).__module__ and hasattr(exc, "exit_code")) or type(exc).__name__ == "Abort"


def _parser_error(exc: Any, args: list[str]) -> NoReturn:
    """One line for a parser error, pointing at the command's help (typer draws a box)."""
    if type(exc).__name__ == "Abort":
        typer.echo("aborted", err=True)
        sys.exit(1)
    if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else _command_path(args)
        typer.echo(f"error: {one_line(exc.format_message())} (see `{where} -h`)", err=True)
    sys.exit(int(exc.exit_code))


def _command_path(args: list[str]) -> str:
    """ "fr" and the (sub)commands that lead `args`, for errors that carry no context."""
    command, path = typer.main.get_command(app), ["fr"]
    for arg in args:
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            break
        command, path = sub, [*path, arg]
    return " ".join(path)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and turns errors into one line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("FR_DEBUG", "") not in {"", "0"}
    if debug:
        os.environ["FR_DEBUG"] = "1"
        args = [arg for arg in args if arg != "--debug"]
    tune_malloc()
    try:
        _add_plugin_commands()
        code = app(args=args, prog_name="fr", standalone_mode=False)
    except FRError as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if _is_parser_error(exc):
            _parser_error(exc, args)
        if debug:
            traceback.print_exc()
        message = one_line(exc, LIBRARY_MESSAGE_LIMIT)
        typer.echo(f"error: {type(exc).__name__}: {message} (rerun with --debug for details)", err=True)
        sys.exit(1)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        typer.echo("interrupted", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)
