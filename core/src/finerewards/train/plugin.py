"""Built-in plugin that adds `fr train` and `fr generate` (filled in by the trainer issue)."""

from __future__ import annotations
