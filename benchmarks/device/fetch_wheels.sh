#!/usr/bin/env bash
# Here (no GPU needed): download the wheels a lent GPU machine lacks into .whl/, about 24 MB,
# which the device call carries (`carry: [".whl"]`). Then on the machine: benchmarks/device/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .whl
grep -v '^#' benchmarks/device/wheels.txt | xargs python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl
du -sh .whl
