"""Small random models of every baseline, written in the published formats (for benchmarks).

`build_all(root)` writes, from configs and with random weights, what each reward loads: a
transformers CLIP folder, an HPSv2 open_clip checkpoint (with the config/processor folder it
needs), the aesthetic .pth head, an ImageReward.pt in BLIP's original layout and a transformers
BLIP ITM folder; `options(root, name)` points a reward at them. Sizes follow the toy world
(64 px images, width 64) so that timings resemble the toy preset. Speed does not depend on the
weights; scores from these models mean nothing. Nothing downloads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fr_baselines.blip_keys import ImageRewardParts, join_imagereward
from fr_baselines.common import MLPHead
from fr_baselines.openclip_keys import transformers_to_openclip

WORDS = (
    "a and the of to left right above below red green blue yellow purple circle circles square "
    "squares triangle triangles two three four"
).split()


def _clip_tokenizer(folder: Path) -> None:
    """A byte-level CLIP BPE tokenizer without merges (every byte is a token)."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars])}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    src = folder / "_bpe"
    src.mkdir(parents=True, exist_ok=True)
    (src / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (src / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(vocab=str(src / "vocab.json"), merges=str(src / "merges.txt"))
    tokenizer.model_max_length = 77
    tokenizer.save_pretrained(folder)
    for path in src.iterdir():
        path.unlink()
    src.rmdir()


def clip_config(image_size: int = 64, width: int = 64, layers: int = 2) -> Any:
    from transformers import CLIPConfig

    common = {"hidden_size": width, "intermediate_size": 4 * width, "num_hidden_layers": layers}
    return CLIPConfig(
        text_config={
            **common,
            "num_attention_heads": 4,
            "vocab_size": 2 * 256 + 2,
            "max_position_embeddings": 77,
            "bos_token_id": 512,
            "eos_token_id": 513,
            "pad_token_id": 513,
        },
        vision_config={**common, "num_attention_heads": 4, "image_size": image_size, "patch_size": 8},
        projection_dim=width,
    )


def _clip_processors(folder: Path, image_size: int) -> None:
    from transformers import CLIPImageProcessorPil

    _clip_tokenizer(folder)
    crop = {"height": image_size, "width": image_size}
    CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=crop).save_pretrained(folder)


def build_clip(folder: Path, image_size: int = 64, seed: int = 0) -> Path:
    from transformers import CLIPModel

    torch.manual_seed(seed)
    CLIPModel(clip_config(image_size)).save_pretrained(folder)
    _clip_processors(folder, image_size)
    return folder


def build_hpsv2(folder: Path, image_size: int = 64, seed: int = 0) -> Path:
    """`folder/base` (config + processors) and `folder/HPS_v2_compressed.pt` (open_clip layout)."""
    from transformers import CLIPModel

    torch.manual_seed(seed)
    config = clip_config(image_size)
    model = CLIPModel(config)
    (folder / "base").mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder / "base")
    _clip_processors(folder / "base", image_size)
    torch.save({"state_dict": transformers_to_openclip(model.state_dict())}, folder / "HPS_v2_compressed.pt")
    return folder


def build_aesthetic(folder: Path, image_size: int = 64, seed: int = 0) -> Path:
    build_clip(folder / "clip", image_size, seed)
    torch.save(MLPHead(clip_config(image_size).projection_dim).state_dict(), folder / "aesthetic-model.pth")
    return folder


def _bert_tokenizer(folder: Path) -> list[str]:
    from transformers import BertTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *letters, *["##" + c for c in letters]]
    vocab += ["[DEC]", "[ENC]"]
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    return vocab


def blip_config(vocab: list[str], image_size: int = 64, width: int = 64, layers: int = 2) -> Any:
    from transformers import BlipConfig

    shape = {"hidden_size": width, "intermediate_size": 4 * width, "num_hidden_layers": layers}
    return BlipConfig(
        vision_config={**shape, "num_attention_heads": 4, "image_size": image_size, "patch_size": 8},
        text_config={
            **shape,
            "num_attention_heads": 4,
            "vocab_size": len(vocab),
            "max_position_embeddings": 64,
            "pad_token_id": 0,
            "bos_token_id": vocab.index("[DEC]"),
            "sep_token_id": vocab.index("[SEP]"),
            "eos_token_id": vocab.index("[SEP]"),
        },
        image_text_hidden_size=width,
    )


def build_blip_itm(folder: Path, image_size: int = 64, seed: int = 0) -> Path:
    from transformers import BlipForImageTextRetrieval, BlipImageProcessorPil

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _bert_tokenizer(folder)
    torch.manual_seed(seed)
    BlipForImageTextRetrieval(blip_config(vocab, image_size)).save_pretrained(folder)
    BlipImageProcessorPil(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return folder


def build_imagereward(folder: Path, image_size: int = 64, seed: int = 0) -> Path:
    """config.json, a tokenizer and ImageReward.pt (BLIP's original key layout)."""
    from transformers import BlipTextModel, BlipVisionModel

    folder.mkdir(parents=True, exist_ok=True)
    config = blip_config(_bert_tokenizer(folder), image_size)
    config.save_pretrained(folder)
    torch.manual_seed(seed)
    parts = ImageRewardParts(
        vision=BlipVisionModel(config.vision_config).state_dict(),
        text=BlipTextModel(config.text_config, add_pooling_layer=False).state_dict(),
        head=MLPHead(config.text_config.hidden_size).state_dict(),
    )
    torch.save(join_imagereward(parts), folder / "ImageReward.pt")
    return folder


BUILDERS = {
    "clip": build_clip,
    "pickscore": build_clip,
    "hpsv2": build_hpsv2,
    "aesthetic": build_aesthetic,
    "imagereward": build_imagereward,
    "blip-itm": build_blip_itm,
}


def build(root: Path, name: str, image_size: int = 64) -> dict[str, str]:
    """Write reward `name`'s tiny model under `root/name` and return the options that load it."""
    folder = root / name
    BUILDERS[name](folder, image_size)
    return options(root, name)


def options(root: Path, name: str) -> dict[str, str]:
    folder = str(root / name)
    return {
        "clip": {"model": folder},
        "pickscore": {"model": folder, "processor": folder},
        "hpsv2": {"base": str(root / name / "base"), "checkpoint": folder},
        "aesthetic": {"clip_model": str(root / name / "clip"), "head": folder},
        "imagereward": {"checkpoint": folder, "config": folder, "tokenizer": folder},
        "blip-itm": {"model": folder},
    }[name]


def build_on_clip(root: Path, name: str, clip_ref: str) -> dict[str, str]:
    """Options that run a CLIP-based reward on an existing CLIP (e.g. toy:clip) at its size.

    pickscore reads the CLIP as is; hpsv2 gets the CLIP's weights written as an open_clip
    checkpoint (base = the CLIP folder); aesthetic gets a random head of the CLIP's projection
    size. For benchmarks at the toy preset's model size: the scores mean nothing.
    """
    from transformers import CLIPModel

    from finerewards import resolve_model

    path = resolve_model(clip_ref)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if name == "pickscore":
        return {"model": path, "processor": path}
    model = CLIPModel.from_pretrained(path)
    if name == "hpsv2":
        torch.save(
            {"state_dict": transformers_to_openclip(model.state_dict())}, folder / "HPS_v2_compressed.pt"
        )
        return {"base": path, "checkpoint": str(folder)}
    if name == "aesthetic":
        torch.save(MLPHead(model.config.projection_dim).state_dict(), folder / "aesthetic-model.pth")
        return {"clip_model": path, "head": str(folder)}
    raise ValueError(f"{name!r} is not a CLIP-based reward")
