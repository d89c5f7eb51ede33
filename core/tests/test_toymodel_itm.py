"""toy:itm: started from toy:captioner, offline loading through transformers' own classes,
seeded training, and image-text matching on renders it never saw."""

from __future__ import annotations

import json

import pytest
import torch
from toymodel_checks import assert_small_safetensors_folder, offline_output

from finerewards.models import resolve_model, toy_model_info, toy_model_names
from finerewards.toyworld import train_itm

pytestmark = pytest.mark.skipif("toy:itm" not in toy_model_names(), reason="toy:itm is not shipped")
FOLDER = train_itm.MODEL_DIR


def test_listed_with_library_class_and_training_record() -> None:
    info = toy_model_info("toy:itm")
    assert (info["library"], info["class"], info["first_token"]) == (
        "transformers",
        "BlipForImageTextRetrieval",
        "cls",
    )
    assert info["training"]["seed"] == train_itm.SEED and info["training"]["seconds"] > 0


def test_ships_safetensors_under_5_mb() -> None:
    assert_small_safetensors_folder(FOLDER, {"model.safetensors", "config.json", "tokenizer.json"})


def test_loads_offline_through_transformers_own_classes() -> None:
    code = (
        "import sys; from transformers import AutoImageProcessor, AutoTokenizer, BlipForImageTextRetrieval;"
        "m = BlipForImageTextRetrieval.from_pretrained(sys.argv[1]);"
        "i = AutoImageProcessor.from_pretrained(sys.argv[1]); t = AutoTokenizer.from_pretrained(sys.argv[1]);"
        "print(type(m).__name__, i.size['height'], len(t('a red circle above a blue square').input_ids))"
    )
    assert offline_output(code, FOLDER) == [
        "BlipForImageTextRetrieval",
        "64",
        "9",
    ]  # [CLS], a word a token, [SEP]


def test_starts_from_the_captioner() -> None:
    """Vision tower and text encoder start as toy:captioner's; the ITM head starts untrained."""
    from transformers import BlipForConditionalGeneration

    model, _ = train_itm.build_model()
    source = BlipForConditionalGeneration.from_pretrained(resolve_model("toy:captioner"))
    for name, value in source.vision_model.state_dict().items():
        assert torch.equal(model.vision_model.state_dict()[name], value), name
    for name, value in source.text_decoder.bert.state_dict().items():
        assert torch.equal(model.text_encoder.state_dict()[name], value), name


def test_training_is_seeded_and_saves_a_loadable_folder(tmp_path) -> None:
    cfg = train_itm.TrainSettings(steps=2, groups=2, variants=1, warmup=1)
    first = train_itm.train(tmp_path / "a", cfg, log_every=10**6)
    second = train_itm.train(tmp_path / "b", cfg, log_every=10**6)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert json.loads((first / "fr_model.json").read_text())["training"]["settings"]["steps"] == 2


def test_matches_the_satisfying_render_above_its_near_misses() -> None:
    """Held-out toy:test renders: the prompt's own scene gets the higher match probability than
    the scene with an object missing, recoloured or added in at least 85% of pairs each."""
    figures = train_itm.evaluate(FOLDER, per_category=20)
    for kind in ("missing", "recolored", "extra"):
        assert figures["pair_win"][kind] >= 0.85, figures
