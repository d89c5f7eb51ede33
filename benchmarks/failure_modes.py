"""Why images fail their prompts: the oracle's findings on the balanced evaluation, sorted into
failure kinds, for the base `toy:sd` and for trained LoRAs.

    python benchmarks/failure_modes.py [RUN ...]     # run folders (or LoRA folders) to compare

Every model samples the same images as `tune_toy_preset.py` evaluates (about PER_CATEGORY=100
per category, seeds 100,000 + i, the toy preset's sampler settings). Each image that does not
satisfy its prompt gets the first kind that applies, in this order:

- `count`: the oracle found more or fewer objects than the prompt asks for;
- `shapes`: the right number, but not the asked shapes;
- `colors swapped`: the right shapes and, between them, the asked colours, on the wrong objects
  (attribute binding);
- `colors`: the right shapes, other colours than asked;
- `relation`: the right objects in the wrong places (`position` prompts).

Prints one JSON line per model and category; the figures quoted in docs/benchmarks.md
(`toy-preset-probes`) come from it.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import Evaluator  # noqa: E402

KINDS = ("count", "shapes", "colors swapped", "colors", "relation")


def failure_kind(req: Any, objects: Sequence[Any]) -> str | None:
    """The first failure kind (KINDS) that applies to the found `objects`, None when the
    image satisfies the prompt `req` (a parsed `Requirements`)."""
    from finerewards.toyworld.oracle import satisfies

    if satisfies(req, list(objects)):
        return None
    wanted = req.objects
    if len(objects) != len(wanted):
        return "count"
    if sorted(o.shape for o in objects) != sorted(s.shape for s in wanted):
        return "shapes"
    asked = [s.color for s in wanted]
    if None not in asked:
        pairs = sorted((o.shape, o.color) for o in objects)
        if pairs != sorted((s.shape, s.color) for s in wanted):
            same_palette = sorted(o.color for o in objects) == sorted(asked)  # type: ignore[type-var]
            return "colors swapped" if same_palette else "colors"
    return "relation"


def breakdown(prompts: Sequence[str], images: Sequence[Any]) -> dict[str, Counter[str]]:
    """Per category: how many images satisfied (`ok`) and how many failed, by kind."""
    from finerewards.toyworld.oracle import find_objects
    from finerewards.toyworld.prompts import parse

    out: dict[str, Counter[str]] = {}
    for prompt, image in zip(prompts, images):
        req = parse(prompt)
        kind = failure_kind(req, find_objects(image))
        out.setdefault(req.category, Counter())[kind or "ok"] += 1
    return out


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from finerewards.train.config import PRESETS

    per_category = int(os.environ.get("PER_CATEGORY", "100"))
    evaluator = Evaluator(per_category, dict(PRESETS["toy"]["generation"]), accuracy_only=True)
    models: list[tuple[str, Path | None]] = [("base", None)]
    for arg in sys.argv[1:]:
        models.append((arg, Path(arg) / "lora" if (Path(arg) / "lora").is_dir() else Path(arg)))
    for label, lora in models:
        found = breakdown(evaluator.prompts, evaluator.sample(lora))
        for category, counts in found.items():
            row = {"model": label, "category": category, "images": sum(counts.values()), "ok": counts["ok"]}
            print(json.dumps(row | {kind: counts[kind] for kind in KINDS}), flush=True)


if __name__ == "__main__":
    main()
