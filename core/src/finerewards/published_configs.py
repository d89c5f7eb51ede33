"""Published configs of the paper's models that several packages build at their real size.

Size accounting (the meta device) and random-weight speed or memory runs need the architecture,
not the weights: these are the values of the published config.json files that set sizes, written
out once so that nothing is downloaded. Each consumer builds its own model class from them.
"""

from __future__ import annotations

from typing import Any

CLIP_VIT_L_14: dict[str, Any] = {
    "projection_dim": 768,
    "text_config": {
        "vocab_size": 49408,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
    },
    "vision_config": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 224,
        "patch_size": 14,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
    },
}
"""openai/clip-vit-large-patch14: the paper's labeller (fr-sam), the CLIP under the aesthetic
head and CLIPScore (fr-baselines), the caption similarity's text tower (fr-caption), and SD-1.5's
text encoder."""
