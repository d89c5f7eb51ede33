"""glibc's malloc, set up for tensor work on a CPU: freed buffers are kept for reuse.

By default glibc serves every allocation at or above a moving threshold with a fresh `mmap` and
hands it back to the OS when freed; the threshold then rises to the freed block's size, and the
next block of the same size is still at it, so it is mapped again. A batched forward pass frees
and re-allocates same-sized activations dozens of times, and each time every page is faulted in
and zeroed anew: on the toy models, elementwise ops on 4 MB activations ran 5-10 times slower
than on reused memory (docs/benchmarks.md, `fr-baselines`). Fixed thresholds keep blocks up to
32 MiB in the heap and let the heap keep up to 256 MiB of freed memory at its top.

`fr` applies this to its own process (`cli.main`); the library never changes the allocator on
import: Python users who want it call `tune_malloc()` themselves. `FR_MALLOC=system` (or any
MALLOC_*_ / GLIBC_TUNABLES setting of the user's own) leaves the allocator alone.
"""

from __future__ import annotations

import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
"""Blocks up to this size come from the heap: glibc's largest allowed value on 64-bit."""
TRIM_THRESHOLD = 256 << 20
"""Freed memory kept at the heap's top before it is returned to the OS."""
USER_SETTINGS = ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def tune_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; True when they were set. A no-op
    (False) off glibc, with `FR_MALLOC=system`, or where the user set malloc options already."""
    if sys.platform != "linux" or os.environ.get("FR_MALLOC", "") == "system":
        return False
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (AttributeError, OSError, ValueError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
