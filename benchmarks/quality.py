"""The paper's table on the toy world: reward-ranked fine-tuning of `toy:sd` (the toy preset's
loop) with each reward, and with rewards combined, against the base model, measured exactly by
the oracle on `toy:test`.

`nox -s bench-quality` (or `python benchmarks/quality.py`) trains every row with `fr train`
(the toy preset: the same compute budget for every row) for each seed, samples `toy:test`
with the same evaluation seeds for every model, and writes

- benchmarks/results/quality.json: every run's figures (per category, per round);
- docs/benchmarks.md, section `quality`: the table (mean and spread over seeds), the accuracy
  curve against rounds and a grid of samples before and after (docs/img/).

Columns: oracle accuracy per category and overall; the caption reward's similarity; the CLIP
score (`clip`, toy preset); and a toy FID: the Frechet distance between `toy:clip` image-tower
embeddings of the samples and of ground-truth renders of the same prompts (a model that buys
alignment with image quality shows up here).

`--quick` (one seed, the main rows) is a smoke run of the same code. Finished runs are reused
only where their folders are (benchmarks/results/quality-runs/, git-ignored; `--jobs 2` trains
two at once): an interrupted benchmark resumes where it stopped, and a fresh clone measures
every run again rather than writing the committed figures back. `--report` trains nothing: it
evaluates runs trained here but not yet measured and writes the table from every recorded run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mdsections import machine, write_section  # noqa: E402

RESULTS = HERE / "results" / "quality.json"
RUNS = HERE / "results" / "quality-runs"
"""One `fr train` folder per row and seed, under the fingerprint of the settings (git-ignored)."""
IMAGES = HERE.parent / "docs" / "img"
EVAL_SEED = 100_000
"""Image i of an evaluation uses seed EVAL_SEED + i, for every model (paired comparison)."""


@dataclass(frozen=True)
class Row:
    label: str
    rewards: tuple[str, ...] = ()
    aggregate: str = "rank-sum"
    main: bool = False
    """Main rows get the accuracy-against-rounds curve."""


ROWS: tuple[Row, ...] = (
    Row("base toy:sd"),
    Row("clip", ("clip",)),
    Row("blip-itm", ("blip-itm",)),
    Row("caption", ("caption",), main=True),
    Row("sam", ("sam",), main=True),
    Row("caption + sam (rank-sum)", ("caption", "sam"), main=True),
    Row("caption + sam + clip (rank-sum)", ("caption", "sam", "clip")),
    Row("caption + sam (weighted-sum)", ("caption", "sam"), "weighted-sum"),
    Row("oracle (upper bound)", ("oracle",), main=True),
)


# --- evaluation -------------------------------------------------------------------------------


def frechet_distance(a: Any, b: Any) -> float:
    """Frechet distance between Gaussians fitted to two sets of feature rows."""
    import numpy as np
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


class Evaluator:
    """Samples `toy:test` with one model and measures it; reference features computed once."""

    def __init__(self, per_category: int, settings: dict[str, Any], accuracy_only: bool = False) -> None:
        from finerewards.scoring import Scorer
        from finerewards.toyworld import clip_eval
        from finerewards.toyworld.render import render

        self.prompts = balanced_prompts(per_category)
        self.seeds = [EVAL_SEED + i for i in range(len(self.prompts))]
        self.settings = settings
        if accuracy_only:
            return
        self.clip = clip_eval.load(_toy_path("toy:clip"))
        truth = [render(p, seed=s) for p, s in zip(self.prompts, self.seeds)]
        self.truth_features = clip_eval.embed_images(*self.clip, truth)
        self.scorer = Scorer(["caption", "clip"], progress=False, device="cpu", keep_loaded=True)

    def sample(self, lora: Path | None, indices: list[int] | None = None) -> list[Any]:
        from finerewards.toyworld import sd_quality

        return self.sample_pipeline(sd_quality.load_pipeline("toy:sd", lora), indices)

    def sample_pipeline(self, pipe: Any, indices: list[int] | None = None) -> list[Any]:
        """The evaluation images (or those at `indices`) of a loaded pipeline, with whatever
        adapter it holds."""
        from finerewards.toyworld import sd_quality
        from finerewards.train.config import GenerationConfig
        from finerewards.train.pipeline import set_sampler

        chosen = range(len(self.prompts)) if indices is None else indices
        set_sampler(pipe, self.settings["scheduler"], pipe.scheduler.config)
        return sd_quality.sample(
            pipe,
            [self.prompts[i] for i in chosen],
            [self.seeds[i] for i in chosen],
            GenerationConfig(**self.settings),
        )

    def accuracy(self, lora: Path | None) -> dict[str, float]:
        from finerewards.toyworld.oracle import evaluate

        return evaluate(zip(self.prompts, self.sample(lora)))["accuracy"]

    def measure(self, lora: Path | None) -> tuple[dict[str, Any], list[Any]]:
        from PIL import Image

        from finerewards.toyworld import clip_eval
        from finerewards.toyworld.oracle import evaluate

        arrays = self.sample(lora)
        images = [Image.fromarray(a) for a in arrays]
        scores = self.scorer.score(images, self.prompts)
        features = clip_eval.embed_images(*self.clip, images)
        figures = {
            "accuracy": evaluate(zip(self.prompts, arrays))["accuracy"],
            "caption": statistics.fmean(scores["caption"].scores),
            "clip": statistics.fmean(scores["clip"].scores),
            "fid": frechet_distance(features, self.truth_features),
        }
        return figures, arrays


def balanced_prompts(per_category: int) -> list[str]:
    """`toy:test` prompts repeated so that every category has about `per_category` images.

    Accuracy "overall" is the mean over categories (as in GenEval), and the small categories
    (3 single-object prompts, 6 two-object ones) would otherwise make it noisy.
    """
    from finerewards.toyworld.prompts import load_prompt_set, prompt_category

    prompts = load_prompt_set("test")
    sizes: dict[str, int] = {}
    for p in prompts:
        sizes[prompt_category(p)] = sizes.get(prompt_category(p), 0) + 1
    return [p for p in prompts for _ in range(max(1, round(per_category / sizes[prompt_category(p)])))]


def _toy_path(ref: str) -> str:
    from finerewards.models import resolve_model

    return str(resolve_model(ref))


# --- training ---------------------------------------------------------------------------------


def run_name(row: Row, seed: int) -> str:
    return f"{'+'.join(row.rewards)}-{row.aggregate}-{seed}"


def train(row: Row, seed: int, out: Path, extra: list[str], threads: int) -> dict[str, Any]:
    """`fr train` for one row and seed (toy preset); its JSON summary plus the wall time.

    The summary is kept in the run folder (`quality-summary.json`, written last, with the row's
    `row_key`), so a run that finished is never trained again by a resumed benchmark."""
    done_file = out / "quality-summary.json"
    if trained(out, row_key(row)):
        return json.loads(done_file.read_text())
    if out.exists():
        shutil.rmtree(out)  # an interrupted run: start it again
    argv = [sys.executable, "-m", "finerewards", "train", "--seed", str(seed), "--out", str(out)]
    for name in row.rewards:
        argv += ["--reward", name]
    argv += ["--aggregate", row.aggregate, "--quiet", "--json", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    summary = json.loads(done.stdout)
    summary["wall_seconds"] = round(time.time() - started, 1)
    summary["row_key"] = row_key(row)
    tmp = done_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary))
    tmp.replace(done_file)
    return summary


def trained(out: Path, key: str) -> bool:
    """Whether the run in `out` finished training (its summary is written last) with the row
    presets `key`."""
    done_file = out / "quality-summary.json"
    if not (done_file.exists() and (out / "lora").is_dir()):
        return False
    return bool(json.loads(done_file.read_text()).get("row_key") == key)


def round_loras(run: Path) -> list[Path]:
    return sorted(p / "lora" for p in (run / "rounds").iterdir() if (p / "lora").is_dir())


def fingerprint(per_category: int, extra: list[str]) -> str:
    """What every run's figures depend on besides its row and seed: the toy preset, the
    evaluation size, the extra `--set`s, and the toy:sd weights. Results and run folders of
    another fingerprint are never reused. (Each row adds its rewards' presets: `row_key`.)"""
    import hashlib

    from finerewards.train.config import PRESETS

    key = json.dumps([PRESETS["toy"], per_category, extra, toy_sd_digest()], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def row_key(row: Row) -> str:
    """A short hash of the toy presets of the row's rewards: a run trained with other presets
    (a reward's toy preset changed, or it had none) is not reused; other rows' runs are."""
    import hashlib

    from finerewards.registry import get_registry

    registry = get_registry()
    presets = {
        name: registry.rewards[name].spec.presets.get("toy") if name in registry.rewards else None
        for name in row.rewards
    }
    return hashlib.sha256(json.dumps(presets, sort_keys=True, default=str).encode()).hexdigest()[:12]


def toy_sd_digest() -> str:
    """A short hash of the shipped toy:sd weights (a retrained toy:sd invalidates old figures)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(_toy_path("toy:sd")).rglob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# --- tables -----------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {statistics.stdev(values):.3f}"


def table(results: dict[str, Any]) -> str:
    from finerewards.toyworld.world import CATEGORIES

    cols = [*CATEGORIES, "overall"]
    head = "| row | " + " | ".join(cols) + " | caption sim. | CLIP score | toy FID | train min |"
    lines = [head, "|" + "---|" * (len(cols) + 5)]
    for label, runs in results["rows"].items():
        ok = [r for r in runs if "figures" in r]
        if not ok:
            reason = runs[0].get("error", "not run") if runs else "not run"
            lines.append(f"| {label} | " + " | ".join("–" for _ in cols) + f" | – | – | – | {reason} |")
            continue
        acc = [spread([r["figures"]["accuracy"][c] for r in ok]) for c in cols]
        minutes = [r["train"]["wall_seconds"] / 60 for r in ok if "wall_seconds" in r.get("train", {})]
        cells = [
            *acc,
            spread([r["figures"]["caption"] for r in ok]),
            spread([r["figures"]["clip"] for r in ok]),
            spread([r["figures"]["fid"] for r in ok]),
            f"{statistics.fmean(minutes):.1f}" if minutes else "–",
        ]
        lines.append(f"| {label} (n={len(ok)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curves_plot(results: dict[str, Any], path: Path) -> bool:
    """Accuracy against rounds for the main rows (seed 0), drawn like the training report's curves."""
    from finerewards.train.report import plot_panels

    curves = {label: c for label, c in results.get("curves", {}).items() if c}
    if not curves:
        return False
    rounds = list(range(max(len(c) for c in curves.values())))
    padded = {label: [*c, *[None] * (len(rounds) - len(c))] for label, c in curves.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    title = "oracle accuracy on toy:test by round, seed 0 (0: base toy:sd)"
    path.write_bytes(plot_panels({title: padded}, rounds))
    return True


STRIP = 16
"""Images per model in the samples grid."""


def strip_indices(total: int, count: int = STRIP) -> list[int]:
    """Evenly spaced evaluation images (`Evaluator.sample(lora, strip_indices(...))`): the
    evaluation lists prompts category by category, so the strip shows every category, not 16
    copies of the first prompt."""
    return [k * total // count for k in range(count)]


def save_strip(images: list[Any], path: Path) -> None:
    """Images side by side (one row of the samples grid), written atomically."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(np.concatenate(list(images), axis=1)).save(tmp)
    tmp.replace(path)


def sample_grid(strips: list[tuple[str, Path]], path: Path, margin: int = 230) -> None:
    """One strip of samples per model (the same prompts and seeds in every strip), its row
    label on the left."""
    from PIL import Image, ImageDraw

    images = [Image.open(p).convert("RGB") for _, p in strips]
    width = margin + max(im.width for im in images)
    grid = Image.new("RGB", (width, sum(im.height for im in images)), "white")
    draw = ImageDraw.Draw(grid)
    top = 0
    for (label, _), im in zip(strips, images, strict=True):
        grid.paste(im, (margin, top))
        draw.text((6, top + im.height // 2 - 6), label, fill="black")
        top += im.height
    grid.save(path)


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--per-category", type=int, default=100, help="evaluation images per toy:test category (about)"
    )
    parser.add_argument("--rows", default="", help="comma-separated row labels or reward names (default all)")
    parser.add_argument("--quick", action="store_true", help="one seed, main rows, 100 images per category")
    parser.add_argument("--set", action="append", default=[], help="passed to every fr train as --set")
    parser.add_argument("--jobs", type=int, default=1, help="fr train runs at once (cores/jobs threads each)")
    parser.add_argument("--fresh", action="store_true", help="ignore finished runs of an earlier invocation")
    parser.add_argument("--report", action="store_true", help="train nothing: table of the recorded runs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: cores / jobs)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.quick:
        args.seeds, args.per_category = 1, 100
    threads = args.threads or max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    import torch

    torch.set_num_threads(threads)
    from finerewards.train.config import PRESETS

    wanted = set(args.rows.split(",")) if args.rows else set()
    rows = [
        r for r in ROWS if not wanted or r.label in wanted or "+".join(r.rewards) in wanted or not r.rewards
    ]
    if args.quick and not args.rows:
        rows = [r for r in ROWS if r.main or not r.rewards]
    settings = dict(PRESETS["toy"]["generation"])
    extra = [x for item in args.set for x in ("--set", item)]
    started = time.time()
    key = fingerprint(args.per_category, args.set)
    runs_dir = RUNS / key
    if args.fresh and runs_dir.exists():
        shutil.rmtree(runs_dir)
    results = _load(key, args.fresh)
    _drop_stale(results)
    if not args.report:
        _drop_missing(results, runs_dir)
    results.update(
        machine=machine(),
        settings={
            "seeds": args.seeds,
            "per_category": args.per_category,
            "set": args.set,
            "toy_preset": PRESETS["toy"],
        },
    )
    if not args.report:  # the table names the invocation that trained
        results.update(
            jobs=args.jobs,
            command=shlex.join(
                ["python", "benchmarks/quality.py", *(sys.argv[1:] if argv is None else argv)]
            ),
        )
    evaluator = Evaluator(args.per_category, settings)
    base = rows[0]
    if base.label not in results["runs"]:
        figures, images = evaluator.measure(None)
        save_strip([images[i] for i in strip_indices(len(images))], runs_dir / "base-strip.png")
        results["runs"][base.label] = {"seed": None, "figures": figures}
        _save(results)
    print(f"{base.label}: {results['runs'][base.label]['figures']['accuracy']['overall']:.3f}", flush=True)

    failed = {key.split("|")[0] for key, run in results["runs"].items() if "error" in run}
    todo = [  # seed by seed, so that an interrupted benchmark has every row at least once
        (row, seed)
        for seed in range(args.seeds)
        for row in rows
        if row.rewards and row.label not in failed and f"{row.label}|{seed}" not in results["runs"]
        if not args.report or trained(runs_dir / run_name(row, seed), row_key(row))
    ]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {
            pool.submit(train, row, seed, runs_dir / run_name(row, seed), extra, threads): (row, seed)
            for row, seed in todo
        }
        for future in as_completed(futures):
            row, seed = futures[future]
            if future.cancelled():
                continue
            summary = future.result()
            if "error" in summary:
                results["runs"][f"{row.label}|{seed}"] = {
                    "seed": seed,
                    "error": summary["error"],
                    "row_key": row_key(row),
                }
                print(f"{row.label} seed {seed}: {summary['error']}", flush=True)
                for other, (row2, _) in futures.items():
                    if row2 == row:
                        other.cancel()  # the same error would repeat for every seed
            else:
                run = runs_dir / run_name(row, seed)
                figures, images = evaluator.measure(run / "lora")
                entry: dict[str, Any] = {
                    "seed": seed,
                    "figures": figures,
                    "train": summary,
                    "row_key": row_key(row),
                }
                if seed == 0:
                    save_strip([images[i] for i in strip_indices(len(images))], run / "strip.png")
                    if row.main:
                        entry["curve"] = [evaluator.accuracy(lora)["overall"] for lora in round_loras(run)]
                results["runs"][f"{row.label}|{seed}"] = entry
                print(f"{row.label} seed {seed}: {figures['accuracy']['overall']:.3f}", flush=True)
            results["seconds"] = results.get("seconds", 0.0) + round(time.time() - started, 1)
            started = time.time()
            _save(results)
    results["seconds"] = results.get("seconds", 0.0) + round(time.time() - started, 1)
    _save(results)
    collect(results, rows, args.seeds)
    strips = [(rows[0].label, runs_dir / "base-strip.png")]
    if not strips[0][1].exists():  # --report on figures measured elsewhere
        save_strip(evaluator.sample(None, strip_indices(len(evaluator.prompts))), strips[0][1])
    for row in (r for r in rows if r.rewards):
        run = runs_dir / run_name(row, 0)
        if not (run / "strip.png").exists() and trained(run, row_key(row)):
            save_strip(
                evaluator.sample(run / "lora", strip_indices(len(evaluator.prompts))), run / "strip.png"
            )
        strips.append((row.label, run / "strip.png"))
    IMAGES.mkdir(parents=True, exist_ok=True)
    absent = [label for label, path in strips if not path.exists()]
    if args.report and absent:  # figures recorded elsewhere: their samples are not here
        print(f"samples grid kept: no samples here of {', '.join(absent)}", flush=True)
    else:
        here = [(label, path) for label, path in strips if path.exists()]
        sample_grid(here, IMAGES / "quality_samples.png")
    has_plot = curves_plot(results, IMAGES / "quality_curves.png")
    write_section("quality", markdown(results, rows, has_plot))


def collect(results: dict[str, Any], rows: list[Row], seeds: int) -> None:
    """The table's view of the finished runs: `rows` (label -> runs) and `curves` (main rows,
    seed 0, starting from the base model's accuracy)."""
    base = results["runs"][ROWS[0].label]
    results["rows"], results["curves"] = {}, {}
    for row in rows:
        if not row.rewards:
            results["rows"][row.label] = [base]
            continue
        runs = [
            results["runs"][k] for k in (f"{row.label}|{s}" for s in range(seeds)) if k in results["runs"]
        ]
        results["rows"][row.label] = runs
        first = next((r for r in runs if r.get("seed") == 0 and "curve" in r), None)
        if row.main and first:
            results["curves"][row.label] = [base["figures"]["accuracy"]["overall"], *first["curve"]]


def _unfinished(results: dict[str, Any], rows: list[Row]) -> list[str]:
    """A line saying how many runs are still missing, when the benchmark was interrupted."""
    seeds = results["settings"]["seeds"]
    failed = {label for label, runs in results["rows"].items() if any("error" in x for x in runs)}
    runnable = [r for r in rows if r.rewards and r.label not in failed]
    planned = seeds * len(runnable)
    done = sum(len(results["rows"].get(r.label, [])) for r in runnable)
    if done >= planned:
        return []
    return [
        f"**Unfinished: {done} of {planned} runs** (the rest were not run yet: the benchmark "
        "resumes where it stopped). Rows with n < the seed count are means over the finished seeds.",
        "",
    ]


def _drop_stale(results: dict[str, Any]) -> None:
    """Forget runs whose row's reward presets changed since, or that were kept without a key."""
    keys = {row.label: row_key(row) for row in ROWS if row.rewards}
    for name in list(results["runs"]):
        label = name.split("|")[0]
        if label in keys and results["runs"][name].get("row_key") != keys[label]:
            del results["runs"][name]


def _drop_missing(results: dict[str, Any], runs_dir: Path) -> None:
    """Forget runs whose folders are not on this machine (and failed runs, to try them again).

    The committed results file records what was measured; only runs trained here (their folders
    under `runs_dir`) may stand in for training again, so a fresh clone measures every run anew
    instead of writing the committed figures back. With nothing kept the time starts from zero.
    """
    rows = {row.label: row for row in ROWS}
    kept = {}
    for name, entry in results["runs"].items():
        label, _, seed = name.partition("|")
        row = rows.get(label)
        if row is None or "error" in entry:
            continue
        if row.rewards:
            here = trained(runs_dir / run_name(row, int(seed)), row_key(row))
        else:
            here = (runs_dir / "base-strip.png").exists()  # written with the base's figures
        if here:
            kept[name] = entry
    results["runs"] = kept
    if not kept:
        results["seconds"] = 0.0


def _load(key: str, fresh: bool) -> dict[str, Any]:
    """The results of earlier invocations with the same fingerprint (finished runs are kept)."""
    if not fresh and RESULTS.exists():
        old = json.loads(RESULTS.read_text())
        if old.get("fingerprint") == key and "runs" in old:
            return old
    return {"fingerprint": key, "runs": {}, "seconds": 0.0}


def _save(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(RESULTS)


def findings(results: dict[str, Any]) -> list[str]:
    """What the table says about the paper's claims, worked out from the figures (no claim is
    written in by hand): each comparison states both means and the seed spread."""
    base = results["runs"][ROWS[0].label]["figures"]["accuracy"]["overall"]
    overall: dict[str, list[float]] = {}
    fid: dict[str, float] = {}
    for label, runs in results["rows"].items():
        ok = [r for r in runs if "figures" in r]
        if ok and label != ROWS[0].label:
            overall[label] = [r["figures"]["accuracy"]["overall"] for r in ok]
            fid[label] = statistics.fmean(r["figures"]["fid"] for r in ok)
    if not overall:
        return []
    mean = {label: statistics.fmean(v) for label, v in overall.items()}
    sd = {label: statistics.stdev(v) if len(v) > 1 else 0.0 for label, v in overall.items()}

    def fig(label: str) -> str:
        return f"{label} {spread(overall[label])}"

    def compare(a: str, b: str) -> str:
        if a not in mean or b not in mean:
            return "not measured"
        gap = mean[a] - mean[b]
        verdict = "holds" if gap > 0 else "does not hold"
        noise = " (within the seed spread)" if abs(gap) <= max(sd[a], sd[b]) else ""
        return f"{verdict}{noise}: {fig(a)} against {fig(b)}"

    main_row, single = "caption + sam (rank-sum)", ("caption", "sam")
    preset = results["settings"]["toy_preset"]
    loop = (
        f"{preset['rounds']} rounds of {preset['training']['steps_per_round']} "
        f"{preset['training'].get('objective', 'raft')} steps on {preset['prompts_per_round']} prompts"
        f"{pair_filter(preset)}"
    )
    lines = ["**What the table says** (means over seeds, ± standard deviation):", ""]
    best = max(mean, key=mean.__getitem__)
    below = [label for label, m in mean.items() if m <= base]
    lifted = f"rows at or below it: {', '.join(below)}" if below else "every fine-tuned row is above it"
    lines.append(f"- Base {base:.3f}; {lifted}. The best row: {fig(best)}.")
    if main_row in mean:
        alone = "; ".join(compare(main_row, r) for r in single if r in mean) or "not measured"
        lines.append(f"- Combining caption and sam by ranks beats each alone: {alone}.")
        lines.append(
            f"- Rank-sum beats the weighted sum of the same rewards: "
            f"{compare(main_row, 'caption + sam (weighted-sum)')}."
        )
    for semantic in (*single, main_row):
        lines.append(f"- {semantic} (semantic) beats clip: {compare(semantic, 'clip')}.")
    if "blip-itm" in mean:
        lines.append(f"- {main_row} beats BLIP ITM: {compare(main_row, 'blip-itm')}.")
    oracle = "oracle (upper bound)"
    if oracle in mean and best != oracle:
        lines.append(
            f"- The oracle row is not the upper bound here: {fig(oracle)}, below {fig(best)}. With the "
            "exact judge as the reward the loop lifts no more than with the learned rewards, so in "
            f"the toy world the loop ({loop}), not the reward, limits the lift, and its seed-to-seed "
            "spread is as large as the gaps between rows."
        )
    if main_row in overall:
        lifts = ", ".join(f"{100 * (x - base):+.1f}" for x in overall[main_row])
        mean_lift = 100 * (mean[main_row] - base)
        lines.append(
            f"- The README's command ({main_row}), per seed: {lifts} points over the base, "
            f"{mean_lift:+.1f} on average on this evaluation (about {results['settings']['per_category']} "
            "images a category; the issue's goal: at least +5)."
        )
    base_fid = results["runs"][ROWS[0].label]["figures"]["fid"]
    doubled = [f"{label} {fid[label]:.3f}" for label in fid if fid[label] > 2 * base_fid]
    lines.append(
        f"- Toy FID (base {base_fid:.3f}, rows {min(fid.values()):.3f} to {max(fid.values()):.3f}): "
        + (
            f"more than twice the base's for {', '.join(doubled)}: alignment bought with image quality?"
            if doubled
            else "no row more than doubles the base's: no sign of alignment bought with image quality."
        )
    )
    return [*lines, ""]


def pair_filter(preset: dict[str, Any]) -> str:
    """The preset's pair filter in words (empty when every pair is kept)."""
    margin = preset["training"].get("pair_margin", 0)
    return f" on the pairs some reward separates by more than {margin:g} sd" if margin else ""


def seeds_phrase(seeds: int) -> str:
    return "seed 0" if seeds == 1 else f"seeds 0..{seeds - 1}"


def markdown(results: dict[str, Any], rows: list[Row], has_plot: bool) -> str:
    s = results["settings"]
    preset = s["toy_preset"]
    lines = [
        "## Quality: the paper's table on the toy world",
        "",
        f"`{results.get('command', 'python benchmarks/quality.py')}` "
        f"on {results['machine']}; {results['seconds'] / 60:.0f} min in all. Every row is `fr train` with "
        f"the toy preset (the same budget: {preset['rounds']} rounds, {preset['prompts_per_round']} "
        f"prompts a round, K = {preset['images_per_prompt']}, {preset['training']['steps_per_round']} "
        f"LoRA steps a round of the `{preset['training'].get('objective', 'raft')}` objective"
        f"{pair_filter(preset)}{', --set ' + ', '.join(s['set']) if s['set'] else ''}), "
        f"{seeds_phrase(s['seeds'])}; evaluation: `toy:test`, each category about {s['per_category']} "
        "images (prompts repeated), the same seeds for every model; overall = mean over categories. "
        + ("Mean ± standard deviation over seeds." if s["seeds"] > 1 else "One seed: no spread."),
        "",
        table(results),
        "",
        *_unfinished(results, rows),
        *findings(results),
        "Rows not available in the toy world say why. Raw figures: `benchmarks/results/quality.json`.",
        f"Train minutes are `fr train` wall time, {results.get('jobs', 1)} run(s) at a time on the "
        "machine's cores, with the score cache shared between rows: every row starts from the same "
        "base samples, so rows after the first reuse their round-0 scores. The benchmark resumes: "
        "finished runs (`benchmarks/results/quality-runs/`, under a fingerprint of the presets) are "
        "kept, and the time above adds up every invocation.",
    ]
    averaged = preset["training"].get("average_rounds", 0)
    if has_plot:
        lines += [
            "",
            "Accuracy against rounds, seed 0's run of each main row (one seed; the table's spread "
            "shows how far seeds differ"
            + (
                f"; each round's own adapter, where the table has the run's LoRA, the mean of the "
                f"last {averaged} rounds' adapters"
                if averaged > 1
                else ""
            )
            + "):",
            "",
            "![accuracy against rounds](img/quality_curves.png)",
        ]
    lines += [
        "",
        f"Samples ({STRIP} evaluation images spread over the categories, the same prompts and "
        "seeds in every row; seed 0's run of each row):",
        "",
        "![samples before and after](img/quality_samples.png)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
