"""The model libraries' own console output (transformers, diffusers), kept out of ours.

Imports the libraries it silences: call only where a model is really loaded.
"""

from __future__ import annotations

import sys


def hide_progress_bars() -> None:
    """No progress bars from transformers (one "Loading weights" bar per model, and the hub's
    download bars), nor from diffusers once it is imported: what `--quiet` promises. Warnings
    stay on, so a checkpoint with missing weights is still reported."""
    from transformers.utils import logging as tlog

    tlog.disable_progress_bar()
    if "diffusers" in sys.modules:
        from diffusers.utils import logging as dlog

        dlog.disable_progress_bar()


def quiet_libraries() -> None:
    """Keep diffusers' and transformers' logging and progress bars out of the trainer's own
    (its bars and round lines say what happens; library notices would interleave with them)."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    hide_progress_bars()
