"""The reward through the core: registry, options, the score cache and `fr score --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finerewards.cache import ScoreCache
from finerewards.registry import get_registry
from finerewards.scoring import Scorer
from finerewards.toyworld.render import render
from finerewards.types import OptionError
from fr_caption.captioner import Captioner
from fr_caption.reward import CaptionReward
from fr_caption.tiny import shared

PROMPTS = ["a red circle", "two squares", "a blue triangle and a red circle"]


def tiny_options(**extra: Any) -> dict[str, Any]:
    return {
        "captioner": str(shared("BlipForConditionalGeneration")),
        "text_encoder": str(shared("clip")),
        "max_new_tokens": 5,
        "num_beams": 2,
        **extra,
    }


def test_registered_with_both_presets() -> None:
    spec = get_registry().reward("caption")
    assert spec.higher_is_better
    paper = spec.resolve_options("paper")
    assert paper.captioner == "Salesforce/blip2-opt-2.7b"
    assert paper.text_encoder == "openai/clip-vit-large-patch14"
    assert paper.similarity == "cosine"
    toy = spec.resolve_options("toy")
    assert (toy.captioner, toy.text_encoder) == ("toy:captioner", "toy:clip")


@pytest.mark.parametrize(
    "bad", [{"num_beams": 0}, {"similarity": "jaccard"}, {"max_new_tokens": 0}, {"temperature": 0.7}]
)
def test_bad_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(OptionError):
        get_registry().reward("caption").resolve_options("toy", bad)


def test_details_hold_the_caption_and_every_component() -> None:
    spec = get_registry().reward("caption")
    reward = spec.build(spec.resolve_options("toy", tiny_options(similarity="cosine+ngram")))
    reward.setup("cpu", "float32")
    images = [render(p, i) for i, p in enumerate(PROMPTS)]
    out = reward.score(images, PROMPTS)
    for score, detail in zip(out.scores, out.details):
        assert set(detail) == {"caption", "cosine", "ngram", "similarity"}
        assert len(detail["caption"].split()) == 5
        assert score == detail["similarity"] == pytest.approx((detail["cosine"] + detail["ngram"]) / 2)
    reward.close()
    assert reward.captioner is None and reward.encoder is None


def test_ngram_similarity_loads_no_text_encoder() -> None:
    reward = CaptionReward(
        get_registry().reward("caption").resolve_options("toy", tiny_options(similarity="ngram"))
    )
    reward.setup("cpu", "float32")
    assert reward.encoder is None
    out = reward.score([render("a red circle", 0)], ["a red circle"])
    assert set(out.details[0]) == {"caption", "ngram", "similarity"}
    reward.close()


def test_score_cache_keeps_captions_and_skips_captioning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned: list[int] = []
    original = Captioner.caption

    def counting(self: Captioner, images: Any) -> list[str]:
        captioned.append(len(images))
        return original(self, images)

    monkeypatch.setattr(Captioner, "caption", counting)
    images = [render(p, i) for i, p in enumerate(PROMPTS)]

    def scorer() -> Scorer:
        cache = ScoreCache(tmp_path / "scores.sqlite")
        return Scorer(
            ["caption"], options={"caption": tiny_options()}, device="cpu", cache=cache, progress=False
        )

    first = scorer().score(images, PROMPTS)["caption"]
    assert sum(captioned) == len(images) and first.cached == 0
    again = scorer().score(images, PROMPTS)["caption"]
    assert sum(captioned) == len(images), "a cached image was captioned again"
    assert again.cached == len(images)
    assert again.scores == first.scores
    assert [d["caption"] for d in again.details] == [d["caption"] for d in first.details]
    other = Scorer(
        ["caption"],
        options={"caption": tiny_options(max_new_tokens=4)},
        device="cpu",
        cache=ScoreCache(tmp_path / "scores.sqlite"),
        progress=False,
    ).score(images, PROMPTS)["caption"]
    assert other.cached == 0, "other options must not hit the cache"
    assert sum(captioned) == 2 * len(images)


def test_fr_score_json_includes_the_caption(tmp_path: Path) -> None:
    rows = []
    for i, prompt in enumerate(PROMPTS):
        render(prompt, i).save(tmp_path / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "prompt": prompt}))
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    sets = [f"--set=caption.{key}={value}" for key, value in tiny_options().items()]
    env = {**os.environ, "FR_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "finerewards", "score", "--reward", "caption", "--manifest", str(manifest),
         "--json", "--quiet", "--device", "cpu", *sets],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --quiet: no progress bar, transformers' "Loading weights" bars included
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line["prompt"] for line in lines] == PROMPTS
    for line in lines:
        detail = line["details"]["caption"]
        assert len(detail["caption"].split()) == 5
        assert line["scores"]["caption"] == pytest.approx(detail["similarity"])


def test_half_precision_runs_end_to_end() -> None:
    """bf16 weights and inputs (as on an accelerator; CPU here): pixel values follow the model's dtype."""
    import torch

    spec = get_registry().reward("caption")
    reward = spec.build(spec.resolve_options("toy", tiny_options(similarity="cosine")))
    reward.setup("cpu", "bfloat16")
    assert reward.captioner.model.dtype == torch.bfloat16
    assert reward.encoder.model.dtype == torch.bfloat16
    out = reward.score([render(p, i) for i, p in enumerate(PROMPTS)], PROMPTS)
    assert all(-1.0 <= s <= 1.0 for s in out.scores)
    assert all(len(d["caption"].split()) == 5 for d in out.details)
    reward.close()
