"""One round of the paper preset at paper size, with random weights, through `fr train` itself.

    python benchmarks/paper_round.py --device cuda          # on a GPU (an estimate: 4 to 7 minutes)
    python benchmarks/paper_round.py --tiny --device cpu    # the same path, shrunk (tests)

1. Writes random-weight models of the paper's architectures, from their published configs (no
   download), each with the library's own `save_pretrained` (safetensors): SD-1.5 (diffusers),
   BLIP-2 OPT-2.7B and CLIP ViT-L/14 (transformers), SAM ViT-H (segment-anything's builder, a
   safetensors weights file) and Vicuna-7B v1.5 (a Llama-2-7B). Tokenizers are built offline
   with small vocabularies (texts come out a little longer than with the real ones). Speed and
   memory depend on the shapes, not on the weights.
2. Runs one round of `fr train --preset paper --reward caption --reward sam` on them, with
   SAM's quality thresholds at 0 so that a random SAM still yields parts for CLIP and the LM.
3. Reads the round's metrics (seconds per phase and, on CUDA, each phase's peak memory) and
   writes benchmarks/results/paper_round.json and the `paper-round` section of
   docs/benchmarks.md, naming the card. `--tiny` writes neither unless `--write` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import paper_scale  # noqa: E402
from mdsections import machine, write_section  # noqa: E402

from finerewards.fsutil import atomic_write_json  # noqa: E402
from finerewards.train.config import deep_merge  # noqa: E402

RESULT = HERE / "results" / "paper_round.json"

TINY_UNET = {
    **paper_scale.SD15_UNET,
    "sample_size": 8,
    "layers_per_block": 1,
    "block_out_channels": (32, 32, 64, 64),
    "cross_attention_dim": 32,
    "norm_num_groups": 8,
}
TINY_VAE = {
    **paper_scale.SD15_VAE,
    "block_out_channels": (8, 8, 16, 16),
    "norm_num_groups": 4,
    "sample_size": 64,
}
TINY_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
TINY_BLIP2 = {
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
    },
    "qformer_config": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "encoder_hidden_size": 32,
        "max_position_embeddings": 64,
    },
    "text_config": {
        "hidden_size": 32,
        "word_embed_proj_dim": 32,
        "num_hidden_layers": 2,
        "ffn_dim": 64,
        "num_attention_heads": 4,
    },
    "num_query_tokens": 4,
}
TINY_CLIP = {
    "text_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    },
    "projection_dim": 16,
}
TINY_LM = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
}


def _built(device: str, dtype: Any, make: Any) -> Any:
    """A model initialised straight on `device` (a 7B model's fp32 copy never sits in host
    memory), then cast to `dtype`."""
    import torch

    with torch.device(device):
        model = make()
    return model.to(dtype).eval()


def write_sd15(out: Path, tiny: bool, device: str, dtype: Any) -> Path:
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from finerewards.published_configs import CLIP_VIT_L_14
    from finerewards.toyworld.vocab import build_clip_tokenizer

    tokenizer = build_clip_tokenizer(max_length=77)
    text = deep_merge(CLIP_VIT_L_14["text_config"], TINY_TEXT if tiny else {})
    unet_config = TINY_UNET if tiny else paper_scale.SD15_UNET
    vae_config = TINY_VAE if tiny else paper_scale.SD15_VAE
    pipe: Any = StableDiffusionPipeline(
        unet=_built(device, dtype, lambda: UNet2DConditionModel(**unet_config)),
        vae=_built(device, dtype, lambda: AutoencoderKL(**vae_config)),
        text_encoder=_built(device, dtype, lambda: CLIPTextModel(CLIPTextConfig(**text))),
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(**paper_scale.SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def write_blip2(out: Path, tiny: bool, device: str, dtype: Any) -> Path:
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor

    from fr_caption.sizes import BLIP2_OPT_2_7B
    from fr_caption.tiny import opt_tokenizer

    values = deep_merge(BLIP2_OPT_2_7B, TINY_BLIP2 if tiny else {})
    side = int(values["vision_config"]["image_size"])
    tokenizer = opt_tokenizer()
    processor = Blip2Processor(
        BlipImageProcessor(size={"height": side, "width": side}),
        tokenizer,
        num_query_tokens=values["num_query_tokens"],
    )
    config = Blip2Config(**values, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    _built(device, dtype, lambda: Blip2ForConditionalGeneration(config)).save_pretrained(
        out, safe_serialization=True
    )
    processor.save_pretrained(out)
    return out


def write_clip(out: Path, tiny: bool, device: str, dtype: Any) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from finerewards.published_configs import CLIP_VIT_L_14
    from finerewards.toyworld.vocab import build_clip_tokenizer

    values = deep_merge(CLIP_VIT_L_14, TINY_CLIP if tiny else {})
    side = int(values["vision_config"]["image_size"])
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}
        ),
        tokenizer=build_clip_tokenizer(max_length=77),
    )
    _built(device, dtype, lambda: CLIPModel(CLIPConfig(**values))).save_pretrained(
        out, safe_serialization=True
    )
    processor.save_pretrained(out)
    return out


def write_lm(out: Path, tiny: bool, device: str, dtype: Any) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from fr_sam.memory import VICUNA_7B_V15
    from fr_sam.testing import build_lm_tokenizer

    tokenizer = build_lm_tokenizer()
    values = {
        **deep_merge(VICUNA_7B_V15, TINY_LM if tiny else {}),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    _built(device, dtype, lambda: LlamaForCausalLM(LlamaConfig(**values))).save_pretrained(
        out, safe_serialization=True
    )
    tokenizer.save_pretrained(out)
    return out


def write_sam(out: Path, tiny: bool, device: str, dtype: Any) -> Path:
    """SAM ViT-H's weights as one safetensors file (what `sam_model_type = vit_h` loads); the
    tiny one as fr-sam's builder folder (its size is not one of segment-anything's types)."""
    if tiny:
        from fr_sam.testing import build_tiny_sam

        return build_tiny_sam(out)
    from safetensors.torch import save_file
    from segment_anything import sam_model_registry

    sam = _built(device, dtype, lambda: sam_model_registry["vit_h"](checkpoint=None))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "sam_vit_h.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in sam.state_dict().items()}, str(target))
    return target


def write_models(root: Path, tiny: bool, device: str) -> dict[str, Any]:
    """Every model of the paper preset under `root`; returns their paths and the seconds each
    took to build and save."""
    import torch

    dtype = torch.float32 if device == "cpu" else torch.float16
    paths: dict[str, str] = {}
    seconds: dict[str, float] = {}
    writers = {"sd15": write_sd15, "blip2": write_blip2, "clip": write_clip, "sam": write_sam, "lm": write_lm}
    for name, writer in writers.items():
        torch.manual_seed(0)
        start = time.perf_counter()
        paths[name] = str(writer(root / name, tiny, device, dtype))
        seconds[name] = round(time.perf_counter() - start, 1)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return {"paths": paths, "write_seconds": seconds}


def train_command(paths: dict[str, str], args: argparse.Namespace, out: Path) -> list[str]:
    """`fr train` on the paper preset with the random models in place of the hub ids."""
    sets = [
        f"caption.captioner={paths['blip2']}",
        f"caption.text_encoder={paths['clip']}",
        f"sam.sam_model={paths['sam']}",
        f"sam.clip_model={paths['clip']}",
        f"sam.lm_model={paths['lm']}",
        "sam.lm_prompt_format=vicuna",
        "sam.pred_iou_thresh=0",
        "sam.stability_score_thresh=0",
    ]
    if args.tiny:  # a CPU: small images, few steps and points
        sets += ["generation.height=64", "generation.width=64", "generation.steps=4"]
        sets += ["sam.points_per_side=4", "sam.min_area=0"]
    else:
        sets.append("sam.sam_model_type=vit_h")
    argv = [
        sys.executable, "-m", "finerewards", "train",
        "--preset", "paper",
        "--model", paths["sd15"],
        "--prompts", "toy:test",
        "--rounds", "1",
        "--prompts-per-round", str(args.prompts),
        "--images-per-prompt", str(args.k),
        "--steps-per-round", str(args.steps),
        "--reward", "caption", "--reward", "sam",
        "--device", args.device,
        "--no-cache", "--quiet", "--json",
        "--out", str(out),
    ]  # fmt: skip
    for item in sets:
        argv += ["--set", item]
    return argv


def card(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device)
        return f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}"
    return f"CPU ({machine()}), torch {torch.__version__}"


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    models = write_models(work / "models", args.tiny, args.device)
    run = work / "run"
    start = time.perf_counter()
    done = subprocess.run(
        train_command(models["paths"], args, run),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-8000:])  # the whole story for a one-shot GPU call
        raise SystemExit(f"fr train failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    row = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()][0]
    seconds = row["seconds"]
    images = row["images"]
    return {
        "device": card(args.device),
        "tiny": args.tiny,
        "prompts": args.prompts,
        "images_per_prompt": args.k,
        "images": images,
        "pairs_or_kept": row["kept"],
        "steps": args.steps,
        "write_seconds": models["write_seconds"],
        "train_wall_seconds": round(wall, 1),
        "seconds": seconds,
        "images_per_second": {
            "generate": round(images / seconds["generate"], 3) if seconds["generate"] else None,
            "score": round(images / seconds["score"], 3) if seconds["score"] else None,
        },
        "train_steps_per_second": round(args.steps / seconds["train"], 3) if seconds["train"] else None,
        "peak_memory_gib": row.get("peak_memory_gib"),
        "command": "python benchmarks/paper_round.py " + " ".join(args.argv),
    }


def markdown(data: dict[str, Any]) -> str:
    secs, rate = data["seconds"], data["images_per_second"]
    peaks = data.get("peak_memory_gib") or {}
    lines = [
        "## Paper scale: one round on random-weight models",
        "",
        f"`{data['command']}` on {data['device']}: one round of `fr train --preset paper --reward caption "
        f"--reward sam` on random-weight models of the paper's architectures (SD-1.5, BLIP-2 OPT-2.7B, "
        f"CLIP ViT-L/14, SAM ViT-H, Vicuna-7B v1.5; fp16), {data['prompts']} prompts x "
        f"{data['images_per_prompt']} images at 512 x 512, {data['steps']} LoRA steps; SAM's quality "
        "thresholds at 0, so that a random SAM still gives parts to label and rate. Scoring includes "
        "loading the reward models (one after another); generation does not include loading SD-1.5.",
        "",
        "| phase | seconds | images/s | peak memory (GiB) |",
        "|---|---|---|---|",
        f"| generation | {secs['generate']} | {rate['generate']} | {peaks.get('generate', '–')} |",
        f"| scoring (caption, then sam) | {secs['score']} | {rate['score']} | {peaks.get('score', '–')} |",
        f"| training | {secs['train']} | {data['train_steps_per_second']} steps/s "
        f"| {peaks.get('train', '–')} |",
    ]
    if peaks:
        top = max(v for v in peaks.values() if v is not None)
        verdict = "fits" if top <= 22.4 else "does not fit"
        lines += ["", f"Peak of the round: **{top} GiB**, which {verdict} a 24 GB card (22.4 GiB)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="shrunk architectures (a CPU, the tests)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("-k", type=int, default=4, help="images per prompt")
    parser.add_argument("--steps", type=int, default=10, help="LoRA steps of the round")
    parser.add_argument("--work", type=Path, help="folder for the models and the run (default: temporary)")
    parser.add_argument("--write", action="store_true", help="with --tiny: write the results anyway")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="fr_paper_round_") as tmp:
            data = measure(args, Path(tmp))
    else:
        data = measure(args, args.work)
    print(json.dumps(data, indent=2))
    if not args.tiny or args.write:
        atomic_write_json(RESULT, data)
        write_section("paper-round", markdown(data))


if __name__ == "__main__":
    main()
