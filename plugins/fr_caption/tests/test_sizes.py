"""The README's paper-scale memory table is what the published configs give (meta device)."""

from __future__ import annotations

from pathlib import Path

from fr_caption.sizes import paper_parameter_counts, table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_paper_parameter_counts_match_published_sizes_and_readme() -> None:
    counts = paper_parameter_counts()
    assert 3.70e9 < counts["blip2"] < 3.80e9, "BLIP-2 OPT-2.7B has about 3.74B parameters"
    assert 4.25e8 < counts["clip"] < 4.30e8, "CLIP ViT-L/14 has about 428M parameters"
    assert (
        counts["blip2"] == counts["blip2.vision"] + counts["blip2.qformer"] + counts["blip2.language_model"]
    )
    readme = README.read_text()
    for name in ("blip2", "clip", "clip.text_tower"):
        assert f"{counts[name] / 1e6:,.1f} M" in readme, f"README's {name} count is stale"
    assert "6.98 GiB" in table() and "6.98 GiB" in readme
