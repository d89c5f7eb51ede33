"""The canonical caption grammar of the toy world, and a reader for any scene description.

`caption(objects)` writes what a perfect captioner says about a scene, in words close to the
prompt grammar (TOYWORLD.md), so that a caption and a prompt describing the same scene read alike:

- objects are grouped by (colour, shape); groups come in palette order, then shape order;
- a group is `a {color} {shape}` (one object) or `{n} {color} {shape}s` (n = two..four);
- groups are joined by ` and `: `two yellow circles and a green triangle`;
- a scene of exactly two different objects states their relation when it is clear (the
  relation holds, its main offset is >= CLEAR_OFFSET px and exceeds the other offset by
  >= RELATION_MARGIN px), with the first group as subject: `a red circle to the left of a
  blue square`; otherwise it uses ` and `.

`parse_text(text)` reads a prompt (through `prompts.parse`) or a caption into `Requirements`, and
`describes(text, objects)` judges it by the prompt rule: exactly these objects, and the relation
holds when one is stated. `caption_correct` is the captioner's check: the caption describes the
scene, and it states a (true) relation whenever the canonical caption does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import permutations
from typing import Protocol

from finerewards.toyworld.prompts import ObjectSpec, Requirements, normalize, parse
from finerewards.toyworld.render import CLEAR_OFFSET
from finerewards.toyworld.world import COLORS, NUMBERS, RELATIONS, SHAPES, relation_holds

RELATION_MARGIN = 4
"""A caption states a relation only when its main offset beats the other axis by this (px)."""
CAPTION_CATEGORY = "caption"
"""`Requirements.category` of a text that is a caption but no prompt."""

_COUNT_WORDS = {1: "a", **{n: word for word, n in NUMBERS.items()}}
_COLOR = "(?:" + "|".join(COLORS) + ")"
_SHAPE = "(?:" + "|".join(SHAPES) + ")"
_GROUP = re.compile(rf"(a|{'|'.join(NUMBERS)}) (?:({_COLOR}) )?({_SHAPE})(s?)")
_RELATION_SPLIT = re.compile(" (" + "|".join(RELATIONS) + ") ")


class SceneItem(Protocol):
    """What a description is judged against: a render's `SceneObject` or an oracle `Object`."""

    @property
    def shape(self) -> str: ...

    @property
    def color(self) -> object: ...

    @property
    def center(self) -> tuple[float, float]: ...


def _key(obj: SceneItem) -> tuple[int, int]:
    return (COLORS.index(str(obj.color)), SHAPES.index(obj.shape))


def group_phrase(count: int, color: str, shape: str) -> str:
    """`a red circle`, `three blue squares`."""
    return f"{_COUNT_WORDS[count]} {color} {shape}{'s' if count > 1 else ''}"


def clear_relation(a: SceneItem, b: SceneItem) -> str | None:
    """The relation of `a` to `b` when it is clear enough for a caption to state, else None."""
    (ax, ay), (bx, by) = a.center, b.center
    dx, dy = abs(ax - bx), abs(ay - by)
    for relation in RELATIONS:
        if not relation_holds(relation, a.center, b.center):
            continue
        main, other = (dx, dy) if relation.startswith("to the") else (dy, dx)
        if main >= CLEAR_OFFSET and main - other >= RELATION_MARGIN:
            return relation
    return None


def caption(objects: Sequence[SceneItem]) -> str:
    """The canonical caption of a scene of palette-coloured objects (see the module docstring)."""
    ordered = sorted(objects, key=_key)
    counts = Counter((str(o.color), o.shape) for o in ordered)
    groups = sorted(counts, key=lambda cs: (COLORS.index(cs[0]), SHAPES.index(cs[1])))
    phrases = [group_phrase(counts[g], *g) for g in groups]
    if len(ordered) == 2 and len(groups) == 2:
        relation = clear_relation(ordered[0], ordered[1])
        if relation is not None:
            return f"{phrases[0]} {relation} {phrases[1]}"
    return " and ".join(phrases)


def _group_specs(text: str) -> tuple[ObjectSpec, ...]:
    match = _GROUP.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a group like 'a red circle' or 'two blue squares'")
    number, color, shape, plural = match.groups()
    count = 1 if number == "a" else NUMBERS[number]
    if (count > 1) != bool(plural):
        raise ValueError(f"{text!r}: the number and the plural do not agree")
    return (ObjectSpec(shape, color),) * count


@lru_cache(maxsize=8192)
def parse_text(text: str) -> Requirements:
    """Requirements of a prompt or a caption; ValueError when it is neither."""
    try:
        return parse(text)
    except ValueError:
        pass
    clean = normalize(text)
    parts = _RELATION_SPLIT.split(clean)
    if len(parts) == 3:
        first, second = _group_specs(parts[0]), _group_specs(parts[2])
        if len(first) != 1 or len(second) != 1:
            raise ValueError(f"{text!r}: a relation joins two single objects")
        return Requirements(clean, CAPTION_CATEGORY, first + second, relation=parts[1])
    if len(parts) != 1:
        raise ValueError(f"{text!r}: at most one relation")
    specs: tuple[ObjectSpec, ...] = ()
    for part in clean.split(" and "):
        specs += _group_specs(part)
    if len(specs) > 4:
        raise ValueError(f"{text!r}: more than four objects")
    return Requirements(clean, CAPTION_CATEGORY, specs)


def matches(req: Requirements, objects: Sequence[SceneItem]) -> bool:
    """Whether the objects are exactly the required ones (and the stated relation holds)."""
    if len(objects) != len(req.objects):
        return False
    for order in permutations(objects):
        if all(spec.matches(o.shape, str(o.color)) for spec, o in zip(req.objects, order)):
            if req.relation is None or relation_holds(req.relation, order[0].center, order[1].center):
                return True
    return False


def describes(text: str, objects: Sequence[SceneItem]) -> bool:
    """Whether a prompt or caption is true of a scene (False when the text is unreadable)."""
    try:
        req = parse_text(text)
    except ValueError:
        return False
    return matches(req, objects)


def caption_correct(text: str, objects: Sequence[SceneItem]) -> bool:
    """The captioner's check: `text` names exactly the objects present (counts, colours,
    shapes), any stated relation holds, and a relation is stated when the canonical caption
    states one."""
    try:
        req = parse_text(text)
    except ValueError:
        return False
    if not matches(req, objects):
        return False
    needs_relation = _RELATION_SPLIT.search(caption(objects)) is not None
    return req.relation is not None or not needs_relation


def objects_correct(text: str, objects: Sequence[SceneItem]) -> bool:
    """The objects half of `caption_correct`: `text` names exactly the objects present (counts,
    colours, shapes), whatever relation it states."""
    try:
        req = parse_text(text)
    except ValueError:
        return False
    return matches(Requirements(req.prompt, req.category, req.objects), objects)
