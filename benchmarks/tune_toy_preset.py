"""Probe one setting of the toy preset: `fr train` with extra flags, then oracle accuracy of the
base model and of the final LoRA on `toy:test` (balanced: about N images per category).

    python benchmarks/tune_toy_preset.py NAME [fr train flags ...]
    REWARDS=oracle python benchmarks/tune_toy_preset.py oracle-k05 --keep-fraction 0.5

Runs go to benchmarks/results/tune/NAME/ (ignored by git); a run folder that already holds a
LoRA is only re-evaluated. Prints one JSON line per model; the figures of the probes made so
far are in docs/benchmarks.md (section `toy-preset-probes`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import Evaluator, toy_sd_digest  # noqa: E402

ROOT = HERE / "results" / "tune"


def main() -> None:
    name, extra = sys.argv[1], sys.argv[2:]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from finerewards.train.config import PRESETS

    out = ROOT / name
    rewards = [x for r in os.environ.get("REWARDS", "caption,sam").split(",") for x in ("--reward", r)]
    if not (out / "lora").exists():
        started = time.time()
        argv = [sys.executable, "-m", "finerewards", "train", *rewards, "--out", str(out), "--quiet", *extra]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(done.stderr.strip().splitlines()[-1])
        print(json.dumps({"train_seconds": round(time.time() - started)}), flush=True)
    per_category = int(os.environ.get("PER_CATEGORY", "150"))
    evaluator = Evaluator(per_category, dict(PRESETS["toy"]["generation"]), accuracy_only=True)
    base_file = ROOT / f"base_{per_category}_{toy_sd_digest()}.json"  # a retrained toy:sd gets its own
    if not base_file.exists():
        base_file.write_text(json.dumps(evaluator.accuracy(None)))
    results = {"base": json.loads(base_file.read_text()), name: evaluator.accuracy(out / "lora")}
    for label, accuracy in results.items():
        print(json.dumps({"model": label, **{k: round(v, 3) for k, v in accuracy.items()}}), flush=True)
    (out / "eval.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
