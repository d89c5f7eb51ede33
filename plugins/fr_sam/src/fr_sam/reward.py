"""The SAM reward: parts (segment-anything), labels (CLIP), ratings (causal LM), mean rating.

Per batch: one SAM image-encoder forward (the mask generator then runs per image), one CLIP
forward over the crops of every part of every image, one LM forward over every distinct
uncached (prompt, label) pair. Image i is only ever compared with prompt i.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from finerewards import RewardOutput, resolve_model
from fr_sam.phrases import NounPhrase, noun_phrases
from fr_sam.plugin import SamRewardOptions
from fr_sam.vocab import load_vocabulary

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

    from fr_sam.labels import Label, Labeller
    from fr_sam.parts import ImageParts, PartFinder
    from fr_sam.ratings import Rater, Rating

SURPLUS_RATING = 1.0
"""Rating of a part beyond the count its prompt phrase asks for (count_check)."""


def surplus_parts(labels: Sequence[Label], phrases: Sequence[NounPhrase]) -> set[int]:
    """Indices of parts that exceed what the prompt asks for ("two cats" and three cat parts).

    Parts are assigned, most confident label first, to the most specific matching phrase that
    still has room; a part whose label matches some phrase but finds none with room is
    surplus. Parts whose label matches no phrase are left to the language model's rating.
    """
    room = {ph.text: ph.count for ph in phrases}
    surplus: set[int] = set()
    order = sorted(range(len(labels)), key=lambda i: -labels[i].confidence)
    for i in order:
        matching = sorted(
            (ph for ph in phrases if ph.matches(labels[i].text)), key=lambda ph: -len(ph.modifiers)
        )
        if not matching:
            continue
        for ph in matching:
            left = room[ph.text]
            if left is None or left > 0:
                room[ph.text] = None if left is None else left - 1
                break
        else:
            surplus.add(i)
    return surplus


class SamReward:
    """The fr-sam reward object (see the README for options and costs)."""

    def __init__(self, options: SamRewardOptions) -> None:
        self.options = options
        self.vocabulary = load_vocabulary(options.vocabulary)
        self.finder: PartFinder | None = None
        self.labeller: Labeller | None = None
        self.rater: Rater | None = None
        self.rating_cache: dict[tuple[str, str, str], Rating] = {}
        """(prompt, label, LM model) -> rating; survives close() and re-setup."""
        self.device = "cpu"
        self.dtype: torch.dtype | None = None

    # lifecycle ------------------------------------------------------------------------------

    def setup(self, device: str, dtype: str) -> None:
        """Load SAM (weights_only), CLIP and the LM; everything in eval mode, fp32 on CPU."""
        import torch

        from fr_sam.labels import Labeller
        from fr_sam.parts import PartFinder, generator_kwargs
        from fr_sam.ratings import Rater
        from fr_sam.weights import load_sam

        opts = self.options
        self.device = device
        self.dtype = torch.float32 if device == "cpu" else getattr(torch, dtype)
        sam, recommended = load_sam(resolve_model(opts.sam_model), opts.sam_model_type)
        self.finder = PartFinder(sam, generator_kwargs(opts, recommended), opts)
        trust = opts.trust_remote_code
        self.labeller = Labeller.load(
            resolve_model(opts.clip_model), opts.label_template, opts.crop_context, trust
        )
        self.rater = Rater.load(
            resolve_model(opts.lm_model), opts.lm_model, opts.lm_prompt_format, opts.answer_prefix,
            self.dtype, trust, self.rating_cache,
        )  # fmt: skip
        home = "cpu" if opts.offload else device
        self.finder.to(device, self.dtype, home)
        self.labeller.model.to(home, self.dtype)
        self.rater.model.to(home)

    @contextmanager
    def _stage(self, module: Any) -> Iterator[None]:
        """With `offload`, a model visits the device only for its stage."""
        if not self.options.offload or self.device == "cpu":
            yield
            return
        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")

    def close(self) -> None:
        import gc

        self.finder = self.labeller = self.rater = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    # scoring --------------------------------------------------------------------------------

    def candidates(self, prompt: str) -> list[str]:
        """Labels a part of this prompt's image may get: its noun phrases, then the vocabulary
        ("object" when both are empty, so that every part still gets a name and a rating)."""
        names = list(dict.fromkeys([ph.text for ph in noun_phrases(prompt)] + list(self.vocabulary)))
        return names or ["object"]

    def score(self, images: Sequence[Image], prompts: Sequence[str]) -> RewardOutput:
        if self.finder is None or self.labeller is None or self.rater is None:
            raise RuntimeError("SamReward.score called before setup()")
        if len(images) != len(prompts):
            raise ValueError("images and prompts differ in length")
        with self._stage(self.finder.sam):
            found = self.finder.find(images)
        with self._stage(self.labeller.model):
            labels = self.labeller.label(
                images, [[p.box for p in f.parts] for f in found], [self.candidates(p) for p in prompts]
            )
        pairs = [(prompt, lab.text) for prompt, image_labels in zip(prompts, labels) for lab in image_labels]
        with self._stage(self.rater.model):
            flat = iter(self.rater.rate(pairs))
        ratings = [[next(flat) for _ in image_labels] for image_labels in labels]
        scores, details = [], []
        for prompt, parts, image_labels, image_ratings in zip(prompts, found, labels, ratings):
            score, detail = self._combine(prompt, parts, image_labels, [r.expected for r in image_ratings])
            if any(r.prompt_truncated for r in image_ratings):
                detail["prompt_truncated"] = True  # too long for the LM: rated on its first words
            scores.append(score)
            details.append(detail)
        return RewardOutput(scores, details)

    def _combine(
        self, prompt: str, found: ImageParts, labels: Sequence[Label], ratings: list[float]
    ) -> tuple[float, dict[str, Any]]:
        """One image's score and details (the score is the mean rating, or area-weighted)."""
        surplus = surplus_parts(labels, noun_phrases(prompt)) if self.options.count_check else set()
        final = [SURPLUS_RATING if i in surplus else r for i, r in enumerate(ratings)]
        parts = [
            {
                "box": list(part.box),
                "area": part.area,
                "label": lab.text,
                "label_confidence": round(lab.confidence, 6),
                "rating": round(rating, 6),
                **({"surplus": True, "lm_rating": round(ratings[i], 6)} if i in surplus else {}),
            }
            for i, (part, lab, rating) in enumerate(zip(found.parts, labels, final))
        ]
        if not final:
            score = self.options.empty_score
        elif self.options.weighting == "area":
            total = sum(p.area for p in found.parts)
            score = sum(r * p.area for r, p in zip(final, found.parts)) / total
        else:
            score = sum(final) / len(final)
        detail = {
            "parts": parts,
            "background_masks": found.background_masks,
            "small_masks": found.small_masks,
            "parts_over_limit": found.over_limit,
            "points_prompted": found.points,
        }
        return float(score), detail
