"""Model references: `toy:<name>` (shipped with the package), local paths, or hub ids.

Every model option of every reward and of the trainer goes through `resolve_model`, so the same
plugin code runs the paper's models and the embedded toy world's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from finerewards.errors import FRError, UsageError, one_line

TOY_PREFIX = "toy:"


def toy_models_dir() -> Path:
    return Path(__file__).resolve().parent / "toyworld" / "models"


def toy_model_names() -> list[str]:
    root = toy_models_dir()
    if not root.is_dir():
        return []
    return sorted(TOY_PREFIX + p.name for p in root.iterdir() if (p / "fr_model.json").is_file())


def is_toy(ref: str) -> bool:
    return ref.startswith(TOY_PREFIX)


def resolve_model(ref: str) -> str:
    """A loadable name: the shipped folder for `toy:<name>`, else the path or hub id unchanged."""
    if is_toy(ref):
        folder = toy_models_dir() / ref[len(TOY_PREFIX) :]
        if not (folder / "fr_model.json").is_file():
            known = ", ".join(toy_model_names()) or "none shipped"
            raise UsageError(f"unknown toy model {ref!r} (available: {known})")
        return str(folder)
    expanded = os.path.expanduser(ref)
    if os.path.exists(expanded):
        return expanded
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref:
        raise UsageError(f"model path {ref!r} does not exist")
    return ref


def toy_model_info(name: str) -> dict[str, Any]:
    """The `fr_model.json` of a shipped toy model (library, class, how it was trained)."""
    folder = Path(resolve_model(name if is_toy(name) else TOY_PREFIX + name))
    info: dict[str, Any] = json.loads((folder / "fr_model.json").read_text())
    return {"name": TOY_PREFIX + folder.name, "path": str(folder), **info}


def model_revision(ref: str) -> str:
    """A cheap fingerprint of a model's weights, for cache keys (no model is loaded)."""
    if is_toy(ref) or os.path.exists(os.path.expanduser(ref)):
        root = Path(resolve_model(ref))
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for path in files[:500]:
            stat = path.stat()
            digest.update(f"{path.relative_to(root.parent)}:{stat.st_size}".encode())
            if path.suffix in {".json", ".txt"} or stat.st_size < 4096:
                digest.update(path.read_bytes())
            elif not is_toy(ref):
                digest.update(str(stat.st_mtime_ns).encode())
        return digest.hexdigest()[:16]
    return _hub_revision(ref)


def _hub_cache_folder(repo_id: str) -> Path:
    """Where the local Hugging Face cache keeps a hub model (whether or not it is there)."""
    cache = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME", "~/.cache/huggingface"))
    cache = cache.expanduser()
    if not os.environ.get("HF_HUB_CACHE"):
        cache = cache / "hub"
    return cache / ("models--" + repo_id.replace("/", "--"))


def _hub_revision(repo_id: str) -> str:
    """The commit of a hub model in the local Hugging Face cache, or the id when unknown."""
    try:
        return (_hub_cache_folder(repo_id) / "refs" / "main").read_text().strip()[:16]
    except OSError:
        return repo_id


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


HUB_PROBE_TIMEOUT = 5.0
"""Seconds to wait for the hub's answer to one HEAD request."""
_HUB_ANSWERS: dict[str, str | None] = {}


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub does not answer (None when it does): one HEAD request through
    huggingface_hub's own client (its endpoint and proxies), once per process. A model
    download that cannot connect is retried with back-off for about a minute before it fails;
    this says so in a moment."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    endpoint = constants.ENDPOINT
    if endpoint not in _HUB_ANSWERS:
        try:
            get_session().head(endpoint, timeout=HUB_PROBE_TIMEOUT)
        except Exception as exc:  # no HTTP answer at all; the client's error classes vary by version
            _HUB_ANSWERS[endpoint] = one_line(f"{endpoint}: {type(exc).__name__}: {exc}", 200)
        else:
            _HUB_ANSWERS[endpoint] = None
    return _HUB_ANSWERS[endpoint]


def check_hub_model(repo_id: str) -> None:
    """Fail at once for a hub model that would have to be downloaded and cannot be: missing
    from the local cache while HF_HUB_OFFLINE is set, or while the hub does not answer."""
    if _hub_cache_folder(repo_id).is_dir():
        return
    if _offline():
        raise UsageError(
            f"model {repo_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE"
            " is set: download it first, or give a local folder"
        )
    why = hub_unreachable()
    if why is not None:
        raise FRError(
            f"model {repo_id!r} is not in the local Hugging Face cache and the hub cannot be"
            f" reached ({why}): connect, download it first, or give a local folder"
        )


def options_revision(values: dict[str, Any], owner: str = "") -> str:
    """Fingerprints of every model-like option value, joined (part of the score cache key).

    Checks the values on the way, so that a run fails before any work, not when the model is
    first loaded: a path that does not exist, an unknown toy model, and a hub id missing from
    the local cache that cannot be downloaded (HF_HUB_OFFLINE set, or the hub not answering)
    are errors naming the option (`owner.key`).
    """
    parts = []
    for key, value in sorted(values.items()):
        if not isinstance(value, str):
            continue
        where = f"{owner}.{key}" if owner else key
        local = os.path.exists(os.path.expanduser(value))
        try:
            if is_toy(value) or local or value.startswith((".", "/", "~")):
                resolve_model(value)  # an unknown toy model or a missing path fails here
                parts.append(f"{key}={model_revision(value)}")
            elif value.count("/") == 1:
                check_hub_model(value)
                parts.append(f"{key}={model_revision(value)}")
        except FRError as exc:
            raise type(exc)(f"{where}: {exc}") from None
    return ";".join(parts)
