"""Tiny random models for tests and benchmarks: the real library classes, saved, loaded back.

Nothing is downloaded. `build_tiny_models(folder)` writes a tiny segment-anything `Sam` (the
library's classes at tiny sizes, weights as `.pth` or `.safetensors`), a tiny `CLIPModel` with
its processor, and a tiny `LlamaForCausalLM` with a tokenizer built here, so the reward loads
them through its ordinary paths (the weights_only SAM loader, `from_pretrained`). Heavy
libraries are imported inside the functions only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_SAM_TYPE = "fr_sam_tiny"
"""Name under which `register_tiny_sam_builder` adds a builder to `sam_model_registry`."""
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_sam_settings(img: int = 64, patch: int = 8, width: int = 32) -> dict[str, Any]:
    """Builder settings (finerewards.toyworld.sam_builder format) of a very small SAM."""
    from finerewards.toyworld.sam_builder import default_settings

    settings = default_settings()
    grid = img // patch
    settings["image_encoder"].update(img_size=img, patch_size=patch, embed_dim=width, depth=1, num_heads=2)
    settings["image_encoder"]["out_chans"] = width
    settings["prompt_encoder"].update(
        embed_dim=width, image_embedding_size=[grid, grid], input_image_size=[img, img], mask_in_chans=4
    )
    dec = settings["mask_decoder"]
    dec.update(transformer_dim=width, iou_head_hidden_dim=width)
    dec["transformer"].update(depth=1, embedding_dim=width, num_heads=2, mlp_dim=2 * width)
    settings["automatic_mask_generator"] = {"points_per_side": 4, "points_per_batch": 64}
    return settings


def register_tiny_sam_builder() -> str:
    """Add a tiny builder to segment-anything's `sam_model_registry` (as a user could add one);
    returns its model-type name, for checkpoint files of the tiny size."""
    from segment_anything import sam_model_registry

    from finerewards.toyworld.sam_builder import build_sam

    def build(checkpoint: Any = None) -> Any:
        if checkpoint is not None:
            raise ValueError("the fr-sam tests load weights themselves (weights_only)")
        return build_sam(tiny_sam_settings()).eval()

    sam_model_registry[TINY_SAM_TYPE] = build
    return TINY_SAM_TYPE


def build_tiny_sam(folder: str | Path, fmt: str = "safetensors", seed: int = 0) -> Path:
    """A random tiny SAM: a folder (sam_builder.json + weights in `fmt`: safetensors or pth);
    `fmt="file.pth"` / `"file.safetensors"` writes a bare checkpoint file instead (load it with
    sam_model_type=register_tiny_sam_builder()). Returns the folder or file."""
    import torch

    from finerewards.toyworld.sam_builder import build_sam, save_sam

    torch.manual_seed(seed)
    settings = tiny_sam_settings()
    model = build_sam(settings)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if fmt.startswith("file."):
        target = out / f"tiny_sam.{fmt.removeprefix('file.')}"
        _save_state(state, target)
        return target
    save_sam(model, settings, out)
    if fmt == "pth":
        (out / "model.safetensors").unlink()
        _save_state(state, out / "model.pth")
    return out


def _save_state(state: dict[str, Any], target: Path) -> None:
    import torch

    if target.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(target))
    else:
        torch.save(state, str(target))


def build_tiny_clip(folder: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """A random tiny `CLIPModel` + `CLIPProcessor` (toy-world word tokenizer), saved."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from finerewards.toyworld.vocab import build_clip_tokenizer

    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer()
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": tokenizer.model_max_length,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
    )
    out = Path(folder)
    CLIPModel(config).eval().save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def build_lm_tokenizer(chat_template: str | None = None) -> Any:
    """A Llama-like tokenizer built offline: byte-level BPE over Metaspace words with digits
    split off (so " 3" is "▁" then "3", as in Llama's vocabulary), BOS in front, left padding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from finerewards.rubric import rating_question

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.decoder = decoders.Metaspace()
    corpus = [rating_question("a red circle and two dogs", "blue square"), "USER: ASSISTANT: chat 1 2 3"]
    alphabet = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:.,?!'-▁|<>"))
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        padding_side="left",
        model_max_length=256,
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def build_tiny_lm(folder: str | Path, seed: int = 0, chat_template: str | None = None) -> Path:
    """A random tiny `LlamaForCausalLM` + the tokenizer above, saved with save_pretrained."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = build_lm_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = Path(folder)
    LlamaForCausalLM(config).eval().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_models(folder: str | Path, sam_format: str = "safetensors") -> dict[str, str]:
    """All three tiny models under `folder`; returns the reward options that select them
    (thresholds at 0, so a random SAM still yields parts)."""
    root = Path(folder)
    paths = {
        "sam_model": str(build_tiny_sam(root / "sam", sam_format)),
        "clip_model": str(build_tiny_clip(root / "clip")),
        "lm_model": str(build_tiny_lm(root / "lm")),
    }
    (root / "options.json").write_text(json.dumps(paths, indent=2))
    return {
        **paths,
        "pred_iou_thresh": 0.0,
        "stability_score_thresh": 0.0,
        "lm_prompt_format": "plain",
    }


_SHARED: dict[str, dict[str, str]] = {}


def shared_tiny_models() -> dict[str, str]:
    """`build_tiny_models` once per process into a temporary folder removed at exit (for test
    classes whose fixtures cannot take pytest's tmp_path)."""
    if "options" not in _SHARED:
        import atexit
        import shutil
        import tempfile

        root = tempfile.mkdtemp(prefix="fr_sam_tiny_")
        atexit.register(shutil.rmtree, root, True)
        _SHARED["options"] = build_tiny_models(root)
    return dict(_SHARED["options"])


def toy_near_miss_pairs(per_category: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    """Ground-truth toy renders of `toy:test` prompts with two near misses each (TOYWORLD.md):

    - `extra`: the same scene plus one random object (any shape, any colour) at a free spot;
      None when the scene already holds the world's maximum of four objects.
    - `recolored`: one object whose colour the prompt names, in another palette colour; None
      for prompts that name no colour (recolouring cannot unsatisfy them).
    Every near miss breaks the prompt, so a good reward scores the original higher."""
    import random
    from dataclasses import replace

    from finerewards.toyworld.prompts import load_prompt_set, parse
    from finerewards.toyworld.render import layout, render_scene
    from finerewards.toyworld.scenes import add_object
    from finerewards.toyworld.world import CATEGORIES, COLORS

    rng = random.Random(seed)
    by_category: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for prompt in dict.fromkeys(load_prompt_set("test")):
        by_category[parse(prompt).category].append(prompt)
    rows = []
    for category in CATEGORIES:
        for _ in range(per_category):  # a category with few distinct prompts repeats them, new layouts
            prompt = rng.choice(by_category[category])
            scene = layout(prompt, rng.randrange(10**6))
            specs = parse(prompt).objects
            extra = add_object(rng, scene)
            named = [i for i, spec in enumerate(specs) if spec.color is not None]
            recolored = None
            if named:
                i = rng.choice(named)
                recolored = list(scene)
                recolored[i] = replace(scene[i], color=rng.choice([c for c in COLORS if c != scene[i].color]))
            rows.append(
                {
                    "prompt": prompt,
                    "category": category,
                    "image": render_scene(scene),
                    "extra": None if extra is None else render_scene(extra),
                    "recolored": None if recolored is None else render_scene(recolored),
                }
            )
    return rows
