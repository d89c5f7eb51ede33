"""Errors the CLI turns into one clear line and an exit code (2: usage, 1: failure)."""

from __future__ import annotations


class FRError(Exception):
    """An error with a message meant for the user; `exit_code` is what `fr` exits with."""

    exit_code = 1


class UsageError(FRError):
    """The user asked for something that cannot be: bad option, unknown name, bad file."""

    exit_code = 2


class RewardError(FRError):
    """A reward failed while scoring (non-finite score, broken model, wrong output length)."""


class MissingExtraError(FRError):
    """A reward needs packages that are not installed."""

    exit_code = 2


LIBRARY_MESSAGE_LIMIT = 400
"""Characters of a library's error message that ours quote (see `one_line`)."""


def one_line(message: object, limit: int | None = None) -> str:
    """`message` on one line: library errors (transformers' offline OSError, for one) carry
    newlines, and the CLI promises one line per error. A library message can also run to
    thousands of characters (transformers lists every config class it knows): quoted with a
    `limit`, it is cut there, and `--debug` shows it whole."""
    text = " ".join(str(message).split())
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ... (cut; --debug shows all)"
