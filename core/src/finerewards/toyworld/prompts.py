"""The toy world's prompt grammar, its parser, and the fixed versioned prompt sets.

`parse(prompt)` turns a prompt into `Requirements` (what an image must hold); the oracle judges
images against those. The sets `toy:train` and `toy:test` are data files shipped in the package,
written by `build_prompt_sets` (seeded): rebuild them with
`python -m finerewards.toyworld.prompts --write` (a test checks that the shipped files match).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import permutations, product
from pathlib import Path

from finerewards.toyworld.world import CATEGORIES, COLORS, NUMBERS, RELATIONS, SHAPES

PROMPT_SETS_VERSION = 1
"""Bump when the sets change, so that results on different versions are never compared."""
PROMPT_SETS_SEED = 4_2024
SET_NAMES = ("train", "test")
TEST_PER_CATEGORY = 100
"""`toy:test` holds this many prompts per category, or every distinct one when fewer exist."""
TRAIN_MIN_PER_CATEGORY = 400
"""`toy:train` repeats a small category's prompts until it holds at least this many lines."""
HELD_OUT = ("color_attr", "position")
"""Categories whose `toy:test` prompts never appear in `toy:train`."""
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class ObjectSpec:
    """One object a prompt asks for; `color` None means any colour."""

    shape: str
    color: str | None = None

    def matches(self, shape: str, color: str) -> bool:
        return shape == self.shape and (self.color is None or color == self.color)


@dataclass(frozen=True)
class Requirements:
    """What an image must hold to satisfy a prompt: exactly `objects` (no others), and for
    `position` prompts, objects[0] in `relation` to objects[1]."""

    prompt: str
    category: str
    objects: tuple[ObjectSpec, ...]
    relation: str | None = None


_SHAPE = "(" + "|".join(SHAPES) + ")"
_COLOR = "(" + "|".join(COLORS) + ")"
_NUMBER = "(" + "|".join(NUMBERS) + ")"
_RELATION = "(" + "|".join(RELATIONS) + ")"
_FORMS = {
    "single_object": re.compile(rf"a {_SHAPE}"),
    "colors": re.compile(rf"a {_COLOR} {_SHAPE}"),
    "two_object": re.compile(rf"a {_SHAPE} and a {_SHAPE}"),
    "counting": re.compile(rf"{_NUMBER} {_SHAPE}s"),
    "color_attr": re.compile(rf"a {_COLOR} {_SHAPE} and a {_COLOR} {_SHAPE}"),
    "position": re.compile(rf"a {_COLOR} {_SHAPE} {_RELATION} a {_COLOR} {_SHAPE}"),
}


def normalize(prompt: str) -> str:
    """Whitespace-trimmed form (the grammar is otherwise exact: lower case, no final period)."""
    return " ".join(prompt.split())


@lru_cache(maxsize=4096)
def parse(prompt: str) -> Requirements:
    """The requirements of a toy-world prompt; ValueError when it is outside the grammar."""
    text = normalize(prompt)
    for category, pattern in _FORMS.items():
        match = pattern.fullmatch(text)
        if match is None:
            continue
        g = match.groups()
        if category == "single_object":
            return Requirements(text, category, (ObjectSpec(g[0]),))
        if category == "colors":
            return Requirements(text, category, (ObjectSpec(g[1], g[0]),))
        if category == "two_object":
            if g[0] == g[1]:
                break
            return Requirements(text, category, (ObjectSpec(g[0]), ObjectSpec(g[1])))
        if category == "counting":
            return Requirements(text, category, (ObjectSpec(g[1]),) * NUMBERS[g[0]])
        if category == "color_attr":
            first, second = ObjectSpec(g[1], g[0]), ObjectSpec(g[3], g[2])
            if first == second:
                break
            return Requirements(text, category, (first, second))
        first, second = ObjectSpec(g[1], g[0]), ObjectSpec(g[4], g[3])
        return Requirements(text, category, (first, second), relation=g[2])
    raise ValueError(f"prompt {prompt!r} is outside the toy-world grammar")


def prompt_category(prompt: str) -> str:
    """The category of a toy-world prompt; ValueError when it is outside the grammar."""
    return parse(prompt).category


def all_prompts(category: str) -> list[str]:
    """Every distinct prompt of a category, in a fixed order."""
    if category == "single_object":
        return [f"a {s}" for s in SHAPES]
    if category == "colors":
        return [f"a {c} {s}" for c, s in product(COLORS, SHAPES)]
    if category == "two_object":
        return [f"a {a} and a {b}" for a, b in permutations(SHAPES, 2)]
    if category == "counting":
        return [f"{n} {s}s" for n, s in product(NUMBERS, SHAPES)]
    pairs = list(product(COLORS, SHAPES))
    if category == "color_attr":
        return [f"a {c} {s} and a {c2} {s2}" for (c, s), (c2, s2) in permutations(pairs, 2)]
    if category == "position":
        return [
            f"a {c} {s} {r} a {c2} {s2}" for r in RELATIONS for (c, s), (c2, s2) in permutations(pairs, 2)
        ]
    raise ValueError(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")


def build_prompt_sets(seed: int = PROMPT_SETS_SEED) -> dict[str, list[tuple[str, str]]]:
    """The (prompt, category) rows of `train` and `test`, drawn from `seed`.

    test: up to TEST_PER_CATEGORY distinct prompts per category (position stratified by
    relation). train: every prompt not held out, each small category repeated up to
    TRAIN_MIN_PER_CATEGORY lines, then shuffled.
    """
    rng = random.Random(seed)
    train: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for category in CATEGORIES:
        prompts = all_prompts(category)
        if len(prompts) <= TEST_PER_CATEGORY:
            chosen = list(prompts)
        elif category == "position":
            per = TEST_PER_CATEGORY // len(RELATIONS)
            chosen = []
            for relation in RELATIONS:
                pool = [p for p in prompts if parse(p).relation == relation]
                chosen += rng.sample(pool, per)
        else:
            chosen = rng.sample(prompts, TEST_PER_CATEGORY)
        test += [(p, category) for p in chosen]
        held = set(chosen) if category in HELD_OUT else set()
        pool = [p for p in prompts if p not in held]
        rng.shuffle(pool)
        repeats = -(-TRAIN_MIN_PER_CATEGORY // len(pool))
        train += [(p, category) for p in pool * repeats]
    rng.shuffle(train)
    return {"train": train, "test": test}


def set_path(name: str) -> Path:
    return DATA_DIR / f"toy_{name}_v{PROMPT_SETS_VERSION}.jsonl"


@cache
def load_prompt_rows(name: str) -> tuple[tuple[str, str], ...]:
    """The shipped (prompt, category) rows of the set `train` or `test` (`toy:` optional)."""
    key = name.removeprefix("toy:")
    if key not in SET_NAMES:
        raise ValueError(f"unknown toy prompt set {name!r} (known: toy:train, toy:test)")
    rows = []
    for line in set_path(key).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((row["prompt"], row["category"]))
    return tuple(rows)


def load_prompt_set(name: str) -> list[str]:
    """The prompts of the shipped set `train` or `test` (also accepts `toy:train`/`toy:test`)."""
    return [prompt for prompt, _ in load_prompt_rows(name)]


def write_prompt_sets(folder: Path = DATA_DIR) -> list[Path]:
    """Write the sets as JSON lines {"prompt", "category"} (atomically)."""
    from finerewards.fsutil import atomic_write_jsonl

    written = []
    for name, rows in build_prompt_sets().items():
        path = folder / set_path(name).name
        atomic_write_jsonl(path, [{"prompt": p, "category": c} for p, c in rows])
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rebuild the shipped toy prompt sets.")
    parser.add_argument("--write", action="store_true", help="write the data files")
    args = parser.parse_args(argv)
    sets = build_prompt_sets()
    for name, rows in sets.items():
        counts = {c: sum(1 for _, cat in rows if cat == c) for c in CATEGORIES}
        print(name, len(rows), counts)
    if args.write:
        for path in write_prompt_sets():
            print("wrote", path)


if __name__ == "__main__":
    main()
