"""Reading weight files a user did not necessarily create: tensors only, never code.

Published reward heads and SAM ship as `.pth`/`.pt` pickles. `torch.load(weights_only=True)`
refuses anything but tensors and plain containers; this turns its refusal (and any file that
is not a checkpoint at all) into one line that says what to do, instead of torch's advice to
load with `weights_only=False`. Imports torch: call only where a model is really loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finerewards.errors import UsageError


def load_tensor_file(path: str | Path, what: str = "checkpoint") -> Mapping[str, Any]:
    """The mapping stored in a `.safetensors` file, or in a torch checkpoint read with
    `weights_only=True`. `what` names the file in errors ("SAM checkpoint", ...). Unwrapping
    (a "state_dict" or "model" entry) is the caller's: layouts differ between publishers."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            kind = type(exc).__name__
            raise UsageError(f"{what} {path} is not a readable safetensors file ({kind})") from None
    try:
        state: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError and friends: refuse, never execute
        raise UsageError(
            f"{what} {path} is not a plain tensor checkpoint loadable with weights_only=True "
            f"({type(exc).__name__}); convert it to safetensors"
        ) from None
    if not isinstance(state, Mapping):
        raise UsageError(f"{what} {path} holds a {type(state).__name__}, not a state dict")
    return state
