"""Choosing the device and dtype (imports torch: call only where a model is really used)."""

from __future__ import annotations

from finerewards.errors import UsageError


def resolve_device(device: str = "auto") -> str:
    """`auto` picks cuda, then mps, then cpu; an explicit device must exist here."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} asked for, but CUDA is not available here")
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise UsageError(f"device {device!r} asked for, but MPS (Apple silicon) is not available here")
    return str(resolved)


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` means float16 on cuda and float32 elsewhere (CPU half precision is slow)."""
    if dtype == "auto":
        return "float16" if device.startswith("cuda") else "float32"
    if dtype not in {"float32", "float16", "bfloat16"}:
        raise UsageError(f"unknown dtype {dtype!r} (use float32, float16, bfloat16 or auto)")
    return dtype


def reset_peak_memory(device: str) -> None:
    """Start a phase's peak-memory count (CUDA; a no-op elsewhere)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: str) -> float | None:
    """The most accelerator memory torch held in tensors since the last reset (GiB; CUDA only:
    None elsewhere, where torch keeps no such count)."""
    if not device.startswith("cuda"):
        return None
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
