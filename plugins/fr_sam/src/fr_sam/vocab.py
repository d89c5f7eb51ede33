"""The general labelling vocabulary: names for the parts a prompt does not mention.

Each part is labelled against its prompt's noun phrases plus this vocabulary, so that an
object the prompt did not ask for gets its own name (and then a low rating) instead of the
nearest prompt noun. Vocabularies: `coco-ade20k` (the COCO-Stuff and ADE20K class lists shipped
in `fr_sam/data`, for photographs), `toy` (the toy world's "{colour} {shape}" labels), `none`,
or a path to a text file with one label per line ("#" starts a comment).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from finerewards.errors import UsageError

BUILTIN = ("coco-ade20k", "toy", "none")
_RENAMES = {"playingfield": "playing field", "waterdrops": "water drops", "tv": "television"}


def _read_lines(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def normalize_class_name(name: str) -> str:
    """A dataset class name as plain words: "sky-other" -> "sky", "wall-brick" -> "brick wall"."""
    name = _RENAMES.get(name, name)
    if "-" not in name:
        return name
    base, _, kind = name.partition("-")
    if kind in {"other", "stuff"}:
        return base
    return f"{kind} {base}"


def _data_file(name: str) -> str:
    return resources.files("fr_sam").joinpath("data", name).read_text(encoding="utf-8")


@lru_cache(maxsize=16)
def load_vocabulary(spec: str) -> tuple[str, ...]:
    """The labels of a vocabulary name or file, normalised, in order, without duplicates."""
    if spec == "none":
        labels: list[str] = []
    elif spec == "toy":
        from finerewards.toyworld.world import COLORS, SHAPES

        labels = [f"{color} {shape}" for color in COLORS for shape in SHAPES]
    elif spec == "coco-ade20k":
        names = _read_lines(_data_file("coco_stuff.txt")) + _read_lines(_data_file("ade20k.txt"))
        labels = [normalize_class_name(name) for name in names]
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UsageError(f"vocabulary {spec!r} is neither one of {', '.join(BUILTIN)} nor a file")
        labels = _read_lines(path.read_text(encoding="utf-8"))
    return tuple(dict.fromkeys(label.lower() for label in labels))
