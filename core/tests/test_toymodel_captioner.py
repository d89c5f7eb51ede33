"""toy:captioner: the canonical caption grammar and its checker, offline loading through
transformers' own classes, and caption accuracy on renders the model never saw."""

from __future__ import annotations

import json
import os
import random

import pytest
from toymodel_checks import assert_small_safetensors_folder, offline_output

from finerewards.toyworld.captions import caption, caption_correct, describes, objects_correct, parse_text
from finerewards.toyworld.oracle import find_objects, satisfies
from finerewards.toyworld.prompts import all_prompts, load_prompt_set
from finerewards.toyworld.render import SceneObject, layout, render_scene
from finerewards.toyworld.scenes import VARIANTS, random_scene
from finerewards.toyworld.world import CATEGORIES


def obj(shape: str, color: str, x: int, y: int, size: int = 16) -> SceneObject:
    return SceneObject(shape, color, size, x, y)


# --- grammar and checker (no model) -----------------------------------------------------------


def test_canonical_captions() -> None:
    assert caption([obj("circle", "red", 4, 4)]) == "a red circle"
    left, right = obj("square", "blue", 40, 20), obj("circle", "red", 4, 22)
    assert caption([left, right]) == "a red circle to the left of a blue square"
    assert caption([obj("circle", "red", 20, 40), obj("circle", "green", 22, 4)]) == (
        "a red circle below a green circle"
    )
    diagonal = [obj("circle", "red", 4, 4), obj("square", "blue", 30, 28)]
    assert caption(diagonal) == "a red circle and a blue square"
    three = [obj("circle", "yellow", 4, 4), obj("triangle", "green", 30, 4), obj("circle", "yellow", 4, 40)]
    assert caption(three) == "a green triangle and two yellow circles"  # palette order
    twins = [obj("square", "purple", 4, 4), obj("square", "purple", 40, 4)]
    assert caption(twins) == "two purple squares"


def test_parse_text_reads_prompts_and_captions() -> None:
    req = parse_text("two yellow circles and a green triangle")
    assert [(s.color, s.shape) for s in req.objects] == [("yellow", "circle")] * 2 + [("green", "triangle")]
    assert parse_text("a red circle to the left of a blue square").relation == "to the left of"
    assert parse_text("three circles").category == "counting"
    for bad in ("two red circle", "a red circles", "a red circle above two blue squares", "a dog"):
        with pytest.raises(ValueError):
            parse_text(bad)


def test_describes_agrees_with_the_oracle_on_prompts_and_near_misses() -> None:
    rng = random.Random(3)
    checked = 0
    for category in CATEGORIES:
        prompts = all_prompts(category)
        for prompt in rng.sample(prompts, min(12, len(prompts))):
            scene = layout(prompt, rng.randrange(10_000))
            for variant in [scene, *(edit(rng, scene) for edit in VARIANTS.values())]:
                if variant is None:
                    continue
                expected = satisfies(prompt, render_scene(variant))
                assert describes(prompt, variant) == expected, (prompt, variant)
                checked += 1
    assert checked > 300


def test_caption_is_true_of_its_scene_and_of_the_oracle_reading() -> None:
    rng = random.Random(4)
    for _ in range(300):
        scene = random_scene(rng)
        text = caption(scene)
        assert caption_correct(text, scene)
        assert caption_correct(text, find_objects(render_scene(scene)))


def test_caption_checker_rejects_wrong_captions() -> None:
    scene = [obj("square", "blue", 40, 20), obj("circle", "red", 4, 22)]
    assert caption_correct("a red circle to the left of a blue square", scene)
    assert caption_correct("a blue square to the right of a red circle", scene)
    assert not caption_correct("a red circle and a blue square", scene)  # the clear relation is missing
    assert not caption_correct("a red circle to the right of a blue square", scene)
    assert not caption_correct("a red circle", scene)
    assert not caption_correct("a red circle and a blue square and a green triangle", scene)
    assert not caption_correct("a blue circle to the left of a red square", scene)
    counted = [obj("circle", "yellow", 4, 4), obj("circle", "yellow", 40, 4), obj("circle", "yellow", 4, 40)]
    assert caption_correct("three yellow circles", counted)
    assert not caption_correct("two yellow circles", counted)
    assert not caption_correct("", counted)


def test_objects_check_ignores_only_the_relation() -> None:
    scene = [obj("square", "blue", 40, 20), obj("circle", "red", 4, 22)]
    assert objects_correct("a red circle to the right of a blue square", scene)
    assert objects_correct("a red circle and a blue square", scene)
    assert not objects_correct("a red circle", scene)
    assert not objects_correct("a blue circle to the left of a red square", scene)
    assert not objects_correct("not a caption", scene)


# --- the shipped model ------------------------------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from finerewards.models import toy_model_info, toy_models_dir  # noqa: E402
from finerewards.toyworld import captioner_eval, train_captioner  # noqa: E402

FOLDER = toy_models_dir() / "captioner"


@pytest.fixture(scope="module")
def loaded():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return captioner_eval.load(FOLDER)


def test_listed_with_library_class_and_training_record() -> None:
    info = toy_model_info("toy:captioner")
    assert (info["library"], info["class"], info["processor"]) == (
        "transformers",
        "BlipForConditionalGeneration",
        "BlipProcessor",
    )
    assert info["training"]["seed"] == train_captioner.SEED and info["training"]["seconds"] > 0
    assert info["generation"]["num_beams"] == 1 and info["generation"]["do_sample"] is False


def test_ships_safetensors_under_5_mb() -> None:
    assert_small_safetensors_folder(
        FOLDER, {"model.safetensors", "config.json", "processor_config.json", "tokenizer.json"}
    )


def test_loads_offline_through_transformers_own_classes() -> None:
    code = (
        "import json, sys, transformers as T;"
        "info = json.load(open(sys.argv[1] + '/fr_model.json'));"
        "m = getattr(T, info['class']).from_pretrained(sys.argv[1]);"
        "a = T.AutoModelForImageTextToText.from_pretrained(sys.argv[1]);"
        "p = T.AutoProcessor.from_pretrained(sys.argv[1]);"
        "print(type(m).__name__, type(a).__name__, type(p).__name__, p.image_processor.size['height'])"
    )
    assert offline_output(code, FOLDER) == [
        "BlipForConditionalGeneration",
        "BlipForConditionalGeneration",
        "BlipProcessor",
        "64",
    ]


def test_caption_loss_is_blips_own_loss_with_relation_words_weighted(loaded) -> None:
    """Weight 1 is exactly the model's own LM loss; a larger weight scales only the relation
    words' share (so the trainer can stress the one decision a relation caption makes)."""
    model, processor = loaded
    tokenizer = processor.tokenizer
    scenes = [layout(p, 3) for p in ("a red circle above a blue square", "two triangles")]
    enc = tokenizer([caption(s) for s in scenes], padding=True, return_tensors="pt")
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    pixels = processor(images=[render_scene(s) for s in scenes], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(
            pixel_values=pixels, input_ids=enc.input_ids, attention_mask=enc.attention_mask, labels=labels
        )
    relation_ids = torch.tensor(tokenizer.convert_tokens_to_ids(list(train_captioner.RELATION_WORDS)))
    assert tokenizer.unk_token_id not in relation_ids.tolist()
    plain = train_captioner.caption_loss(out.logits, labels, relation_ids, 1.0)
    assert plain.item() == pytest.approx(out.loss.item(), rel=1e-5)
    only_relation = train_captioner.caption_loss(out.logits, labels, relation_ids, 1e6)
    targets = labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        out.logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none"
    ).view_as(targets)
    relation_tokens = torch.isin(targets, relation_ids)
    assert int(relation_tokens.sum()) == 1  # "above" or "below": the one relation decision
    assert only_relation.item() == pytest.approx(per_token[relation_tokens].item(), rel=1e-3)


@pytest.fixture(scope="module")
def held_out(loaded):
    """Captions of held-out renders: toy:test prompts at unseen seeds and random 1-4 object scenes."""
    model, processor = loaded
    scenes = [s for _, s in captioner_eval.prompt_scenes(per_category=12)]
    scenes += captioner_eval.random_scenes(80)
    texts = captioner_eval.generate_captions(model, processor, [render_scene(s) for s in scenes])
    return list(zip(texts, scenes))


def test_captions_name_exactly_the_objects_of_held_out_renders(held_out) -> None:
    """>= 93% here (98.2% on 1,233 renders in docs/toyworld-models.md): counts, colours, shapes."""
    right = [objects_correct(t, s) for t, s in held_out]
    assert sum(right) / len(right) >= 0.93, [(t, caption(s)) for (t, s), ok in zip(held_out, right) if not ok]


def test_captions_held_out_renders_with_relations(held_out) -> None:
    """The issue's bar: >= 95% of held-out renders get a caption naming exactly their objects
    and the clear relation of two (98.2% on 1,233 renders in docs/toyworld-models.md)."""
    right = [caption_correct(t, s) for t, s in held_out]
    assert sum(right) / len(right) >= 0.95


def test_decoding_is_deterministic_and_beam_search_agrees(loaded) -> None:
    model, processor = loaded
    prompts = load_prompt_set("test")[::25]
    images = [render_scene(layout(p, 7)) for p in prompts]
    first = captioner_eval.generate_captions(model, processor, images)
    assert captioner_eval.generate_captions(model, processor, images) == first
    inputs = processor(images=images, return_tensors="pt")
    with torch.no_grad():
        beams = model.generate(pixel_values=inputs["pixel_values"], num_beams=3)
    beam_texts = [t.strip() for t in processor.batch_decode(beams, skip_special_tokens=True)]
    assert sum(a == b for a, b in zip(first, beam_texts)) >= 0.9 * len(first)


def test_fr_model_json_documents_the_grammar() -> None:
    info = json.loads((FOLDER / "fr_model.json").read_text())
    assert "caption_grammar" in info and "finerewards.toyworld.captions" in info["caption_grammar"]


def test_training_is_seeded_and_saves_a_loadable_folder(tmp_path) -> None:
    cfg = train_captioner.TrainSettings(
        steps=2, batch=4, warmup=1, vision_width=32, vision_layers=1, text_width=32, text_layers=1
    )
    first = train_captioner.train(tmp_path / "a", cfg, log_every=10**6)
    second = train_captioner.train(tmp_path / "b", cfg, log_every=10**6)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    model, processor = captioner_eval.load(first)
    assert type(model).__name__ == "BlipForConditionalGeneration"
    settings = json.loads((first / "fr_model.json").read_text())["training"]["settings"]
    assert (settings["steps"], settings["relation_weight"]) == (2, cfg.relation_weight)
