"""`report.html`: what each round generated, what was kept, and the reward curves.

One self-contained page that opens offline: the curves are a PNG drawn with Pillow and embedded
as a data URI, the candidates are linked by relative paths into `rounds/` (so the page travels
with its run folder).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from finerewards.fsutil import atomic_write_text
from finerewards.train.config import TrainConfig
from finerewards.train.run_dir import RunDir

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step + 1e-9) + 1)]


def plot_curves(metrics: Sequence[dict[str, Any]], rewards: Sequence[str]) -> bytes:
    """A PNG with one panel per reward: mean of all candidates and of kept ones, by round."""
    panels = {
        f"{name}: mean reward by round": {
            "all": [row["reward_mean"][name] for row in metrics],
            "kept": [row["reward_mean_kept"][name] for row in metrics],
        }
        for name in rewards
    }
    return plot_panels(panels, [int(row["round"]) for row in metrics])


def plot_panels(panels: Mapping[str, Mapping[str, Sequence[float | None]]], rounds: Sequence[int]) -> bytes:
    """A PNG with one panel per title, each a few named series of values by round (PIL only:
    the report needs no plotting library)."""
    from PIL import Image, ImageDraw

    width, panel, margin = 560, 200, 48
    image = Image.new("RGB", (width, max(1, len(panels)) * panel + 10), "white")
    draw = ImageDraw.Draw(image)
    for p, (title, series) in enumerate(panels.items()):
        top = p * panel + 10
        box = (margin + 10, top + 20, width - 20, top + panel - 30)
        values = [v for s in series.values() for v in s if v is not None]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        pad = 0.08 * (high - low)
        low, high = low - pad, high + pad
        first, last = (min(rounds), max(rounds)) if rounds else (0, 1)
        span = max(1, last - first)

        def xy(
            r: float, v: float, frame: tuple[float, ...] = (*box, first, span, low, high)
        ) -> tuple[float, float]:
            left, upper, right, lower, x0, width_, y0, y1 = frame
            return left + (r - x0) / width_ * (right - left), lower - (v - y0) / (y1 - y0) * (lower - upper)

        draw.rectangle(box, outline=(120, 120, 120))
        draw.text((box[0], top + 4), title, fill=(0, 0, 0))
        for tick in _ticks(low, high):
            _, y = xy(first, tick)
            draw.line([(box[0] - 4, y), (box[0], y)], fill=(120, 120, 120))
            draw.text((4, y - 6), f"{tick:.3g}", fill=(80, 80, 80))
        for r in sorted(set(rounds)):
            x, _ = xy(r, low)
            draw.line([(x, box[3]), (x, box[3] + 4)], fill=(120, 120, 120))
            draw.text((x - 6, box[3] + 6), f"{r}", fill=(80, 80, 80))
        legend_right = float(box[2])  # the legend sits on the title's line, right-aligned: off the data
        for s, (label, values_) in reversed(list(enumerate(series.items()))):
            color = PALETTE[s % len(PALETTE)]
            points = [xy(r, v) for r, v in zip(rounds, values_) if v is not None]
            if len(points) > 1:
                draw.line(points, fill=color, width=2)
            for x, y in points:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
            legend = f"-- {label}"
            legend_right -= draw.textlength(legend)
            draw.text((legend_right, top + 4), legend, fill=color)
            legend_right -= 12
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
td, th { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f4f4f4; }
.prompt { text-align: left; max-width: 16em; }
.cands { display: flex; gap: 8px; flex-wrap: wrap; }
.cand { border: 3px solid #ddd; padding: 3px; font-size: 11px; width: 120px; }
.cand img { width: 112px; height: 112px; image-rendering: pixelated; display: block; }
.kept { border-color: #2a2; }
.best { border-color: #e90; }
.rejected { border-color: #c33; }
"""


def _fmt(value: Any) -> str:
    if value is None:  # no figure: nothing kept, or a round without a pair to train on
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def render(run: RunDir, config: TrainConfig) -> str:
    metrics = run.metrics()
    rewards = list(config.rewards)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>FineRewards run</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>FineRewards run: {html.escape(run.root.name)}</h1>",
        "<p>Model <b>{}</b>, prompts <b>{}</b>, rewards <b>{}</b>, aggregate <b>{}</b>, "
        "{} image(s) per prompt, keep fraction {}, {} of {} round(s) finished.</p>".format(
            html.escape(config.model),
            html.escape(config.prompts),
            html.escape(", ".join(rewards)),
            html.escape(config.aggregate),
            config.images_per_prompt,
            config.keep_fraction,
            len(metrics),
            config.rounds,
        ),
    ]
    if metrics:
        png = base64.b64encode(plot_curves(metrics, rewards)).decode()
        parts.append("<h2>Reward curves</h2>")
        parts.append(
            "<p>Mean raw reward of the fresh candidates of each round (<i>all</i>, sampled with the "
            "LoRA of the rounds before it) and of the candidates kept for training (<i>kept</i>).</p>"
        )
        parts.append(f"<img alt='reward curves' src='data:image/png;base64,{png}'>")
        parts.append(
            "<h2>Rounds</h2><table><tr><th>round</th><th>prompts</th><th>kept</th><th>rejected</th><th>pairs</th>"
        )
        parts.extend(f"<th>{html.escape(n)} all</th><th>{html.escape(n)} kept</th>" for n in rewards)
        parts.append("<th>train loss</th><th>generate s</th><th>score s</th><th>train s</th>")
        peaks = any("peak_memory_gib" in row for row in metrics)  # CUDA runs
        if peaks:
            parts.append("<th>generate peak GiB</th><th>score peak GiB</th><th>train peak GiB</th>")
        parts.append("</tr>")
        for row in metrics:
            cells = [
                row["round"],
                row["prompts"],
                row["kept"],
                row.get("rejected", 0),
                row.get("pairs", row.get("rejected", 0)),
            ]
            for n in rewards:
                cells += [row["reward_mean"][n], row["reward_mean_kept"][n]]
            secs = row["seconds"]
            cells += [row["train_loss"], secs["generate"], secs["score"], secs["train"]]
            if peaks:
                peak = row.get("peak_memory_gib", {})
                cells += [peak.get("generate"), peak.get("score"), peak.get("train")]
            parts.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    not_kept = (
        "not kept (keep fraction, or with DPO no pair: its prompt's candidates tie, or none is"
        " worse by more than training.pair_margin)"
        if config.training.objective == "dpo"
        else "not kept (keep fraction)"
    )
    parts.append(
        "<p>Border: <span style='color:#2a2'>green</span> kept for training, "
        f"<span style='color:#e90'>orange</span> best of its prompt but {not_kept}, "
        "<span style='color:#c33'>red</span> the rejected side of a preference pair (DPO).</p>"
    )
    for row in metrics:
        index = int(row["round"])
        samples = run.samples(index)
        parts.append(f"<h2>Round {index:03d}</h2>")
        shown: dict[int, list[dict[str, Any]]] = {}
        for sample in samples:
            if sample["prompt_index"] in shown or len(shown) < config.report_prompts:
                shown.setdefault(sample["prompt_index"], []).append(sample)
        for group in shown.values():
            parts.append(f"<h3 class='prompt'>{html.escape(group[0]['prompt'])}</h3><div class='cands'>")
            for sample in group:
                if sample["selected"]:
                    css = "cand kept"
                elif sample.get("rejected"):
                    css = "cand rejected"
                else:
                    css = "cand best" if sample["best"] else "cand"
                src = html.escape(f"rounds/{index:03d}/{sample['image']}")
                scores = "<br>".join(f"{html.escape(n)}: {_fmt(v)}" for n, v in sample["scores"].items())
                parts.append(
                    f"<div class='{css}'><img src='{src}' alt='seed {sample['seed']}'>"
                    f"{scores}<br>aggregate: {_fmt(sample['aggregate'])}<br>seed {sample['seed']}</div>"
                )
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: RunDir, config: TrainConfig) -> None:
    atomic_write_text(run.report_path, render(run, config))
