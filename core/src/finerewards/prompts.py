"""Loading prompts from any source the commands accept: files, the toy world, hub datasets.

One loader serves `fr train`, `fr generate` and `fr toyworld render`, so every command reads the
same file the same way. A source is:

- a text file: one prompt a line (CRLF or LF, blank lines dropped);
- JSONL (`.jsonl`, `.ndjson`): a `prompt` or `caption` field per line (a bare string works too);
- JSON (`.json`): a list of strings or of objects with a `prompt`/`caption` field;
- CSV / TSV (`.csv`, `.tsv`): a header row with a `prompt`, `Prompt`, `caption` ... column;
- `toy:train` / `toy:test`: the toy world's prompt sets;
- `hf:DATASET[:SPLIT[:COLUMN]]`: a Hugging Face dataset (needs `datasets` and a reachable hub).

TSV files come quoted two ways in the wild: PartiPrompts is not CSV-quoted at all (one prompt
starts with a literal `"`), while pandas-written files such as the COCO captions wrap fields
that contain `"` in quotes with doubled inner quotes. TSV is therefore split without quote
handling and a field is unquoted only when it is exactly one CSV-quoted value.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from finerewards.errors import UsageError

TOY_SETS = ("train", "test")
COLUMNS = ("prompt", "Prompt", "prompts", "Prompts", "caption", "Caption", "text")
"""Column or field names that hold the prompt, in order of preference."""
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def load_prompts(source: str) -> list[str]:
    """The prompts of `source` in file order (duplicates kept), or one clear `UsageError`."""
    if not source or not source.strip():
        raise UsageError("empty prompt source (give a file, toy:train, toy:test or hf:DATASET)")
    if source.startswith("toy:"):
        prompts = _toy(source)
    elif source.startswith("hf:"):
        prompts = _hub(source)
    else:
        prompts = _file(Path(source).expanduser())
    prompts = [p.strip() for p in prompts]
    prompts = [p for p in prompts if p]
    if not prompts:
        raise UsageError(f"prompt source {source!r} holds no prompts")
    return prompts


def _toy(source: str) -> list[str]:
    name = source[len("toy:") :]
    if name not in TOY_SETS:
        raise UsageError(f"unknown toy prompt set {source!r} (available: toy:train, toy:test)")
    try:
        from finerewards.toyworld.prompts import load_prompt_set
    except ImportError as exc:
        raise UsageError(f"the toy world's prompt sets are not available here ({exc})") from None
    return list(load_prompt_set(name))


def _hub(source: str) -> list[str]:
    parts = source[len("hf:") :].split(":")
    if not parts[0]:
        raise UsageError("hf: source needs a dataset name: hf:DATASET[:SPLIT[:COLUMN]]")
    if len(parts) > 3:
        raise UsageError(f"hf: source {source!r} has too many parts: hf:DATASET[:SPLIT[:COLUMN]]")
    dataset, split, column = parts[0], (parts[1:2] or ["train"])[0], (parts[2:3] or [""])[0]
    try:
        import datasets
    except ImportError:
        raise UsageError(
            f"prompt source {source!r} needs the `datasets` package: pip install datasets"
        ) from None
    try:
        data = datasets.load_dataset(dataset, split=split or "train")
    except Exception as exc:
        raise UsageError(f"cannot load dataset {dataset!r} ({type(exc).__name__}: {exc})") from None
    names = list(data.column_names)
    column = column or _pick_column(names, source)
    if column not in names:
        raise UsageError(f"dataset {dataset!r} has no column {column!r} (columns: {', '.join(names)})")
    return [str(v) for v in data[column] if v is not None]


def _file(path: Path) -> list[str]:
    if not path.exists():
        raise UsageError(f"prompt source {str(path)!r} does not exist")
    if not path.is_file():
        raise UsageError(f"prompt source {str(path)!r} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read prompt source {str(path)!r}: {exc}") from None
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl(text, path)
    if suffix == ".json":
        return _json(text, path)
    if suffix == ".csv":
        return _table(list(csv.reader(io.StringIO(text, newline=""))), path)
    if suffix == ".tsv":
        rows = [[_unquote(f) for f in line.split("\t")] for line in text.splitlines() if line.strip()]
        return _table(rows, path)
    return text.splitlines()


def _prompt_of(row: Any, where: str) -> str:
    if isinstance(row, str):
        return row
    if isinstance(row, dict):
        for key in COLUMNS:
            value = row.get(key)
            if isinstance(value, str):
                return value
        raise UsageError(f"{where}: no 'prompt' or 'caption' text field")
    raise UsageError(f"{where}: expected an object with a 'prompt' field or a string")


def _jsonl(text: str, path: Path) -> list[str]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: not valid JSON ({exc})") from None
        out.append(_prompt_of(row, f"{path}:{number}"))
    return out


def _json(text: str, path: Path) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a JSON list of prompts")
    return [_prompt_of(row, f"{path}[{i}]") for i, row in enumerate(data)]


def _unquote(field: str) -> str:
    """Undo CSV quoting of one field if, and only if, the whole field is one quoted value."""
    if len(field) >= 2 and field[0] == field[-1] == '"':
        inner = field[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
    return field


def _pick_column(names: list[str], where: str) -> str:
    for name in COLUMNS:
        if name in names:
            return name
    shown = ", ".join(names) or "none"
    raise UsageError(f"{where}: no prompt column (looked for {', '.join(COLUMNS)}; found: {shown})")


def _table(rows: list[list[str]], path: Path) -> list[str]:
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    index = header.index(_pick_column(header, str(path)))
    return [row[index] for row in rows[1:] if len(row) > index]
