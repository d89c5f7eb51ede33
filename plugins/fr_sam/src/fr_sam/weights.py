"""Loading SAM weights without unpickling: safetensors, or `torch.load(weights_only=True)`.

segment-anything's `build_sam*(checkpoint=...)` calls a bare `torch.load(f)`, which may run
arbitrary code from a malicious `.pth`. So the model is built by the library's builder WITHOUT a
checkpoint and the state dict is loaded here, through a loader that only accepts tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.checkpoints import load_tensor_file
from finerewards.errors import UsageError

if TYPE_CHECKING:
    import torch
    from segment_anything.modeling import Sam

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a `.safetensors` file, or a `.pth` read with `weights_only=True` (a
    checkpoint that needs arbitrary unpickling is refused, not executed); the official
    checkpoints' tensors, or those under a "model" entry (training checkpoints)."""
    state = load_tensor_file(path, "SAM checkpoint")
    if "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    return dict(state)


def folder_weights(folder: Path) -> Path:
    """The one weights file of a SAM folder (model.safetensors preferred)."""
    preferred = folder / "model.safetensors"
    if preferred.is_file():
        return preferred
    found = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not found:
        raise UsageError(f"SAM folder {folder} has no weights file ({', '.join(WEIGHT_SUFFIXES)})")
    return found[0]


def load_sam(ref: str, model_type: str) -> tuple[Sam, dict[str, Any]]:
    """Build and load a `Sam` (CPU, eval mode) and return the generator settings it recommends.

    A folder with `sam_builder.json` is built by finerewards.toyworld.sam_builder from its
    settings; a checkpoint file by segment-anything's `sam_model_registry[model_type]`.
    Loading is strict: a mismatch between architecture and weights fails loudly.
    """
    from segment_anything import sam_model_registry

    from finerewards.toyworld import sam_builder

    path = Path(ref)
    recommended: dict[str, Any] = {}
    if path.is_dir():
        if not (path / sam_builder.SETTINGS_FILE).is_file():
            raise UsageError(f"SAM folder {path} has no {sam_builder.SETTINGS_FILE}")
        settings = sam_builder.read_settings(path)
        recommended = dict(settings.get(sam_builder.GENERATOR_KEY, {}))
        model = sam_builder.build_sam(settings)
        weights = folder_weights(path)
    elif path.is_file():
        if model_type not in sam_model_registry:
            known = ", ".join(sorted(sam_model_registry))
            raise UsageError(f"unknown SAM model type {model_type!r} (known: {known})")
        model = sam_model_registry[model_type](checkpoint=None)
        weights = path
    else:
        raise UsageError(
            f"SAM checkpoint {ref!r} not found: give a local .pth/.safetensors file (e.g. "
            "sam_vit_h_4b8939.pth from the segment-anything release) or a SAM folder"
        )
    model.load_state_dict(load_state_dict(weights), strict=True)
    return model.eval(), recommended
