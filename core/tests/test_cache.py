"""The score cache: keys, hits through the Scorer, concurrent writers, corrupt and locked files."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
import sample_rewards
from PIL import Image

from finerewards.cache import ScoreCache, image_digest, score_key
from finerewards.errors import RewardError
from finerewards.scoring import Scorer


def _images() -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), c) for c in [(220, 40, 40), (255, 255, 255), (200, 10, 10)]]


def test_keys_cover_pixels_prompt_reward_options_revision() -> None:
    a, b = _images()[:2]
    base = score_key(image_digest(a), "p", "r", "{}", "rev")
    assert image_digest(a) == image_digest(a.copy())
    assert base != score_key(image_digest(b), "p", "r", "{}", "rev")
    assert base != score_key(image_digest(a), "q", "r", "{}", "rev")
    assert base != score_key(image_digest(a), "p", "s", "{}", "rev")
    assert base != score_key(image_digest(a), "p", "r", '{"x": 1}', "rev")
    assert base != score_key(image_digest(a), "p", "r", "{}", "rev2")


def test_scorer_uses_cache_and_keeps_details(tmp_path: Path, registry_with) -> None:  # type: ignore[no-untyped-def]
    registry_with((sample_rewards, "samples"))
    cache = ScoreCache(tmp_path / "c.sqlite")
    images, prompts = _images(), ["a", "b", "c"]
    sample_rewards.CALLS.clear()
    first = Scorer(["redshare"], cache=cache, progress=False, device="cpu").score(images, prompts)
    assert sample_rewards.CALLS == [3]
    again = Scorer(["redshare"], cache=cache, progress=False, device="cpu").score(images, prompts)
    assert sample_rewards.CALLS == [3]  # no second scoring
    assert again["redshare"].scores == first["redshare"].scores
    assert again["redshare"].details == first["redshare"].details
    assert again["redshare"].cached == 3
    other = Scorer(
        ["redshare"], cache=cache, progress=False, device="cpu", options={"redshare": {"scale": 2.0}}
    )
    other.score(images, prompts)
    assert sample_rewards.CALLS == [3, 3]  # other options, other key


def test_scorer_batches_by_batch_size(registry_with) -> None:  # type: ignore[no-untyped-def]
    registry_with((sample_rewards, "samples"))
    sample_rewards.CALLS.clear()
    images = _images() * 3
    Scorer(["redshare"], batch_size=4, progress=False, device="cpu").score(images, ["p"] * 9)
    assert sample_rewards.CALLS == [4, 4, 1]


def test_nan_is_not_cached(tmp_path: Path, registry_with) -> None:  # type: ignore[no-untyped-def]
    registry_with((sample_rewards, "samples"))
    cache = ScoreCache(tmp_path / "c.sqlite")
    with pytest.raises(RewardError, match="nanreward.*for img1"):
        Scorer(["nanreward"], cache=cache, progress=False, device="cpu").score(
            _images()[:2], ["ok", "bad"], labels=["img0", "img1"]
        )
    assert cache.get_many([score_key(image_digest(_images()[1]), "bad", "nanreward", "{}", "")]) == {}


def test_corrupt_cache_degrades_with_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = ScoreCache(path)
    assert cache.get_many(["k"]) == {}
    cache.put_many([("k", 1.0, {})])
    assert cache.disabled
    err = capsys.readouterr().err
    assert err.count("warning: score cache") == 1 and "scoring without cache" in err


def test_locked_cache_degrades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.sqlite"
    ScoreCache(path).put_many([("k", 1.0, {})])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        cache = ScoreCache(path, timeout=0.2)
        cache.put_many([("k2", 2.0, {})])
        assert cache.get_many(["k2"]) == {}
        assert cache.disabled
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "scoring without cache" in capsys.readouterr().err


def _writer(path: str, worker: int) -> None:
    cache = ScoreCache(path, timeout=30)
    for batch in range(20):
        cache.put_many([(f"{worker}-{batch}-{i}", float(i), {"w": worker}) for i in range(25)])
    assert not cache.disabled


def test_concurrent_writers(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    keys = [f"{w}-{b}-{i}" for w in range(4) for b in range(20) for i in range(25)]
    assert len(ScoreCache(path).get_many(keys)) == 2000
