"""Tests never download: every model is a tiny random one written to a temporary folder.

One intra-op thread: on the shared 2-core machine, thread hand-offs cost tiny models up to 50x
(1 s instead of 20 ms a forward pass under load).
"""

from __future__ import annotations

import os

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(1)
