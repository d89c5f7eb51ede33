"""The toy world's constants (see TOYWORLD.md): canvas, palette, shapes, relations.

Everything else in `finerewards.toyworld` reads its numbers from here, so the renderer, the
prompt grammar and the oracle cannot drift apart.
"""

from __future__ import annotations

SIZE = 64
"""Images are SIZE x SIZE RGB."""
BACKGROUND = (255, 255, 255)
MARGIN = 2
"""Minimum background between an object and the canvas edge (px)."""
GAP = 2
"""Minimum background between two objects (px)."""
MIN_SIDE = 14
MAX_SIDE = 22
"""Bounding-box side of an object (width == height), inclusive range."""
MIN_OBJECTS = 1
MAX_OBJECTS = 4

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 190),
}
COLORS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
NUMBERS: dict[str, int] = {"two": 2, "three": 3, "four": 4}
RELATIONS: tuple[str, ...] = ("to the left of", "to the right of", "above", "below")
RELATION_MIN_OFFSET = 4
"""A relation needs the centres at least this far apart along its axis (px)."""

UNKNOWN = "unknown"
"""Colour or shape name the oracle gives to something it cannot name."""
CATEGORIES: tuple[str, ...] = (
    "single_object",
    "colors",
    "two_object",
    "counting",
    "color_attr",
    "position",
)


def relation_holds(relation: str, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether centre `a` stands in `relation` to centre `b` (TOYWORLD.md's rule)."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if relation == "to the left of":
        return -dx >= RELATION_MIN_OFFSET and abs(dy) < abs(dx)
    if relation == "to the right of":
        return dx >= RELATION_MIN_OFFSET and abs(dy) < abs(dx)
    if relation == "above":
        return -dy >= RELATION_MIN_OFFSET and abs(dx) < abs(dy)
    if relation == "below":
        return dy >= RELATION_MIN_OFFSET and abs(dx) < abs(dy)
    raise ValueError(f"unknown relation {relation!r} (known: {', '.join(RELATIONS)})")
