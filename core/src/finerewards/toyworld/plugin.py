"""The toy world's built-in plugin: the `oracle` reward and the `fr toyworld` commands."""

from __future__ import annotations
