"""The exact oracle: reads a 64 x 64 image, finds its objects, and judges a prompt.

Reading rules (TOYWORLD.md, with the refinements documented in docs/toyworld.md):

- Each pixel's *coverage* is how far it lies from white toward the palette colour whose
  white-to-colour line it fits best (0 white, 1 the pure colour). A pixel is *ink* when its
  coverage is at least 1/2 and it is coloured (max - min channel >= CHROMA_MIN) or dark (min
  channel < DARK_MAX). The 1/2 level is where a blurred edge crosses the true edge, so soft
  generated edges keep their geometry and two objects 2 px apart stay apart; faint and mid
  grey smudges are background, a dark blob is still an object. On ground-truth renders
  (flat palette colours on white) this is exactly the reference split.
- An object is a 4-connected component of ink with at least MIN_AREA pixels.
- Its colour is the nearest palette colour (Euclidean) to the mean RGB of its better-covered
  half of pixels (the plain mean on flat renders), or `unknown` beyond MAX_COLOR_DISTANCE.
- Its shape comes from moments, which single stray pixels barely move: a triangle's mass
  sits low (vertical skewness <= -TRIANGLE_SKEW; about -0.55 on renders); a square fills
  the corners of the centroid-centred box of side sqrt(area) (a circle leaves them empty);
  a blob that is elongated or not compact (merged objects, rings, scribbles) is `unknown`.
- Its centre is the centre of its bounding box (what relations compare).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from finerewards.toyworld.prompts import ObjectSpec, Requirements, parse
from finerewards.toyworld.world import CATEGORIES, PALETTE, SIZE, UNKNOWN, relation_holds

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_COVERAGE = 0.5
CHROMA_MIN = 40
DARK_MAX = 100
MIN_AREA = 20
MAX_COLOR_DISTANCE = 90.0
TRIANGLE_SKEW = 0.28
"""|vertical skewness| from which a blob is a triangle (negative) or upside down (positive)."""
SQUARE_CORNERS = 0.5
CORNER_LEG = 0.2
"""Corner triangles' legs, as a fraction of the centroid-centred box side sqrt(area)."""
MAX_ELONGATION = 1.5
"""Largest ratio of the two axis standard deviations (renders: 1.0, triangles about 1.15)."""
MIN_COMPACTNESS = 0.7
"""Smallest area / (4 pi sd_x sd_y) (renders: disc 1.0, square 0.96, triangle about 0.83)."""
PARTIAL_MAX = 0.9
"""Partial credit of an unsatisfied prompt is below this, so a satisfied image always wins."""

_PALETTE_NAMES = tuple(PALETTE)
_PALETTE_RGB = np.array([PALETTE[c] for c in _PALETTE_NAMES], dtype=np.float64)

ImageLike = Union["Image", np.ndarray]


@dataclass(frozen=True)
class Object:
    """An object the oracle found. `bbox` is (x, y, width, height); `center` is the box centre."""

    color: str
    shape: str
    center: tuple[float, float]
    area: int
    bbox: tuple[int, int, int, int]
    mean_rgb: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean_rgb"] = [round(v, 1) for v in self.mean_rgb]
        return data


# --- reading images --------------------------------------------------------------------


def to_array(image: ImageLike) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array; images of another size are resized to 64 x 64 (box)."""
    if isinstance(image, np.ndarray):
        array = image
    else:
        picture = image.convert("RGB")
        if picture.size != (SIZE, SIZE):
            from PIL import Image as PILImage

            picture = picture.resize((SIZE, SIZE), PILImage.Resampling.BOX)
        array = np.asarray(picture)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got an array of shape {array.shape}")
    return array.astype(np.uint8, copy=False)


def coverage(array: np.ndarray) -> np.ndarray:
    """Per pixel, the fraction of the way from white to the best-fitting palette colour."""
    toward = 255.0 - array.reshape(-1, 3).astype(np.float64)  # white minus pixel
    steps = 255.0 - _PALETTE_RGB  # white minus each palette colour
    dots = toward @ steps.T
    norms = (steps**2).sum(axis=1)
    alpha = np.maximum(dots / norms, 0.0)
    residual = (toward**2).sum(axis=1)[:, None] - 2 * alpha * dots + alpha**2 * norms
    best = residual.argmin(axis=1)
    return alpha[np.arange(len(best)), best].reshape(array.shape[:2])


def ink_mask(array: np.ndarray, covered: np.ndarray | None = None) -> np.ndarray:
    """Where the image holds ink (see the module docstring)."""
    covered = coverage(array) if covered is None else covered
    hi = array.max(axis=2).astype(np.int16)
    lo = array.min(axis=2).astype(np.int16)
    return (covered >= MIN_COVERAGE) & (((hi - lo) >= CHROMA_MIN) | (lo < DARK_MAX))


def _components(mask: np.ndarray) -> list[list[tuple[int, int, int]]]:
    """4-connected components as lists of runs (row, x_start, x_stop), by run union-find."""
    parent: list[int] = []
    runs: list[tuple[int, int, int]] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    previous: list[int] = []
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    for y in range(mask.shape[0]):
        starts = np.flatnonzero(edges[y] == 1)
        if starts.size == 0:
            previous = []
            continue
        stops = np.flatnonzero(edges[y] == -1)
        current = []
        for x0, x1 in zip(starts.tolist(), stops.tolist(), strict=True):
            index = len(runs)
            runs.append((y, x0, x1))
            parent.append(index)
            for j in previous:
                _, p0, p1 = runs[j]
                if p0 < x1 and x0 < p1:  # column ranges overlap: vertically adjacent
                    a, b = find(index), find(j)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
            current.append(index)
        previous = current
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(find(i), []).append(run)
    return list(groups.values())


def _nearest_color(rgb: np.ndarray) -> str:
    distances = np.sqrt(((_PALETTE_RGB - rgb) ** 2).sum(axis=1))
    best = int(distances.argmin())
    return _PALETTE_NAMES[best] if distances[best] <= MAX_COLOR_DISTANCE else UNKNOWN


def _classify(ys: np.ndarray, xs: np.ndarray) -> str:
    """The shape of a component from its pixel centres (see the module docstring)."""
    area = len(ys)
    cy, cx = ys.mean(), xs.mean()
    sy, sx = ys.std(), xs.std()
    if sy == 0 or sx == 0 or max(sx / sy, sy / sx) > MAX_ELONGATION:
        return UNKNOWN
    if area / (4 * np.pi * sx * sy) < MIN_COMPACTNESS:
        return UNKNOWN
    skew = ((ys - cy) ** 3).mean() / sy**3
    if skew <= -TRIANGLE_SKEW:
        return "triangle"
    if skew >= TRIANGLE_SKEW:
        return UNKNOWN
    half = np.sqrt(area) / 2
    leg = CORNER_LEG * 2 * half
    lo_y, hi_y = int(np.floor(cy - half)), int(np.ceil(cy + half))
    lo_x, hi_x = int(np.floor(cx - half)), int(np.ceil(cx + half))
    gy, gx = np.mgrid[lo_y:hi_y, lo_x:hi_x] + 0.5
    dy, dx = np.abs(gy - cy), np.abs(gx - cx)
    corner = (dx < half) & (dy < half) & ((half - dx) + (half - dy) < leg)
    if not corner.any():
        return "circle"
    filled = np.zeros(gy.shape, dtype=bool)
    inside = (ys >= lo_y) & (ys < hi_y) & (xs >= lo_x) & (xs < hi_x)
    filled[(ys[inside] - lo_y).astype(int), (xs[inside] - lo_x).astype(int)] = True
    return "square" if filled[corner].mean() >= SQUARE_CORNERS else "circle"


def find_objects(image: ImageLike) -> list[Object]:
    """The objects in an image, top-to-bottom then left-to-right by first pixel."""
    array = to_array(image)
    covered = coverage(array)
    objects = []
    for runs in _components(ink_mask(array, covered)):
        area = sum(x1 - x0 for _, x0, x1 in runs)
        if area < MIN_AREA:
            continue
        ys = np.concatenate([np.full(x1 - x0, y) for y, x0, x1 in runs])
        xs = np.concatenate([np.arange(x0, x1) for _, x0, x1 in runs])
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        pixel_cover = covered[ys, xs]
        core = array[ys, xs][pixel_cover >= np.median(pixel_cover)].astype(np.float64)
        mean = core.mean(axis=0)
        objects.append(
            Object(
                color=_nearest_color(mean),
                shape=_classify(ys + 0.5, xs + 0.5),
                center=((x0 + x1) / 2, (y0 + y1) / 2),
                area=int(area),
                bbox=(int(x0), int(y0), int(x1 - x0), int(y1 - y0)),
                mean_rgb=(float(mean[0]), float(mean[1]), float(mean[2])),
            )
        )
    return objects


# --- judging prompts -------------------------------------------------------------------


def _objects(image_or_objects: ImageLike | Sequence[Object]) -> list[Object]:
    if isinstance(image_or_objects, (list, tuple)):
        return list(image_or_objects)
    return find_objects(image_or_objects)  # type: ignore[arg-type]


def _credit(spec: ObjectSpec, obj: Object) -> float:
    """How well one found object fills one requested slot: shape and colour, half each."""
    shape_ok = obj.shape == spec.shape
    if spec.color is None:
        return float(shape_ok)
    return (shape_ok + (obj.color == spec.color)) / 2


def _best_assignment(req: Requirements, objects: Sequence[Object]) -> tuple[float, bool]:
    """(best summed slot credit, whether the relation holds under that assignment).

    Slots of counting/single prompts are interchangeable, so the best objects are taken
    greedily; two-slot prompts try every ordered pair.
    """
    specs = req.objects
    if not objects:
        return 0.0, False
    if len(set(specs)) == 1:
        credits = sorted((_credit(specs[0], o) for o in objects), reverse=True)
        return sum(credits[: len(specs)]), False
    best = (0.0, False)
    choices: list[Object | None] = [*objects, None]  # None: the slot stays empty
    for a in choices:
        for b in choices:
            if a is not None and a is b:
                continue
            credit = (_credit(specs[0], a) if a else 0.0) + (_credit(specs[1], b) if b else 0.0)
            related = (
                a is not None
                and b is not None
                and req.relation is not None
                and relation_holds(req.relation, a.center, b.center)
            )
            best = max(best, (credit, related))
    return best


def satisfies(prompt: str | Requirements, image_or_objects: ImageLike | Sequence[Object]) -> bool:
    """Whether the image (or its found objects) holds exactly what the prompt asks for."""
    req = prompt if isinstance(prompt, Requirements) else parse(prompt)
    return _verdict(req, _objects(image_or_objects))[0]


def _verdict(req: Requirements, objects: list[Object]) -> tuple[bool, float]:
    """(satisfied, score): score is 1 when satisfied, else the partial credit below."""
    wanted = len(req.objects)
    credit, related = _best_assignment(req, objects)
    match = credit / wanted
    count = 1.0 - min(1.0, abs(len(objects) - wanted) / wanted)
    terms = [match, count]
    if req.relation is not None:
        terms.append(float(related))
    if all(t == 1.0 for t in terms):
        return True, 1.0
    return False, PARTIAL_MAX * sum(terms) / len(terms)


def score(prompt: str, image_or_objects: ImageLike | Sequence[Object]) -> float:
    """1.0 when satisfied; otherwise partial credit in [0, 0.9).

    Partial credit = 0.9 x mean of: slot match (best assignment of found objects to the
    requested ones; each slot earns 1 for the right shape, or 1/2 + 1/2 for right shape and
    right colour when a colour is asked), count (1 - |found - wanted| / wanted, floored at 0),
    and for `position` prompts the relation (1 if it holds under the best assignment).
    """
    return _verdict(parse(prompt), _objects(image_or_objects))[1]


def judge(prompt: str, image: ImageLike) -> dict[str, Any]:
    """Everything the oracle concludes about one (prompt, image): for reward details and eval."""
    req = parse(prompt)
    objects = find_objects(image)
    ok, value = _verdict(req, objects)
    return {
        "category": req.category,
        "satisfied": ok,
        "score": value,
        "objects": [o.as_dict() for o in objects],
    }


def evaluate(items: Iterable[tuple[str, ImageLike]]) -> dict[str, Any]:
    """Accuracy per category and overall for (prompt, image) pairs.

    Returns {"accuracy": {category: mean satisfied, ..., "overall": mean of the category
    accuracies}, "n": {category: count, ..., "overall": total}} (GenEval's convention:
    `overall` weighs each present category equally).
    """
    hits: dict[str, list[bool]] = {}
    for prompt, image in items:
        req = parse(prompt)
        hits.setdefault(req.category, []).append(satisfies(req, image))
    return summarize(hits)


def summarize(hits: dict[str, list[bool]]) -> dict[str, Any]:
    """The `evaluate` dict from per-category verdict lists."""
    accuracy: dict[str, float] = {}
    counts: dict[str, int] = {}
    for category in CATEGORIES:
        if hits.get(category):
            accuracy[category] = sum(hits[category]) / len(hits[category])
            counts[category] = len(hits[category])
    accuracy["overall"] = sum(accuracy.values()) / len(accuracy) if accuracy else 0.0
    counts["overall"] = sum(counts.values())
    return {"accuracy": accuracy, "n": counts}
