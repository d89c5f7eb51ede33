"""`fr toyworld train-models`: one table from toy model name to the function that trains it.

Each trainer is "module:function" and is called as `function(out_dir: Path) -> None`; it
writes a complete loadable model folder (with its `fr_model.json`) into `out_dir`, seeded
and reproducible. Another toy model plugs in by adding one row here.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from finerewards.errors import UsageError
from finerewards.fsutil import make_dir
from finerewards.models import toy_models_dir

TRAINERS: dict[str, str] = {
    "sd": "finerewards.toyworld.train_sd:train",
    "sam": "finerewards.toyworld.train_sam:train",
    "lm": "finerewards.toyworld.train_lm:train",
    "clip": "finerewards.toyworld.train_clip:train",
    "captioner": "finerewards.toyworld.train_captioner:train",
    "itm": "finerewards.toyworld.train_itm:train",
}


def train(only: Sequence[str] | None = None, out: Path | None = None) -> Iterator[tuple[str, Path]]:
    """Train the named toy models (all by default) into `out` (default: the package folder).

    Each model is built in a temporary sibling folder and swapped in only when complete, so
    an interrupted run never leaves a half-written model behind.
    """
    names = list(only) if only else list(TRAINERS)
    unknown = [name.removeprefix("toy:") for name in names if name.removeprefix("toy:") not in TRAINERS]
    if unknown:
        raise UsageError(f"unknown toy model {unknown[0]!r} (trainable: {', '.join(TRAINERS)})")
    root = out or toy_models_dir()
    make_dir(root)
    for raw in names:
        name = raw.removeprefix("toy:")
        module_name, _, attr = TRAINERS[name].partition(":")
        function = getattr(importlib.import_module(module_name), attr)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            function(staging)
            target = root / name
            backup = root / f".{name}.old"
            if backup.exists():
                shutil.rmtree(backup)
            if target.exists():
                target.rename(backup)
            staging.rename(target)
            if backup.exists():
                shutil.rmtree(backup)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        yield name, target
