"""SAM loading: the library's builders without a checkpoint, weights through a weights_only path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from finerewards.errors import UsageError
from finerewards.testing import code_running_checkpoint
from fr_sam.testing import build_tiny_sam, register_tiny_sam_builder
from fr_sam.weights import load_sam, load_state_dict


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_folder_with_safetensors_and_with_pth_load_the_same_model(tmp_path: Path) -> None:
    st, _ = load_sam(str(build_tiny_sam(tmp_path / "st", "safetensors", seed=3)), "vit_h")
    pth, recommended = load_sam(str(build_tiny_sam(tmp_path / "pth", "pth", seed=3)), "vit_h")
    assert _same_weights(st, pth)
    assert not st.training and not pth.training
    assert recommended["points_per_side"] == 4  # the folder's generator settings are read


@pytest.mark.parametrize("suffix", ["pth", "safetensors"])
def test_checkpoint_file_is_built_by_the_registry_builder(tmp_path: Path, suffix: str) -> None:
    model_type = register_tiny_sam_builder()
    path = build_tiny_sam(tmp_path, f"file.{suffix}", seed=4)
    reference, _ = load_sam(str(build_tiny_sam(tmp_path / "ref", "safetensors", seed=4)), "vit_h")
    loaded, recommended = load_sam(str(path), model_type)
    assert recommended == {}
    assert _same_weights(loaded, reference)


def test_pickled_code_in_a_checkpoint_is_refused_not_run(tmp_path: Path) -> None:
    marker = code_running_checkpoint(tmp_path / "evil.pth")
    with pytest.raises(UsageError, match="SAM checkpoint .*weights_only"):
        load_state_dict(tmp_path / "evil.pth")
    assert not Path(marker).exists()


def test_mismatched_weights_fail_loudly(tmp_path: Path) -> None:
    path = build_tiny_sam(tmp_path, "file.safetensors")
    with pytest.raises(RuntimeError, match="state_dict"):
        load_sam(str(path), "vit_b")  # a real ViT-B is not this tiny checkpoint


def test_clear_errors_for_missing_checkpoint_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_sam(str(tmp_path / "sam_vit_h_4b8939.pth"), "vit_h")
    path = build_tiny_sam(tmp_path, "file.pth")
    with pytest.raises(UsageError, match="unknown SAM model type"):
        load_sam(str(path), "vit_xxl")
