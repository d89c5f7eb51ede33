"""Writing files so that a crash never leaves a half-written one: temporary name, then rename."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finerewards.errors import UsageError


def check_out_dir(out: Path, what: str = "--out") -> None:
    """Refuse a folder that is not empty: results are never overwritten or mixed."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{what} {str(out)!r} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if (out / "run.toml").is_file():
            raise UsageError(
                f"{what} {str(out)!r} already holds a run; continue it with "
                f"`fr train --resume {out}` or choose another {what}"
            )
        raise UsageError(f"{what} {str(out)!r} is not empty; choose a new or empty folder")


def make_dir(out: Path, what: str = "--out") -> None:
    """Create a folder and its parents; a path that cannot be one is a usage error, not a trace."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{what} {str(out)!r} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{what} {str(out)!r}: cannot create the folder ({exc.strerror or exc})") from None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(target)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _new_temp_file(target: Path) -> Path:
    """An empty, unique `.{name}.{random}.tmp` beside `target`, created with the permissions an
    ordinary file gets (0o666 less the umask; `tempfile.mkstemp` would make it owner-only)."""
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def atomic_save_image(path: str | Path, image: Any) -> None:
    """Save a PIL image as PNG through a temporary file."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
