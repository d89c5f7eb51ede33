"""benchmarks/mdsections.py names the machine precisely enough to tell two of one kind apart:
the same code gave different figures on two x86_64 machines with 2 cores."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import mdsections

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16

processor\t: 1
cpu family\t: 99
model name\t: not the first processor
"""

XEON = """processor\t: 0
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R)   Platinum 8581C CPU @ 2.10GHz
flags\t\t: avx2 avx512f amx_tile
"""


def test_cpu_name_reads_the_first_processor(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(AMD)
    assert mdsections.cpu_name(info) == "AMD EPYC (family 26, model 2; AVX-512)"
    info.write_text(XEON)
    assert mdsections.cpu_name(info) == (
        "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz (family 6, model 207; AVX-512, AMX)"
    )
    info.write_text("model name\t: Old CPU\nflags\t: sse2 avx2\n")
    assert mdsections.cpu_name(info) == "Old CPU (AVX2)"


def test_cpu_name_without_cpuinfo_falls_back(tmp_path: Path) -> None:
    assert mdsections.cpu_name(tmp_path / "missing")  # platform's answer, never an error


def test_machine_line_names_cpu_and_cores() -> None:
    line = mdsections.machine()
    assert mdsections.cpu_name() in line and "CPU cores" in line and "Python" in line
