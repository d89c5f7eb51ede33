"""Parsing `--set KEY=VALUE` pairs and settings files into plain values for pydantic models."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from finerewards.errors import UsageError


def parse_value(text: str) -> Any:
    """JSON when it parses (numbers, true/false, null, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_set(items: Iterable[str], *, option_name: str = "--set") -> dict[str, Any]:
    """`KEY=VALUE` strings into a dict; a malformed item is a usage error naming it."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{option_name} expects KEY=VALUE, got {item!r}")
        out[key] = parse_value(value.strip())
    return out


def parse_reward_options(items: Iterable[str], rewards: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`REWARD.OPTION=VALUE` strings into {reward: {option: value}}."""
    names = list(rewards)
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_set(items).items():
        reward, dot, option = key.partition(".")
        if not dot or not option:
            raise UsageError(f"--set expects REWARD.OPTION=VALUE, got {key!r}")
        if reward not in names:
            raise UsageError(
                f"--set {key}: {reward!r} is not among the rewards ({', '.join(names) or 'none'})"
            )
        out.setdefault(reward, {})[option] = value
    return out
