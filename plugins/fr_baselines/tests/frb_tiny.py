"""Tiny random models for the tests, written to a folder in their published formats.

Real library classes built from small configs, saved the way the published models are (a
transformers folder for CLIP and BLIP ITM; an open_clip {"state_dict": ...} .pt for HPSv2; the
original-BLIP-layout ImageReward.pt; a plain state-dict .pth for the aesthetic MLP), then read
back by the rewards through their real loading code with HF_HUB_OFFLINE=1. Nothing downloads:
the CLIP tokenizer uses the BPE vocabulary that the open_clip package ships.
"""

from __future__ import annotations

import gzip
import json
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

TOY_WORDS = (
    "a an and the of to left right above below red green blue yellow purple circle circles "
    "square squares triangle triangles two three four photo"
).split()
IMAGE = 32


def clip_bpe() -> tuple[dict[str, int], list[str]]:
    """CLIP's vocabulary and merges, rebuilt from the file open_clip ships (as OpenAI's code does)."""
    import open_clip.tokenizer as oct
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    lines = gzip.open(oct.default_bpe()).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def save_clip_tokenizer(folder: Path) -> Any:
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe()
    src = folder / "_bpe"
    src.mkdir(parents=True, exist_ok=True)
    (src / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (src / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(vocab=str(src / "vocab.json"), merges=str(src / "merges.txt"))
    tokenizer.model_max_length = 77
    tokenizer.save_pretrained(folder)
    for path in src.iterdir():
        path.unlink()
    src.rmdir()
    return tokenizer


def clip_config(projection_dim: int = 16) -> Any:
    from transformers import CLIPConfig

    common = {"hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}
    return CLIPConfig(
        text_config={
            **common,
            "vocab_size": 49408,
            "max_position_embeddings": 77,
            "hidden_act": "gelu",
            "bos_token_id": 49406,
            "eos_token_id": 49407,
            "pad_token_id": 49407,
        },
        vision_config={**common, "image_size": IMAGE, "patch_size": 8, "hidden_act": "gelu"},
        projection_dim=projection_dim,
    )


def save_clip_processors(folder: Path) -> None:
    from transformers import CLIPImageProcessorPil

    save_clip_tokenizer(folder)
    CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}
    ).save_pretrained(folder)


def build_clip(folder: Path, seed: int = 0, logit_scale: float | None = None) -> Path:
    """A transformers CLIPModel folder (safetensors + tokenizer + image processor)."""
    from transformers import CLIPModel

    torch.manual_seed(seed)
    model = CLIPModel(clip_config()).eval()
    if logit_scale is not None:
        model.logit_scale.data.fill_(logit_scale)
    model.save_pretrained(folder)
    save_clip_processors(folder)
    return folder


def openclip_tiny(seed: int = 0) -> Any:
    """An open_clip CLIP of the OpenAI layout with the tiny config above (GELU, argmax pooling)."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    model = CLIP(
        embed_dim=16,
        vision_cfg=CLIPVisionCfg(
            layers=2, width=32, head_width=16, mlp_ratio=4.0, patch_size=8, image_size=IMAGE
        ),
        text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=2, mlp_ratio=4.0),
    )
    with torch.no_grad():  # open_clip zero-initialises nothing that matters; vary the LN/bias too
        for name, param in model.named_parameters():
            if name.endswith(("ln_1.bias", "ln_2.bias", "ln_final.bias", "ln_pre.bias", "ln_post.bias")):
                param.normal_(0, 0.05)
    return model.eval()


def build_hpsv2(folder: Path, seed: int = 0, filename: str = "HPS_v2_compressed.pt") -> tuple[Path, Any]:
    """A base folder (CLIP config + processors, no weights) and an open_clip checkpoint file."""
    base = folder / "base"
    base.mkdir(parents=True, exist_ok=True)
    clip_config().save_pretrained(base)
    save_clip_processors(base)
    model = openclip_tiny(seed)
    torch.save({"epoch": 1, "state_dict": model.state_dict()}, folder / filename)
    return base, model


def save_head(path: Path, input_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random MLP head in the published .pth layout (an OrderedDict of tensors)."""
    torch.manual_seed(seed)
    layers = nn.Sequential(
        nn.Linear(input_size, 1024),
        nn.Dropout(0.2),
        nn.Linear(1024, 128),
        nn.Dropout(0.2),
        nn.Linear(128, 64),
        nn.Dropout(0.1),
        nn.Linear(64, 16),
        nn.Linear(16, 1),
    )
    state = {f"layers.{k}": v for k, v in layers.state_dict().items()}
    torch.save(state, path)
    return state


def build_aesthetic(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    clip = build_clip(folder / "clip", seed)
    head = folder / "aesthetic-model.pth"
    save_head(head, 16, seed)
    return clip, head


# BLIP ------------------------------------------------------------------------------------


def bert_vocab() -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *TOY_WORDS,
        *letters,
        *["##" + c for c in letters],
        "[DEC]",
        "[ENC]",
    ]


def save_bert_tokenizer(folder: Path, with_enc: bool = True) -> Any:
    from transformers import BertTokenizer

    vocab = bert_vocab()
    if not with_enc:
        vocab = vocab[:-1]
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    return tokenizer


def blip_config(image_size: int = IMAGE) -> Any:
    from transformers import BlipConfig

    vocab = bert_vocab()
    return BlipConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": 8,
            "layer_norm_eps": 1e-6,
        },
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "pad_token_id": 0,
            "bos_token_id": vocab.index("[DEC]"),
            "sep_token_id": vocab.index("[SEP]"),
            "eos_token_id": vocab.index("[SEP]"),
        },
        image_text_hidden_size=16,
    )


def build_blip_itm(folder: Path, seed: int = 0, with_enc: bool = True) -> Path:
    from transformers import BlipForImageTextRetrieval, BlipImageProcessorPil

    torch.manual_seed(seed)
    BlipForImageTextRetrieval(blip_config()).eval().save_pretrained(folder)
    save_bert_tokenizer(folder, with_enc)
    BlipImageProcessorPil(size={"height": IMAGE, "width": IMAGE}).save_pretrained(folder)
    return folder


def blip_vit(seed: int = 0) -> Any:
    """A BLIP-style ViT (timm's VisionTransformer: BLIP's ViT has the same modules and names)."""
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    vit = VisionTransformer(
        img_size=IMAGE,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        mlp_ratio=2.0,
        qkv_bias=True,
        num_classes=0,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )
    with torch.no_grad():
        vit.cls_token.normal_(0, 0.5)
        vit.pos_embed.normal_(0, 0.5)
    return vit.eval()


def build_imagereward(folder: Path, seed: int = 0, filename: str = "ImageReward.pt") -> tuple[Path, Any, Any]:
    """A folder with config.json, tokenizer and ImageReward.pt in the original BLIP layout."""
    from transformers import BlipTextModel

    folder.mkdir(parents=True, exist_ok=True)
    config = blip_config()
    config.save_pretrained(folder)
    save_bert_tokenizer(folder)
    vit = blip_vit(seed)
    torch.manual_seed(seed + 1)
    text = BlipTextModel(config.text_config, add_pooling_layer=False).eval()
    head = save_head(folder / "_head.pth", config.text_config.hidden_size, seed)
    (folder / "_head.pth").unlink()
    state: dict[str, torch.Tensor] = {}
    state.update({f"blip.visual_encoder.{k}": v for k, v in vit.state_dict().items()})
    state.update({f"blip.text_encoder.{k}": v for k, v in text.state_dict().items()})
    state["blip.text_encoder.embeddings.position_ids"] = torch.arange(64).expand(1, -1).clone()
    state["blip.vision_proj.weight"] = torch.randn(16, 32)
    state["blip.vision_proj.bias"] = torch.zeros(16)
    state["blip.text_proj.weight"] = torch.randn(16, 32)
    state["blip.text_proj.bias"] = torch.zeros(16)
    state.update({f"mlp.{k}": v for k, v in head.items()})
    if filename.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, folder / filename)
    else:
        torch.save(state, folder / filename)
    return folder, vit, text


# one shared set of tiny models per test session -------------------------------------------

_ROOT: Path | None = None


def tiny_root() -> Path:
    """A temporary folder holding every tiny model, built once per process, removed at exit."""
    global _ROOT
    if _ROOT is None:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="frb-tiny-"))
        atexit.register(shutil.rmtree, root, True)
        build_clip(root / "clip", seed=0, logit_scale=float(torch.tensor(100.0).log()))
        build_hpsv2(root / "hpsv2", seed=1)
        build_aesthetic(root / "aesthetic", seed=2)
        build_imagereward(root / "imagereward", seed=3)
        build_blip_itm(root / "blip", seed=4)
        _ROOT = root
    return _ROOT


def tiny_options(reward: str) -> dict[str, Any]:
    """Options that point a reward at its tiny random model (all through the real loaders)."""
    root = tiny_root()
    return {
        "clip": {"model": str(root / "clip")},
        "pickscore": {"model": str(root / "clip"), "processor": str(root / "clip")},
        "hpsv2": {"base": str(root / "hpsv2" / "base"), "checkpoint": str(root / "hpsv2")},
        "imagereward": {
            "checkpoint": str(root / "imagereward"),
            "config": str(root / "imagereward"),
            "tokenizer": str(root / "imagereward"),
        },
        "aesthetic": {"clip_model": str(root / "aesthetic" / "clip"), "head": str(root / "aesthetic")},
        "blip-itm": {"model": str(root / "blip")},
    }[reward]
