"""Random streams derived from (run seed, round, purpose, ...), never from shared global state.

Every random choice of a round (which prompts, each image's seed, the LoRA's initial values,
the training batches and noise) comes from its own stream, so a round is a pure function of the
LoRA before it: a resumed run repeats exactly what the uninterrupted run would have done, and
prompts sharded over several processes get the same seeds as in one process.
"""

from __future__ import annotations

import hashlib
import json
import random

SEED_BITS = 63


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any JSON-able parts (stable across machines and Python versions)."""
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def image_seed(run_seed: int, round_index: int, prompt_index: int, k: int) -> int:
    """The recorded seed of candidate `k` of prompt `prompt_index` in a round."""
    return derive_seed(run_seed, round_index, "sample", prompt_index, k)


def round_prompt_indices(run_seed: int, round_index: int, total: int, per_round: int) -> list[int]:
    """Which prompts a round uses (ascending): all, or `per_round` drawn without replacement."""
    if per_round <= 0 or per_round >= total:
        return list(range(total))
    rng = random.Random(derive_seed(run_seed, round_index, "prompts"))
    return sorted(rng.sample(range(total), per_round))
