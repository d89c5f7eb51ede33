"""Performance figures of the core: CLI start-up against `import torch`, score-cache hits, one
round of the README's default run (time per phase, peak memory), and the paper-scale memory.

Run with `nox -s bench-perf` (or `python benchmarks/perf.py [--core-only]`). Writes
benchmarks/results/core_perf.json and the `core-perf` section of docs/benchmarks.md, then runs
the plugins' own benchmark scripts (benchmarks/bench_*.py) when they are present, and on a
machine with CUDA the paper-scale round (paper_round.py) and SAM's peak memory.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import paper_scale  # noqa: E402
from mdsections import machine, run_like_fr, write_section  # noqa: E402

RESULTS = HERE / "results"


def wall(argv: list[str], repeat: int = 7) -> float:
    """Median wall time of a command (seconds), after one warm-up run."""
    subprocess.run(argv, capture_output=True, check=False)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_startup() -> dict[str, float]:
    py = sys.executable
    torch = wall([py, "-c", "import torch"])
    out = {"import torch": torch}
    for args in (["--help"], ["rewards"], ["plugins"]):
        out["fr " + " ".join(args)] = wall([py, "-m", "finerewards", *args])
    return out


def bench_cache(reward: str, n: int = 48) -> dict[str, float]:
    from finerewards.cache import ScoreCache
    from finerewards.scoring import Scorer
    from finerewards.toyworld.prompts import load_prompt_set
    from finerewards.toyworld.render import render

    prompts = load_prompt_set("test")[:n]
    images = [render(p, seed=i) for i, p in enumerate(prompts)]
    scorer = Scorer([reward], keep_loaded=True, progress=False, device="cpu")
    scorer.score(images[:2], prompts[:2])  # load the model once, outside the timing
    start = time.perf_counter()
    scorer.score(images, prompts)
    scoring = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        cache = ScoreCache(Path(tmp) / "scores.sqlite")
        Scorer([reward], cache=cache, progress=False, device="cpu").score(images, prompts)
        start = time.perf_counter()
        hits = Scorer([reward], cache=cache, progress=False, device="cpu").score(images, prompts)
        cached = time.perf_counter() - start
        assert hits[reward].cached == n
    scorer.close()
    return {"images": n, "scoring_s": scoring, "cache_hit_s": cached, "speedup": scoring / cached}


def bench_round() -> dict[str, float]:
    """One round of `fr train --reward caption --reward sam` (the toy preset), in a subprocess:
    seconds per phase from its metrics, peak RSS of the process."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        argv = [sys.executable, "-m", "finerewards", "train", "--reward", "caption", "--reward", "sam"]
        argv += ["--rounds", "1", "--no-cache", "--quiet", "--out", str(out)]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        total = time.perf_counter() - start
        row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = row["seconds"]
    phases = sum(seconds.values())
    return {
        **{f"{name}_s": float(value) for name, value in seconds.items()},
        "score_share": seconds["score"] / phases,
        "process_s": total,
        "peak_rss_gib": peak_kib / 2**20,
        "images": row["images"],
    }


def cache_rewards() -> list[str]:
    from finerewards.registry import get_registry

    rewards = get_registry().rewards
    wanted = ("caption", "sam", "clip", "oracle")
    return [name for name in wanted if name in rewards and rewards[name].spec.available]


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    run_like_fr()
    startup = bench_startup()
    rewards = cache_rewards()
    cache = {name: bench_cache(name) for name in rewards}
    one_round = bench_round() if "caption" in rewards and "sam" in rewards else None
    paper = paper_scale.accounting() if "caption" in rewards and "sam" in rewards else None
    data = {"machine": machine(), "startup_s": startup, "cache": cache, "round": one_round, "paper": paper}
    (RESULTS / "core_perf.json").write_text(json.dumps(data, indent=2) + "\n")

    torch = startup["import torch"]
    lines = [
        "## Core: start-up and score cache",
        "",
        f"Machine: {machine()}. Command: `nox -s bench-perf`.",
        "",
        "| command | median wall (s) | ratio to `import torch` (goal <= 0.3) |",
        "|---|---|---|",
    ]
    lines += [f"| `{cmd}` | {sec:.3f} | {sec / torch:.2f} |" for cmd, sec in startup.items()]
    lines += [
        "",
        "Re-scoring inputs already in the score cache (goal: at least 20 times faster than scoring;",
        "the model is loaded before timing, so the ratio compares scoring with a cache hit):",
        "",
        "| reward | images | scoring (s) | cache hit (s) | speed-up |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {row['images']} | {row['scoring_s']:.3f} | {row['cache_hit_s']:.4f} "
        f"| {row['speedup']:.0f}x |"
        for name, row in cache.items()
    ]
    if one_round is not None:
        r = one_round
        lines += [
            "",
            "One round of the README's main command (`fr train --reward caption --reward sam`, toy",
            f"preset, {r['images']} images, cold score cache), in a subprocess:",
            "",
            "| generation (s) | scoring (s) | training (s) | scoring share (goal <= 25%) "
            "| peak RSS (goal <= 4 GB) |",
            "|---|---|---|---|---|",
            f"| {r['generate_s']:.1f} | {r['score_s']:.1f} | {r['train_s']:.1f} "
            f"| {100 * r['score_share']:.0f}% | {r['peak_rss_gib']:.2f} GiB |",
        ]
    if paper is not None:
        lines += ["", paper_scale.markdown(paper)]
    write_section("core-perf", "\n".join(lines))
    print("\n".join(lines))

    if "--core-only" in sys.argv[1:]:
        return
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True)
    import torch as torch_module

    if torch_module.cuda.is_available():  # the paper-scale figures need a GPU
        for extra in (["paper_round.py", "--device", "cuda"], ["bench_sam.py", "--paper-memory"]):
            print(f"\n== {' '.join(extra)}", flush=True)
            subprocess.run([sys.executable, str(HERE / extra[0]), *extra[1:]], check=True)


if __name__ == "__main__":
    main()
