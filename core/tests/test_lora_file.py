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


def test_the_average_of_loras_is_their_mean_weight_change(tmp_path: Path) -> None:
    """`average_lora` writes one LoRA (N times the rank) whose change to every target weight, as
    plain diffusers loads it, is the mean of the N LoRAs' changes."""
    import torch
    from safetensors import safe_open

    from finerewards.train.config import LoraConfigModel
    from finerewards.train.lora import add_lora, average_lora, load_lora_file, save_lora
    from finerewards.train.pipeline import load_pipeline

    sources = []
    for seed in (1, 2, 3):
        pipe = load_pipeline(str(tiny_pipeline()))
        params = add_lora(pipe.unet, LoraConfigModel(), seed=seed)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in params:  # the up-projections start at zero: give every factor values
                param.copy_(torch.randn(param.shape, generator=generator))
        sources.append(save_lora(pipe.unet, tmp_path / str(seed)).parent)
    average_lora(sources, tmp_path / "mean")

    probe = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(0))

    def outputs(lora: Path | None) -> list[torch.Tensor]:
        pipe = load_pipeline(str(tiny_pipeline()))
        if lora is not None:
            load_lora_file(pipe, lora)
        modules = [m for name, m in pipe.unet.named_modules() if name.endswith("attn1.to_q")]
        with torch.no_grad():
            return [m(probe[..., : m.in_features]) for m in modules]

    base = outputs(None)
    changes = [[a - b for a, b in zip(outputs(s), base)] for s in sources]
    averaged = [a - b for a, b in zip(outputs(tmp_path / "mean"), base)]
    assert base and all(c.abs().max() > 0.1 for c in changes[0])
    for got, *each in zip(averaged, *changes):
        torch.testing.assert_close(got, sum(each) / len(each), rtol=1e-4, atol=1e-4)
    with safe_open(str(tmp_path / "mean" / "pytorch_lora_weights.safetensors"), "pt") as handle:
        ranks = {handle.get_tensor(k).shape[0] for k in handle.keys() if k.endswith(".down.weight")}
    assert ranks == {3 * LoraConfigModel().rank}
