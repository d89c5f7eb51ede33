#!/usr/bin/env bash
# On a lent GPU machine, in one call of the `device` tool, from the repository root:
#     bash benchmarks/device/run.sh        (carry: [".whl"], made by fetch_wheels.sh; timeout_s 600)
# Installs FineRewards over the machine's own torch from the carried wheels, then measures the
# paper scale with random-weight models from the published configs: one round of `fr train
# --preset paper --reward caption --reward sam` (seconds, images/s and peak memory per phase)
# and the SAM reward's peak memory. Results, the regenerated docs/benchmarks.md and logs go to
# $OUT; copy them into the repository here.
set -euo pipefail
OUT=${OUT:-/tmp/fr_out}
SITE=/tmp/fr_site
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir \
    --target "$SITE" ./core ./plugins/fr_caption ./plugins/fr_sam ./plugins/fr_baselines
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, diffusers; print(torch.__version__, transformers.__version__, diffusers.__version__)"
status=0
timeout 330 python3 benchmarks/paper_round.py --device cuda --work /tmp/fr_paper 2>&1 | tee "$OUT/paper_round.log" || status=1
rm -rf /tmp/fr_paper
timeout 120 python3 benchmarks/bench_sam.py --paper-memory --device cuda 2>&1 | tee "$OUT/sam_memory.log" || status=1
for f in benchmarks/results/paper_round.json benchmarks/results/sam_paper_memory.json docs/benchmarks.md; do
    [ -f "$f" ] && cp "$f" "$OUT/"
done
exit $status
