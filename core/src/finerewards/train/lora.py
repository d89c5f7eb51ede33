"""The LoRA adapter: add it to the UNet (peft), save it in diffusers' format, load it back.

What is saved is exactly what `StableDiffusionPipeline.save_lora_weights` writes (diffusers key
names, safetensors, the adapter's peft config as metadata so that alpha survives), so plain
diffusers loads a run's LoRA with `pipe.load_lora_weights(dir)`. Files are written to a
temporary name and renamed. Only safetensors are ever read: no pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.errors import UsageError

if TYPE_CHECKING:
    import torch

    from finerewards.train.config import LoraConfigModel

WEIGHT_NAME = "pytorch_lora_weights.safetensors"
ADAPTER = "default"


def read_header(handle: Any) -> tuple[int, dict[str, Any]]:
    """(size, parsed JSON) of the safetensors header at the start of an open binary file;
    ValueError when there is none."""
    head = handle.read(8)
    if len(head) < 8:
        raise ValueError("file too short")
    (size,) = struct.unpack("<Q", head)
    if size > 100_000_000:
        raise ValueError("header too large")
    header = json.loads(handle.read(size))
    if not isinstance(header, dict):
        raise ValueError("bad header")
    return size, header


def check_safetensors(path: Path) -> None:
    """Raise a UsageError unless `path` starts with a well-formed safetensors header."""
    try:
        with open(path, "rb") as handle:
            size, _ = read_header(handle)
        if os.path.getsize(path) < 8 + size:
            raise ValueError("bad header")
    except (OSError, ValueError, struct.error) as exc:
        raise UsageError(f"LoRA file {str(path)!r} is not a safetensors file ({exc})") from None


def sort_header_metadata(path: Path) -> None:
    """Rewrite a safetensors header in place with its `__metadata__` entries sorted by key.

    safetensors keeps the metadata in a Rust HashMap, whose order changes from process to
    process; sorted, a seeded run writes the same bytes every time. The header keeps its
    length (it is padded with spaces, as the format allows), so no data moves."""
    with open(path, "r+b") as handle:
        size, header = read_header(handle)
        metadata = header.get("__metadata__")
        if not metadata:
            return
        header["__metadata__"] = dict(sorted(metadata.items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:  # never the case for a reordering; leave the file as written
            return
        handle.seek(8)
        handle.write(text + b" " * (size - len(text)))


def lora_weights_file(path: str | Path) -> Path:
    """The safetensors LoRA file that `path` names: the file itself, `DIR/` or a run's `DIR/lora/`."""
    given = Path(path).expanduser()
    if not given.exists():
        raise UsageError(f"LoRA path {str(given)!r} does not exist")
    if given.is_dir():
        for candidate in (given / WEIGHT_NAME, given / "lora" / WEIGHT_NAME):
            if candidate.is_file():
                check_safetensors(candidate)
                return candidate
        others = sorted(p.name for p in given.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})
        if others:
            raise UsageError(
                f"LoRA folder {str(given)!r} holds {others[0]}, not a safetensors file "
                f"({WEIGHT_NAME}); pickle checkpoints are not loaded"
            )
        raise UsageError(f"LoRA folder {str(given)!r} holds no {WEIGHT_NAME}")
    if given.suffix != ".safetensors":
        raise UsageError(
            f"LoRA file {str(given)!r} is not a .safetensors file; pickle checkpoints are not loaded"
        )
    check_safetensors(given)
    return given


def load_lora_file(pipe: Any, path: str | Path) -> None:
    """Load a trained LoRA into a pipeline the plain diffusers way; `path` as `lora_weights_file`
    takes it (the file, its folder, or a run folder)."""
    weights = lora_weights_file(path)
    pipe.load_lora_weights(str(weights.parent), weight_name=weights.name)


def add_lora(unet: Any, settings: LoraConfigModel, seed: int) -> list[torch.nn.Parameter]:
    """Add a fresh trainable adapter (seeded init) and return its parameters, in float32."""
    import torch
    from peft import LoraConfig

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        init_lora_weights="gaussian",
        target_modules=list(settings.targets),
    )
    unet.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            unet.add_adapter(config, adapter_name=ADAPTER)
        except ValueError as exc:
            raise UsageError(f"cannot add LoRA to the UNet: {exc}") from None
    params = [p for p in unet.parameters() if p.requires_grad]
    if not params:
        raise UsageError(
            f"LoRA targets {settings.targets} match no UNet module (try to_k, to_q, to_v, to_out.0)"
        )
    for param in params:
        param.data = param.data.float()
    return params


def lora_state(unet: Any) -> dict[str, torch.Tensor]:
    """The adapter's weights in diffusers' key format, float32, on the CPU."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name=ADAPTER))
    return {k: v.detach().float().cpu().contiguous() for k, v in state.items()}


def save_lora(unet: Any, directory: str | Path) -> Path:
    """Write `directory/pytorch_lora_weights.safetensors` atomically with diffusers' writer."""
    from diffusers import StableDiffusionPipeline

    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    # peft keeps target modules in a set: sorted, the file is the same bytes on every seeded run
    config = unet.peft_config[ADAPTER].to_dict()
    metadata = {key: sorted(value) if isinstance(value, set) else value for key, value in config.items()}
    scratch = Path(tempfile.mkdtemp(prefix=".lora-", dir=target_dir))
    try:
        StableDiffusionPipeline.save_lora_weights(
            scratch,
            unet_lora_layers=lora_state(unet),
            unet_lora_adapter_metadata=metadata,
            safe_serialization=True,
        )
        written = scratch / WEIGHT_NAME
        sort_header_metadata(written)
        with open(written, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(written, target_dir / WEIGHT_NAME)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target_dir / WEIGHT_NAME


def copy_lora(source_dir: str | Path, target_dir: str | Path) -> None:
    """Copy a saved LoRA file atomically (the run's top-level `lora/` after each round)."""
    from finerewards.fsutil import atomic_path

    with atomic_path(Path(target_dir) / WEIGHT_NAME) as tmp:
        shutil.copyfile(Path(source_dir) / WEIGHT_NAME, tmp)


METADATA_KEY = "lora_adapter_metadata"
"""Where diffusers keeps the adapter's peft config in a LoRA file's safetensors metadata."""


def average_lora(source_dirs: list[Path], target_dir: str | Path) -> None:
    """Write the mean of several saved LoRAs of the same shape as one LoRA, exactly.

    A LoRA changes a weight by `up @ down` (times alpha / rank). The mean of N such changes is
    one LoRA of N times the rank: the down factors stacked, the up factors side by side and
    divided by N, alpha times N so that alpha / rank stays. Plain diffusers loads it as it
    loads any LoRA. Averaging the factors themselves would not give the mean change."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save

    from finerewards.fsutil import atomic_path

    if len(source_dirs) == 1:
        copy_lora(source_dirs[0], target_dir)
        return
    states, metadata = [], None
    for source in source_dirs:
        with safe_open(str(Path(source) / WEIGHT_NAME), framework="pt") as handle:
            states.append({key: handle.get_tensor(key) for key in handle.keys()})
            metadata = metadata or dict(handle.metadata() or {})
    count = len(states)
    merged: dict[str, torch.Tensor] = {}
    for key in states[0]:
        if key.endswith((".down.weight", ".lora_A.weight")):  # (rank, in): stacked
            merged[key] = torch.cat([state[key] for state in states], dim=0).contiguous()
        elif key.endswith((".up.weight", ".lora_B.weight")):  # (out, rank): side by side, each 1/N
            merged[key] = torch.cat([state[key] / count for state in states], dim=1).contiguous()
        else:
            raise ValueError(f"cannot average LoRA weight {key!r}")
    if metadata and METADATA_KEY in metadata:
        config = json.loads(metadata[METADATA_KEY])
        for field in ("unet.r", "unet.lora_alpha"):
            config[field] = config[field] * count
        for field in ("unet.rank_pattern", "unet.alpha_pattern"):  # per-module overrides
            config[field] = {name: value * count for name, value in (config.get(field) or {}).items()}
        metadata[METADATA_KEY] = json.dumps(config, indent=2, sort_keys=True)
    with atomic_path(Path(target_dir) / WEIGHT_NAME) as tmp:
        tmp.write_bytes(save(merged, metadata=metadata))  # `save_file` would make it owner-only
        sort_header_metadata(tmp)


def load_lora_into(unet: Any, directory: str | Path) -> None:
    """Set the existing trainable adapter's weights from a saved LoRA (resume)."""
    from diffusers.utils import convert_unet_state_dict_to_peft
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    raw = load_file(str(lora_weights_file(directory)))
    state = {k[len("unet.") :]: v for k, v in raw.items() if k.startswith("unet.")}
    result = set_peft_model_state_dict(unet, convert_unet_state_dict_to_peft(state), adapter_name=ADAPTER)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in getattr(result, "missing_keys", []) or [] if "lora_" in k]
    if unexpected or missing:
        raise UsageError(
            f"LoRA in {directory} does not fit this run's adapter "
            f"({len(unexpected)} unexpected, {len(missing)} missing weights)"
        )
