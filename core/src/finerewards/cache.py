"""Content-addressed score cache in SQLite.

The key covers the image pixels, the prompt, the reward name, its resolved options and the
model revision, so a hit is always the score the reward would compute again. Several
processes may write at once (WAL, busy timeout); a corrupt or locked database degrades to no
cache with one warning, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

CACHE_ENV = "FR_CACHE_DIR"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS scores "
    "(key TEXT PRIMARY KEY, score REAL NOT NULL, details TEXT NOT NULL, created REAL NOT NULL)"
)


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("finerewards"))


def image_digest(image: Image) -> str:
    """Hash of the decoded pixels (mode, size, bytes): the same picture in any file format."""
    digest = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def score_key(image_hash: str, prompt: str, reward: str, options_json: str, revision: str) -> str:
    parts = json.dumps([image_hash, prompt, reward, options_json, revision])
    return hashlib.sha256(parts.encode()).hexdigest()


class ScoreCache:
    """Get and put (score, details) by key; every failure turns the cache off with a warning."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 10.0) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "scores.sqlite"
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self.disabled = False
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(SCHEMA)
                self._conn = conn
            except (sqlite3.Error, OSError) as exc:
                self._disable(exc)
                return None
        return self._conn

    def _disable(self, exc: BaseException) -> None:
        if not self.disabled:
            print(
                f"warning: score cache {self.path} unusable ({exc}); scoring without cache",
                file=sys.stderr,
            )
        self.disabled = True
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[float, dict[str, Any]]]:
        conn = self._connect()
        found: dict[str, tuple[float, dict[str, Any]]] = {}
        if conn is None:
            self.misses += len(keys)
            return found
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, score, details FROM scores WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, score, details in rows:
                    found[key] = (float(score), json.loads(details))
        except (sqlite3.Error, ValueError) as exc:
            self._disable(exc)
            found = {}
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, rows: Iterable[tuple[str, float, dict[str, Any]]]) -> None:
        conn = self._connect()
        if conn is None:
            return
        now = time.time()
        data = [(key, float(score), json.dumps(details), now) for key, score, details in rows]
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", data)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._disable(exc)

    def clear(self) -> None:
        conn = self._connect()
        if conn is not None:
            try:
                conn.execute("DELETE FROM scores")
            except sqlite3.Error as exc:
                self._disable(exc)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
