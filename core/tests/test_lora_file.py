"""A run's LoRA file is the same bytes on every run with the same seed, whatever the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from train_support import subprocess_env, tiny_pipeline

SAVE = """
import sys
from finerewards.train.config import LoraConfigModel
from finerewards.train.lora import add_lora, save_lora
from finerewards.train.pipeline import load_pipeline

pipe = load_pipeline(sys.argv[1])
add_lora(pipe.unet, LoraConfigModel(), seed=1)
save_lora(pipe.unet, sys.argv[2])
"""


def test_the_saved_lora_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    # peft keeps target modules in a set, whose order follows the process's string hashing
    files = []
    for hash_seed in ("1", "2", "3"):
        out = tmp_path / hash_seed
        subprocess.run(
            [sys.executable, "-c", SAVE, str(tiny_pipeline()), str(out)],
            env=subprocess_env({"PYTHONHASHSEED": hash_seed}),
            check=True,
            capture_output=True,
        )
        files.append((out / "pytorch_lora_weights.safetensors").read_bytes())
    assert files[0] == files[1] == files[2]


def test_header_metadata_is_sorted_and_the_file_still_loads(tmp_path: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from finerewards.train.lora import sort_header_metadata

    path = tmp_path / "w.safetensors"
    tensors = {"b.weight": torch.arange(6.0).reshape(2, 3), "a.weight": torch.ones(4)}
    metadata = {f"key{i}": f"value {i}" for i in (5, 2, 7, 0, 3, 6, 1, 4)}
    save_file(tensors, str(path), metadata=metadata)
    size = path.stat().st_size
    sort_header_metadata(path)
    assert path.stat().st_size == size
    header = path.read_bytes()[8:]
    positions = [header.index(f'"key{i}"'.encode()) for i in range(8)]
    assert positions == sorted(positions)
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata() == metadata
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[name], tensors[name]) for name in tensors)
