"""toy:lm: loads offline through transformers' Auto classes, answers the SAM reward's rating
question with one token, and rates labels of prompts it never saw by the toy world's rule."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from toymodel_checks import assert_small_safetensors_folder, offline_output

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from finerewards.models import resolve_model, toy_model_info  # noqa: E402
from finerewards.rubric import ANSWERS, rating_question  # noqa: E402
from finerewards.toyworld import train_lm  # noqa: E402

FOLDER = Path(resolve_model("toy:lm"))


@pytest.fixture(scope="module")
def loaded():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return train_lm.load(FOLDER)


def test_rating_rule() -> None:
    rate = train_lm.rating
    assert rate("a red circle and a blue square", "red circle") == 3
    assert rate("a red circle and a blue square", "blue circle") == 2
    assert rate("a red circle and a blue square", "green triangle") == 1
    assert rate("a red circle and a blue square", "square") == 3
    assert rate("two circles", "purple circle") == 3
    assert rate("a circle and a triangle", "yellow triangle") == 3
    assert rate("a green square to the left of a green circle", "green triangle") == 1
    assert rate("a green square to the left of a green circle", "red square") == 2
    assert rate("a green square", "triangle") == 1
    assert rate("a green square", "background") == 3


def test_listed_with_library_class_and_training_record() -> None:
    info = toy_model_info("toy:lm")
    assert (info["library"], info["class"]) == ("transformers", "LlamaForCausalLM")
    assert info["training"]["seed"] == train_lm.SEED and info["training"]["seconds"] > 0
    assert info["answers"] == list(ANSWERS) and info["padding_side"] == "left"


def test_ships_safetensors_under_5_mb() -> None:
    assert_small_safetensors_folder(
        FOLDER, {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}
    )


def test_loads_offline_through_auto_classes() -> None:
    code = (
        "import sys; from transformers import AutoModelForCausalLM, AutoTokenizer;"
        "m = AutoModelForCausalLM.from_pretrained(sys.argv[1]);"
        "t = AutoTokenizer.from_pretrained(sys.argv[1]);"
        "print(type(m).__name__, t.padding_side, t.pad_token, t.pad_token_id is not None)"
    )
    assert offline_output(code, FOLDER) == ["LlamaForCausalLM", "left", "<pad>", "True"]


def test_answers_are_single_tokens_with_or_without_space(loaded) -> None:
    _, tok = loaded
    for answer in ANSWERS:
        bare = tok(answer, add_special_tokens=False).input_ids
        spaced = tok(" " + answer, add_special_tokens=False).input_ids
        assert bare == spaced and len(bare) == 1 and bare[0] != tok.unk_token_id
    question = tok(rating_question("a red circle above a blue square", "blue square")).input_ids
    assert tok.unk_token_id not in question and question[0] == tok.bos_token_id


def test_colour_shape_pairs_are_single_tokens(loaded) -> None:
    _, tok = loaded
    tokens = tok.tokenize("a red triangle and  a yellow circle")
    assert tokens == ["a", "red triangle", "and", "a", "yellow circle"]
    assert tok.tokenize("two blue squares") == ["two", "blue squares"]
    assert tok.convert_tokens_to_ids("background") != tok.unk_token_id


def test_held_out_prompts_are_rated_by_the_rule(loaded) -> None:
    model, tok = loaded
    held = train_lm.held_out_prompts()
    assert held and not set(held) & set(train_lm.train_prompts())
    prompts = held[::5]
    pairs = [(p, label) for p in prompts for label in train_lm.LABELS]
    probs = train_lm.answer_probs(model, tok, pairs)
    expected = probs @ np.array([1.0, 2.0, 3.0])
    truth = np.array([train_lm.rating(p, label) for p, label in pairs])
    asked, absent = truth == 3, truth == 1
    assert (expected[asked] >= 2.5).mean() >= 0.95
    assert (expected[absent] <= 1.5).mean() >= 0.95
    assert (np.abs(expected - truth) <= 0.5).mean() >= 0.95
    assert (probs.argmax(1) + 1 == truth).mean() >= 0.95


def test_batched_left_padding_gives_the_same_ratings(loaded) -> None:
    model, tok = loaded
    pairs = [("a red circle", "red circle"), ("a purple square below a yellow triangle", "green circle")]
    together = train_lm.answer_probs(model, tok, pairs)
    alone = np.concatenate([train_lm.answer_probs(model, tok, [pair]) for pair in pairs])
    assert np.allclose(together, alone, atol=1e-4)


def test_training_is_seeded_and_saves_a_loadable_folder(tmp_path: Path) -> None:
    cfg = train_lm.TrainSettings(steps=2, batch=4, warmup=1, hidden=32, layers=1, heads=2)
    first = train_lm.train(tmp_path / "a", cfg, log_every=10**6)
    second = train_lm.train(tmp_path / "b", cfg, log_every=10**6)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    model, tok = train_lm.load(first)
    assert type(model).__name__ == "LlamaForCausalLM" and tok.padding_side == "left"
    assert json.loads((first / "fr_model.json").read_text())["training"]["settings"]["steps"] == 2
