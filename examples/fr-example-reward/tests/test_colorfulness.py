"""The example plugin passes the core's contract suite and measures what it claims."""

from __future__ import annotations

from PIL import Image

from finerewards.registry import get_registry
from finerewards.testing import RewardContract


class TestColorfulnessContract(RewardContract):
    reward_name = "colorfulness"
    plugin_module = "fr_example_reward.plugin"


def test_vivid_image_beats_grey_image() -> None:
    spec = get_registry().reward("colorfulness")
    reward = spec.build(spec.resolve_options("toy"))
    reward.setup("cpu", "float32")
    vivid = Image.new("RGB", (32, 32), (255, 255, 255))
    for x in range(16):
        for y in range(32):
            vivid.putpixel((x, y), (220, 40, 40))
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    vivid_score, grey_score = reward.score([vivid, grey], ["a", "a"]).scores
    assert grey_score == 0.0
    assert vivid_score > 50.0
