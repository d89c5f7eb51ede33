"""`fr` keeps freed tensor-sized buffers for reuse instead of faulting fresh pages in each time.

Each check runs in a child process: the allocator settings belong to the process that sets them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc only"
)

FAULTS_OF_REUSE = """
import resource, sys
import numpy as np
{setup}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(1 << 20, dtype=np.float32)
before = faults()
for _ in range(20):  # a 4 MB activation and its 4 MB result, freed and made again
    a = np.ones(1 << 20, dtype=np.float32)
    b = a * 2.0
    del a, b
print(faults() - before)
"""
PAGES_OF_ONE_BLOCK = (4 << 20) // 4096


def page_faults(setup: str, **env: str) -> int:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    child_env.pop("FR_MALLOC", None)
    child_env.update(env)
    code = FAULTS_OF_REUSE.format(setup=setup)
    out = subprocess.run(
        [sys.executable, "-c", code], env=child_env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


FR_MAIN = "from finerewards.cli import main\ntry:\n    main(['plugins'])\nexcept SystemExit:\n    pass"


def test_the_fr_process_reuses_freed_blocks() -> None:
    # 20 rounds of two 4 MB blocks: about 20 x 2 x 1024 page faults when every block is fresh
    assert page_faults(FR_MAIN) < 2 * PAGES_OF_ONE_BLOCK


def test_tune_malloc_reports_what_it_did() -> None:
    setup = "from finerewards.allocator import tune_malloc\nassert tune_malloc()"
    assert page_faults(setup) < 2 * PAGES_OF_ONE_BLOCK


@pytest.mark.parametrize("env", [{"FR_MALLOC": "system"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}])
def test_the_users_own_malloc_settings_win(env: dict[str, str]) -> None:
    setup = "from finerewards.allocator import tune_malloc\nassert not tune_malloc()"
    page_faults(setup, **env)  # the child asserts that nothing was changed


def test_importing_the_library_changes_nothing() -> None:
    # without `fr` or tune_malloc, glibc's own behaviour: fresh pages for every block
    assert page_faults("import finerewards.cli, finerewards.scoring") > 10 * PAGES_OF_ONE_BLOCK
