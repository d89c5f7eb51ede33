"""Manifests: JSON lines of {"image": path relative to the manifest, "prompt": text, ...}."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.errors import UsageError
from finerewards.fsutil import atomic_write_jsonl

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class ManifestItem:
    image: Path
    prompt: str
    seed: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()


def read_manifest(path: str | Path) -> list[ManifestItem]:
    """Parse a manifest; a bad line is a usage error naming the file and line."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read manifest {source}: {exc}") from None
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{where}: expected an object with 'image' and 'prompt'")
        image, prompt = row.get("image"), row.get("prompt")
        if not isinstance(image, str) or not image:
            raise UsageError(f"{where}: missing 'image' (a path relative to the manifest)")
        if not isinstance(prompt, str):
            raise UsageError(f"{where}: missing 'prompt' (text)")
        seed = row.get("seed")
        extra = tuple((k, v) for k, v in row.items() if k not in {"image", "prompt", "seed"})
        items.append(ManifestItem(source.parent / image, prompt, seed, extra))
    if not items:
        raise UsageError(f"manifest {source} holds no items")
    return items


def load_image(path: str | Path) -> Image:
    """Open an image as RGB, or raise a usage error that names the file."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path) as handle:
            return handle.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else "not a readable image"
        raise UsageError(f"cannot read image {path}: {reason}") from None


def write_manifest(path: str | Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_jsonl(path, rows)
