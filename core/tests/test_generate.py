"""`fr generate`: PNGs plus manifest.jsonl, same seed same images, LoRAs as plain diffusers sees them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from train_support import one_thread, subprocess_env, tiny_pipeline, write_prompts

from finerewards.errors import UsageError
from finerewards.train.lora import lora_weights_file
from finerewards.train.settings import generation_settings

GEN = ["--steps", "3", "--height", "16", "--width", "16"]


def fr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finerewards", *args], capture_output=True, text=True, env=subprocess_env()
    )


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA that visibly changes the tiny model, saved the way the trainer saves it."""
    import torch

    from finerewards.train.config import LoraConfigModel
    from finerewards.train.lora import add_lora, save_lora
    from finerewards.train.pipeline import load_pipeline

    with one_thread():
        pipe = load_pipeline(str(tiny_pipeline()))
        params = add_lora(pipe.unet, LoraConfigModel(), seed=1)
        with torch.no_grad():
            for p in params:
                p.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(p.numel()))
        return save_lora(pipe.unet, tmp_path_factory.mktemp("lora") / "lora").parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, lora_dir: Path) -> Iterator[dict[str, Path]]:
    """Seed 5 twice and seed 6 in process; seed 5 with the LoRA through the real CLI."""
    from finerewards.train.config import GenerationConfig
    from finerewards.train.generate import GenerateRequest, run_generate

    root = tmp_path_factory.mktemp("gen")
    prompts = ["a red circle", "two blue squares"]
    settings = GenerationConfig(steps=3, height=16, width=16)
    outs = {}
    with one_thread():
        for name, seed in {"a": 5, "b": 5, "c": 6}.items():
            request = GenerateRequest(
                str(tiny_pipeline()),
                prompts,
                root / name,
                None,
                2,
                seed,
                settings,
                device="cpu",
                progress=False,
            )
            run_generate(request)
            outs[name] = root / name
    result = fr(
        "generate", "--model", str(tiny_pipeline()), "--prompts", str(write_prompts(root / "p.txt", prompts)),
        "-k", "2", "--seed", "5", "--lora", str(lora_dir), "--out", str(root / "lora"), "--device", "cpu",
        "--quiet", *GEN,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outs["lora"] = root / "lora"
    yield outs


def manifest(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def pixels(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(folder / str(row["image"])), dtype=int) for row in manifest(folder)]


def test_writes_pngs_and_manifest(generated: dict[str, Path]) -> None:
    rows = manifest(generated["lora"])
    assert [r["prompt"] for r in rows] == ["a red circle"] * 2 + ["two blue squares"] * 2
    assert all((generated["lora"] / str(r["image"])).is_file() for r in rows)
    assert [r["seed"] for r in rows] == [r["seed"] for r in manifest(generated["a"])]
    assert len({r["seed"] for r in rows}) == 4


def test_same_seed_same_images_other_seed_other_images(generated: dict[str, Path]) -> None:
    assert manifest(generated["a"]) == manifest(generated["b"])
    assert all(np.array_equal(x, y) for x, y in zip(pixels(generated["a"]), pixels(generated["b"])))
    assert not any(np.array_equal(x, y) for x, y in zip(pixels(generated["a"]), pixels(generated["c"])))


def test_lora_images_match_plain_diffusers(generated: dict[str, Path], lora_dir: Path) -> None:
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    with_lora = pixels(generated["lora"])
    assert not any(np.array_equal(x, y) for x, y in zip(pixels(generated["a"]), with_lora))
    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_pipeline()))
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, clip_sample=False)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(str(lora_dir))
    rows = manifest(generated["lora"])[:2]
    with one_thread():
        images = pipe(
            [str(rows[0]["prompt"])] * 2,
            num_inference_steps=3,
            guidance_scale=3.0,
            height=16,
            width=16,
            generator=[torch.Generator().manual_seed(int(str(r["seed"]))) for r in rows],
        ).images
    assert all(np.abs(np.asarray(a, dtype=int) - b).max() <= 1 for a, b in zip(images, with_lora[:2]))


def test_lora_must_be_safetensors(tmp_path: Path, lora_dir: Path) -> None:
    assert lora_weights_file(lora_dir).name == "pytorch_lora_weights.safetensors"
    pickle = tmp_path / "pytorch_lora_weights.bin"
    pickle.write_bytes(b"\x80\x04pickle")
    with pytest.raises(UsageError, match="not a .safetensors file"):
        lora_weights_file(pickle)
    with pytest.raises(UsageError, match="holds pytorch_lora_weights.bin, not a safetensors"):
        lora_weights_file(tmp_path)
    fake = tmp_path / "fake" / "pytorch_lora_weights.safetensors"
    fake.parent.mkdir()
    fake.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(UsageError, match="is not a safetensors file"):
        lora_weights_file(fake.parent)
    with pytest.raises(UsageError, match="does not exist"):
        lora_weights_file(tmp_path / "missing")


def test_generation_settings_validation(tmp_path: Path) -> None:
    model = str(tiny_pipeline())
    _, settings, _ = generation_settings(
        model=model, lora=None, preset=None, flags={"steps": 7}, set_items=["generation.eta=0.5"]
    )
    assert (settings.steps, settings.eta, settings.height) == (7, 0.5, 64)
    with pytest.raises(UsageError, match="steps"):
        generation_settings(model=model, lora=None, preset=None, flags={"steps": 0}, set_items=[])
    with pytest.raises(UsageError, match="unknown generation setting 'rank'"):
        generation_settings(model=model, lora=None, preset=None, flags={}, set_items=["rank=3"])
    with pytest.raises(UsageError, match="does not exist"):
        generation_settings(model="/no/model", lora=None, preset=None, flags={}, set_items=[])


def test_cli_errors_are_one_line(tmp_path: Path, generated: dict[str, Path]) -> None:
    prompts = write_prompts(tmp_path / "p.txt")
    bad_lora = tmp_path / "w.bin"
    bad_lora.write_bytes(b"x")
    for args, message in [
        (["--lora", str(bad_lora), "--out", str(tmp_path / "o")], "not a .safetensors file"),
        (["--out", str(generated["a"])], "is not empty"),
        (["--out", str(tmp_path / "o"), "-k", "0"], "at least 1"),
    ]:
        result = fr("generate", "--model", str(tiny_pipeline()), "--prompts", str(prompts), *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().count("\n") == 0 and message in result.stderr


def test_batching_across_prompts_gives_each_image_its_own_pixels() -> None:
    """Images of several prompts in one pipeline call equal the one-prompt-per-call images."""
    from finerewards.train.config import GenerationConfig
    from finerewards.train.generate import generate_images
    from finerewards.train.pipeline import load_pipeline

    with one_thread():
        pipe = load_pipeline(str(tiny_pipeline()))
        pipe.set_progress_bar_config(disable=True)
        prompts, seeds = ["a red circle", "two blue squares", "a triangle"], [5, 6, 7]
        alone = [
            generate_images(pipe, p, [s], GenerationConfig(steps=3, height=16, width=16))[0]
            for p, s in zip(prompts, seeds)
        ]
        mixed = generate_images(
            pipe, prompts, seeds, GenerationConfig(steps=3, height=16, width=16, batch_size=3)
        )
    for a, b in zip(alone, mixed):
        assert np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max() <= 1
    assert np.asarray(mixed[0]).tolist() != np.asarray(mixed[1]).tolist()
    with pytest.raises(ValueError, match="one prompt per seed"):
        generate_images(pipe, prompts, seeds[:2], GenerationConfig(steps=3, height=16, width=16))


def test_guidance_interval_spans_plain_guidance_and_none() -> None:
    """`guidance_start` 1 is plain guidance; near 0 it is the unguided (conditional) sampler;
    in between it differs from both (guidance only on the later, less noisy steps)."""
    from finerewards.train.config import GenerationConfig
    from finerewards.train.generate import generate_images
    from finerewards.train.pipeline import load_pipeline

    def draw(**settings: float) -> np.ndarray:
        config = GenerationConfig(steps=4, height=16, width=16, **settings)
        return np.asarray(generate_images(pipe, "a red circle", [3], config)[0], dtype=int)

    with one_thread():
        pipe = load_pipeline(str(tiny_pipeline()))
        pipe.set_progress_bar_config(disable=True)
        guided, unguided = draw(guidance_scale=7.0), draw(guidance_scale=1.0)
        assert np.array_equal(draw(guidance_scale=7.0, guidance_start=1.0), guided)
        assert np.abs(draw(guidance_scale=7.0, guidance_start=0.001) - unguided).max() <= 1
        middle = draw(guidance_scale=7.0, guidance_start=0.5)
    assert np.abs(guided - unguided).max() > 8, "the tiny model must respond to guidance for this test"
    assert not np.array_equal(middle, guided) and not np.array_equal(middle, unguided)
