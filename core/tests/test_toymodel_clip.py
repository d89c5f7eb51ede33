"""toy:clip: training data (scenes, near misses, crops, texts), offline loading through
transformers' own classes, and its quality figures on renders it never saw."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from toymodel_checks import assert_small_safetensors_folder, offline_output

from finerewards.toyworld.captions import describes
from finerewards.toyworld.render import render_array, render_scene, scene_problems
from finerewards.toyworld.scenes import VARIANTS, crop_box, crop_object, random_scene
from finerewards.toyworld.trainkit import held_out_texts

# --- training data (no model) -----------------------------------------------------------------


def test_random_scenes_and_near_misses_are_valid_scenes() -> None:
    rng = random.Random(0)
    sizes = set()
    for _ in range(200):
        scene = random_scene(rng)
        sizes.add(len(scene))
        assert scene_problems(scene) == []
        for edit in VARIANTS.values():
            variant = edit(rng, scene)
            assert variant is None or scene_problems(variant) == []
    assert sizes == {1, 2, 3, 4}


def test_crop_is_square_centred_and_white_outside_the_canvas() -> None:
    assert crop_box((10, 20, 16, 16)) == (6, 16, 30, 40)
    scene = [random_scene(random.Random(1), 1)[0]]
    corner = type(scene[0])("square", "red", 16, 2, 2)
    crop = np.asarray(crop_object(render_array([corner]), (2, 2, 16, 16)))
    assert crop.shape == (64, 64, 3)
    assert (crop[:6, :6] == 255).all()  # outside the canvas: white
    assert tuple(crop[32, 32]) == (220, 40, 40)


def test_training_texts_are_true_and_never_held_out() -> None:
    from finerewards.toyworld.train_clip import TrainSettings, positives, scene_group

    rng = random.Random(2)
    cfg = TrainSettings()
    pairs = [p for _ in range(40) for p in scene_group(rng, cfg)]
    scenes, texts = [s for s, _ in pairs], [t for _, t in pairs]
    assert all(describes(t, s) for s, t in pairs)
    assert not set(texts) & held_out_texts()
    matrix = positives(scenes, texts)
    assert matrix.diagonal().all() and matrix.sum() < 0.2 * matrix.size


# --- the shipped model ------------------------------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from finerewards.models import toy_model_info, toy_models_dir  # noqa: E402
from finerewards.toyworld import clip_eval, train_clip  # noqa: E402
from finerewards.toyworld.trainkit import pixel_tensor  # noqa: E402

FOLDER = toy_models_dir() / "clip"


@pytest.fixture(scope="module")
def loaded():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return clip_eval.load(FOLDER)


@pytest.fixture(scope="module")
def figures():
    """The evaluation on 15 toy:test prompts per category (90 prompts, their near misses)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return clip_eval.evaluate(FOLDER, per_category=15)


def test_listed_with_library_class_labelling_format_and_training_record() -> None:
    info = toy_model_info("toy:clip")
    assert (info["library"], info["class"], info["processor"]) == (
        "transformers",
        "CLIPModel",
        "CLIPProcessor",
    )
    assert info["training"]["seed"] == train_clip.SEED and info["training"]["seconds"] > 0
    assert info["labelling"]["template"] == "a {label}" and len(info["labelling"]["labels"]) == 15
    assert "crop_object" in info["labelling"]["crop"]


def test_ships_safetensors_under_5_mb() -> None:
    assert_small_safetensors_folder(
        FOLDER, {"model.safetensors", "config.json", "processor_config.json", "tokenizer.json"}
    )


def test_loads_offline_through_transformers_own_classes() -> None:
    code = (
        "import sys; from transformers import AutoProcessor, AutoTokenizer, CLIPModel, CLIPProcessor;"
        "m = CLIPModel.from_pretrained(sys.argv[1]); p = CLIPProcessor.from_pretrained(sys.argv[1]);"
        "a = AutoProcessor.from_pretrained(sys.argv[1]); t = AutoTokenizer.from_pretrained(sys.argv[1]);"
        "ids = t('a purple triangle to the right of a yellow circle').input_ids;"
        "print(type(m).__name__, type(a).__name__, p.image_processor.crop_size['height'], len(ids))"
    )
    assert offline_output(code, FOLDER) == ["CLIPModel", "CLIPProcessor", "64", "12"]  # one token per word


def test_saved_processor_matches_training_preprocessing(loaded) -> None:
    _, processor = loaded
    arrays = np.stack([render_array(random_scene(random.Random(i))) for i in range(4)])
    from PIL import Image

    pixels = processor(images=[Image.fromarray(a) for a in arrays], return_tensors="pt")["pixel_values"]
    assert torch.allclose(pixels, pixel_tensor(arrays), atol=1e-5)


def test_labels_object_crops(loaded) -> None:
    """Zero-shot labelling of oracle-boxed crops of held-out renders: >= 95% right."""
    model, processor = loaded
    scenes = [s for _, s, _ in clip_eval.eval_cases(per_category=10)]
    assert clip_eval.crop_accuracy(model, processor, scenes) >= 0.95


def test_clip_score_prefers_the_satisfying_render(figures) -> None:
    """Missing, recoloured or extra object: the satisfying render wins nearly every pair, and it
    ranks first among the renders of related prompts most of the time. A mirrored layout
    (`flipped`) is near chance, as for real CLIP (a bag of words for relations); its figure is
    in docs/benchmarks.md, not asserted."""
    assert figures["clip_reward_prefers_satisfying"] >= 0.9
    for kind in ("missing", "recolored", "extra"):
        assert figures["image_prompt_pair_win"][kind] >= 0.9, (kind, figures["image_prompt_pair_win"])
    assert figures["image_prompt_ranked_first_all"] >= 0.6


def test_caption_and_prompt_of_one_scene_are_close(figures) -> None:
    """The text tower as a caption reward's encoder: the true scene's caption is closer to the
    prompt than a near miss's caption."""
    assert figures["caption_prompt_mean_cosine"] >= 0.7
    for kind in ("missing", "recolored", "extra"):
        assert figures["caption_prompt_pair_win"][kind] >= 0.8, (kind, figures["caption_prompt_pair_win"])


def test_embeddings_are_deterministic(loaded) -> None:
    model, processor = loaded
    image = render_scene(random_scene(random.Random(5)))
    a = clip_eval.embed_images(model, processor, [image])
    b = clip_eval.embed_images(model, processor, [image])
    assert np.array_equal(a, b)


def test_training_is_seeded_and_saves_a_loadable_folder(tmp_path) -> None:
    import json

    cfg = train_clip.TrainSettings(
        steps=2, groups=2, variants=1, crops=4, warmup=1, vision_width=32, vision_layers=1,
        text_width=32, text_layers=1, projection=16,
    )  # fmt: skip
    first = train_clip.train(tmp_path / "a", cfg, log_every=10**6)
    second = train_clip.train(tmp_path / "b", cfg, log_every=10**6)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    model, _ = clip_eval.load(first)
    assert type(model).__name__ == "CLIPModel"
    assert json.loads((first / "fr_model.json").read_text())["training"]["settings"]["steps"] == 2
