"""Weight files are read as tensors only: code in a pickle is refused (not run), in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from finerewards.checkpoints import load_tensor_file
from finerewards.errors import UsageError
from finerewards.testing import code_running_checkpoint


def test_tensors_load_from_both_formats(tmp_path: Path) -> None:
    weights = {"layer.weight": torch.arange(6.0).reshape(2, 3)}
    torch.save({"state_dict": weights, "epoch": 3}, tmp_path / "c.pth")
    save_file(weights, str(tmp_path / "c.safetensors"))
    pickled = load_tensor_file(tmp_path / "c.pth")
    assert pickled["epoch"] == 3
    assert torch.equal(pickled["state_dict"]["layer.weight"], weights["layer.weight"])
    assert torch.equal(load_tensor_file(tmp_path / "c.safetensors")["layer.weight"], weights["layer.weight"])


def test_code_in_a_pickle_is_refused_not_run(tmp_path: Path) -> None:
    marker = code_running_checkpoint(tmp_path / "evil.pth")
    refused = r"head .*evil\.pth is not a plain tensor checkpoint .*convert it to safetensors"
    with pytest.raises(UsageError, match=refused):
        load_tensor_file(tmp_path / "evil.pth", "head")
    assert not Path(marker).exists()


@pytest.mark.parametrize("name", ["notes.pth", "notes.safetensors"])
def test_a_file_that_is_no_checkpoint_is_one_clear_error(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("not weights\nat all\n")
    with pytest.raises(UsageError) as caught:
        load_tensor_file(tmp_path / name, "SAM checkpoint")
    message = str(caught.value)
    assert message.startswith(f"SAM checkpoint {tmp_path / name} is not a")
    assert "\n" not in message and "weights_only=False" not in message


def test_a_bare_tensor_is_not_a_state_dict(tmp_path: Path) -> None:
    torch.save(torch.zeros(2), tmp_path / "t.pt")
    with pytest.raises(UsageError, match="holds a Tensor, not a state dict"):
        load_tensor_file(tmp_path / "t.pt")
