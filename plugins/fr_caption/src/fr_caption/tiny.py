"""Tiny random captioners and text encoders, built from configs and saved with `save_pretrained`.

Tests and benchmarks must never download: these builders write complete model folders (weights
as safetensors, configs, processors, tokenizers built here from a small word list) so that the
code under test loads them through the ordinary `from_pretrained` path with HF_HUB_OFFLINE=1.
Each builder returns the folder. Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

WORDS = (
    "a", "an", "and", "the", "of", "to", "left", "right", "above", "below", "image", "photo",
    "red", "green", "blue", "yellow", "purple", "circle", "square", "triangle", "circles",
    "squares", "triangles", "two", "three", "four", "with", "on", "white", "background",
)  # fmt: skip
"""The tiny tokenizers' words (any other text still tokenizes: into bytes or [UNK])."""
IMAGE_SIZE = 32
HIDDEN = 32


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def bert_tokenizer() -> Any:
    """A BERT WordPiece tokenizer: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, one id per word."""
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    return BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, model_max_length=64)


def opt_tokenizer() -> Any:
    """A byte-level BPE tokenizer in OPT's layout: <s>=0 <pad>=1 </s>=2 <unk>=3, whole words merged."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2TokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        min_frequency=0,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([" ".join(WORDS)] * 4, trainer=trainer)
    return GPT2TokenizerFast(
        tokenizer_object=bpe,
        bos_token="</s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        add_prefix_space=True,
        model_max_length=64,
    )


def _vision(**extra: Any) -> dict[str, Any]:
    return {
        "hidden_size": HIDDEN,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": IMAGE_SIZE,
        "patch_size": 8,
        **extra,
    }


def _image_processor(kind: str) -> Any:
    from transformers import BlipImageProcessor, CLIPImageProcessor, ViTImageProcessor

    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    if kind == "blip":
        return BlipImageProcessor(size=size)
    if kind == "clip":
        return CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size=size, do_center_crop=True)
    return ViTImageProcessor(size=size)


def build_blip2(folder: str | Path, seed: int = 0) -> Path:
    """`Blip2ForConditionalGeneration` with a tiny OPT language model and a `Blip2Processor`."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor

    out = Path(folder)
    tokenizer = opt_tokenizer()
    processor = Blip2Processor(_image_processor("blip"), tokenizer, num_query_tokens=4)
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    config = Blip2Config(
        vision_config=_vision(),
        qformer_config={
            "vocab_size": 64,
            "hidden_size": HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "encoder_hidden_size": HIDDEN,
            "max_position_embeddings": 64,
        },
        text_config={
            "model_type": "opt",
            "vocab_size": len(tokenizer),
            "hidden_size": HIDDEN,
            "ffn_dim": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 128,
            "word_embed_proj_dim": HIDDEN,
            "pad_token_id": 1,
            "bos_token_id": 2,
            "eos_token_id": 2,
            "tie_word_embeddings": False,
        },
        num_query_tokens=4,
        image_token_index=image_token,
    )
    _seed(seed)
    model = Blip2ForConditionalGeneration(config).eval()
    return _save(out, model, processor)


def build_blip(folder: str | Path, seed: int = 0) -> Path:
    """`BlipForConditionalGeneration` (ViT + BERT-style text decoder) and a `BlipProcessor`."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor

    out = Path(folder)
    tokenizer = bert_tokenizer()
    processor = BlipProcessor(_image_processor("blip"), tokenizer)
    config = BlipConfig(
        vision_config=_vision(),
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": HIDDEN,
            "encoder_hidden_size": HIDDEN,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "bos_token_id": 2,
            "eos_token_id": 3,
            "sep_token_id": 3,
            "pad_token_id": 0,
        },
    )
    _seed(seed)
    model = BlipForConditionalGeneration(config).eval()
    return _save(out, model, processor)


def build_git(folder: str | Path, seed: int = 0) -> Path:
    """`GitForCausalLM` (CLIP-style vision encoder + BERT-style decoder) and a `GitProcessor`."""
    from transformers import GitConfig, GitForCausalLM, GitProcessor

    out = Path(folder)
    tokenizer = bert_tokenizer()
    processor = GitProcessor(_image_processor("clip"), tokenizer)
    config = GitConfig(
        vision_config=_vision(),
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    _seed(seed)
    model = GitForCausalLM(config).eval()
    return _save(out, model, processor)


def build_vision_encoder_decoder(folder: str | Path, seed: int = 0) -> Path:
    """`VisionEncoderDecoderModel` (ViT encoder + BERT decoder), saved with an image processor
    and a tokenizer but no processor class (as nlpconnect/vit-gpt2-image-captioning is)."""
    from transformers import (
        BertConfig,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
    )

    out = Path(folder)
    tokenizer = bert_tokenizer()
    encoder = ViTConfig(**_vision())
    decoder = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        is_decoder=True,
        add_cross_attention=True,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = 2
    config.pad_token_id = 0
    config.eos_token_id = 3
    _seed(seed)
    model = VisionEncoderDecoderModel(config=config).eval()
    model.generation_config.decoder_start_token_id = 2
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 3
    words_only(model, tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    _image_processor("vit").save_pretrained(out)
    tokenizer.save_pretrained(out)
    _tidy(out)
    return out


def build_clip(folder: str | Path, seed: int = 0) -> Path:
    """A tiny `CLIPModel` (both towers, as CLIP checkpoints ship) with a word-level CLIP tokenizer."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *chars])}
    for word in WORDS:
        vocab.setdefault(word + "</w>", len(vocab))
    for char in chars:
        vocab.setdefault(char + "</w>", len(vocab))
    merges = _word_merges(WORDS)
    for merge in merges:
        vocab.setdefault(merge[0] + merge[1], len(vocab))
    src = out / "_tok"
    src.mkdir(exist_ok=True)
    (src / "vocab.json").write_text(json.dumps(vocab))
    (src / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = CLIPTokenizer(vocab=str(src / "vocab.json"), merges=str(src / "merges.txt"))
    tokenizer.model_max_length = 16
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": HIDDEN,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            "projection_dim": 16,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config=_vision(projection_dim=16),
        projection_dim=16,
    )
    _seed(seed)
    model = CLIPModel(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _tidy(out)
    return out


def build_sentence_transformer(folder: str | Path, seed: int = 0) -> Path:
    """A tiny BERT in a sentence-transformers folder (mean pooling, normalised), written in the
    on-disk layout all-MiniLM-L6-v2 ships (modules.json, 1_Pooling/, sentence_bert_config.json)."""
    from transformers import BertConfig, BertModel

    out = Path(folder)
    tokenizer = bert_tokenizer()
    _seed(seed)
    BertModel(
        BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=HIDDEN,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=16,
        )
    ).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16, "do_lower_case": False}))
    (out / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "word_embedding_dimension": HIDDEN,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2))
    return out


BUILDERS: dict[str, Callable[..., Path]] = {
    "Blip2ForConditionalGeneration": build_blip2,
    "BlipForConditionalGeneration": build_blip,
    "GitForCausalLM": build_git,
    "VisionEncoderDecoderModel": build_vision_encoder_decoder,
}
"""Captioner class name -> builder of a tiny random model of that class."""


def words_only(model: Any, tokenizer: Any) -> None:
    """Let the random model emit whole words only (no special, byte or end token): captions
    then always hold `max_new_tokens` real words, so tests see the whole decoding path."""
    allowed = set()
    for word in WORDS:
        ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            allowed.add(ids[0])
    allowed -= set(tokenizer.all_special_ids)
    text_config = model.config.get_text_config(decoder=True)
    suppress = [i for i in range(text_config.vocab_size) if i not in allowed]
    model.generation_config.suppress_tokens = suppress
    for inner in ("language_model", "text_decoder"):
        if hasattr(model, inner):
            _bias_towards(getattr(model, inner), sorted(allowed))


def _bias_towards(decoder: Any, allowed: list[int]) -> None:
    """Make the inner decoder of BLIP or BLIP-2 prefer the `allowed` tokens through its weights.

    Both generate with an inner decoder whose generation config is rebuilt from the text config
    on loading, so a saved `suppress_tokens` would not reach it. With an output bias (BLIP) the
    other tokens get -1e4; without one (OPT) the final layer norm gets a constant offset `c` and
    the output rows point along `c` (allowed tokens, plus noise so that the choice still depends
    on the input) or against it (all others).
    """
    import torch

    head = decoder.get_output_embeddings()
    with torch.no_grad():
        if getattr(head, "bias", None) is not None:
            blocked = torch.ones_like(head.bias, dtype=torch.bool)
            blocked[allowed] = False
            head.bias.masked_fill_(blocked, -1e4)
            return
        norm = decoder.model.decoder.final_layer_norm
        offset = torch.full_like(norm.bias, 2.0)
        norm.weight.mul_(0.2)
        norm.bias.copy_(offset)
        direction = offset / offset.norm()
        rows = -direction.expand_as(head.weight).clone()
        rows[allowed] = direction + 0.5 * torch.randn(len(allowed), head.weight.shape[1])
        head.weight.copy_(rows)


def _save(out: Path, model: Any, processor: Any) -> Path:
    words_only(model, processor.tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    _tidy(out)
    return out


def _tidy(out: Path) -> None:
    """Remove the scratch folders the builders wrote their source vocabularies into."""
    for scratch in ("_tok",):
        if (out / scratch).is_dir():
            shutil.rmtree(out / scratch)


def _byte_chars() -> list[str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def _word_merges(words: tuple[str, ...]) -> list[tuple[str, str]]:
    """BPE merges that build each word left to right, the last merge adding the `</w>` end."""
    merges: list[tuple[str, str]] = []
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        left = pieces[0]
        for piece in pieces[1:]:
            pair = (left, piece)
            if pair not in merges:
                merges.append(pair)
            left = left + piece
    return merges


_ROOT: Path | None = None


@cache
def shared(kind: str) -> Path:
    """A tiny model of `kind` (a BUILDERS class name, `clip` or `sentence-transformers`), built
    once per process in a temporary folder removed at exit."""
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="fr_caption_tiny_"))
        atexit.register(shutil.rmtree, _ROOT, True)
    builders: dict[str, Callable[..., Path]] = {
        **BUILDERS,
        "clip": build_clip,
        "sentence-transformers": build_sentence_transformer,
    }
    return builders[kind](_ROOT / kind)
