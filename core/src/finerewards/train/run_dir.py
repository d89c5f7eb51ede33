"""The run directory: its layout, creating it, finding where an interrupted run stopped.

    run.toml                      the resolved configuration (enough to resume or repeat)
    rounds/NNN/samples.jsonl      one line per generated image, scores and selection
    rounds/NNN/images/*.png       the candidates
    rounds/NNN/lora/              the LoRA after round NNN
    lora/                         the latest (at the end: final) LoRA, loadable by diffusers
    metrics.jsonl                 one line per finished round
    report.html                   candidates, scores and reward curves

A round is finished when its line is in `metrics.jsonl`, which is written last (atomically);
anything of a later round is a leftover of an interruption and is redone on resume.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from finerewards.errors import UsageError
from finerewards.fsutil import atomic_write_jsonl, atomic_write_text, check_out_dir, make_dir
from finerewards.train.config import TrainConfig, config_to_toml, load_run_config
from finerewards.train.lora import WEIGHT_NAME


class RunDir:
    """Paths and state of one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock: Any = None

    # layout ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "run.toml"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def lora_dir(self) -> Path:
        return self.root / "lora"

    @property
    def report_path(self) -> Path:
        return self.root / "report.html"

    def round_dir(self, index: int) -> Path:
        return self.root / "rounds" / f"{index:03d}"

    def samples_path(self, index: int) -> Path:
        return self.round_dir(index) / "samples.jsonl"

    def round_lora_dir(self, index: int) -> Path:
        return self.round_dir(index) / "lora"

    # creating and opening -----------------------------------------------------------------
    @staticmethod
    def check_new(root: str | Path) -> None:
        """Refuse an `--out` that is a file, holds a run, or holds anything else; a run that
        finished no round (stopped by an error) is named as such, with the way to start over."""
        run = RunDir(root)
        if run.config_path.is_file() and run.finished_rounds() == 0:
            raise UsageError(
                f"--out {str(run.root)!r} holds a run that finished no round; continue it with "
                f"`fr train --resume {run.root}` (its own settings), or remove the folder to start "
                "again with other settings"
            )
        check_out_dir(Path(root))

    def create(self, config: TrainConfig) -> None:
        make_dir(self.root)
        atomic_write_text(self.config_path, config_to_toml(config))

    def write_config(self, config: TrainConfig) -> None:
        atomic_write_text(self.config_path, config_to_toml(config))

    @classmethod
    def open(cls, root: str | Path) -> RunDir:
        run = cls(root)
        if not run.root.is_dir():
            raise UsageError(f"--resume {str(run.root)!r}: no such run folder")
        if not run.config_path.is_file():
            raise UsageError(f"--resume {str(run.root)!r} is not a FineRewards run (no run.toml)")
        return run

    def load_config(self) -> TrainConfig:
        return load_run_config(self.config_path)

    def lock(self) -> None:
        """Hold an exclusive lock for this process's lifetime: two trainers never share a run."""
        import fcntl

        if self._lock is not None:
            return
        handle = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UsageError(f"run {str(self.root)!r} is in use by another fr train process") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # progress -----------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
        return rows

    def finished_rounds(self) -> int:
        """How many rounds, from 000, are finished (metrics line and LoRA both present)."""
        done = 0
        for row in self.metrics():
            if row.get("round") != done or not (self.round_lora_dir(done) / WEIGHT_NAME).is_file():
                break
            done += 1
        return done

    def clean_after(self, finished: int) -> None:
        """Drop leftovers of unfinished rounds and metrics lines beyond `finished`."""
        rows = self.metrics()
        if len(rows) != finished:
            atomic_write_jsonl(self.metrics_path, rows[:finished])
        rounds = self.root / "rounds"
        if rounds.is_dir():
            for child in rounds.iterdir():
                if child.name.isdigit() and int(child.name) < finished:
                    continue
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink()
        for leftover in self.root.rglob(".*.tmp"):
            leftover.unlink(missing_ok=True)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Commit a finished round (the whole file is rewritten through a temporary name)."""
        atomic_write_jsonl(self.metrics_path, [*self.metrics(), row])

    def samples(self, index: int) -> list[dict[str, Any]]:
        path = self.samples_path(index)
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")
