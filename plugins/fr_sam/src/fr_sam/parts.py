"""Parts: segment-anything's `SamAutomaticMaskGenerator` on each image, image encoder batched.

The generator works image by image (a point grid, the mask decoder, quality filters, NMS). Its
expensive first step, the ViT image encoder, is run here ONCE for the whole batch; the generator
then receives each image's precomputed embedding through a predictor that skips re-encoding
(`_PrecomputedPredictor`). The mask decoder and the filters stay per image, as in the library.
Masks are then filtered: too small (specks) or background-sized (see `split_background`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image
    from segment_anything.modeling import Sam

    from fr_sam.plugin import SamRewardOptions

LIBRARY_DEFAULTS = {
    "points_per_side": 32,
    "points_per_batch": 64,
    "pred_iou_thresh": 0.88,
    "stability_score_thresh": 0.95,
}


@dataclass
class Part:
    """One image part: its mask, box (x0, y0, x1, y1, exclusive ends) and SAM's quality scores."""

    mask: np.ndarray
    box: tuple[int, int, int, int]
    area: int
    predicted_iou: float
    stability: float


@dataclass
class ImageParts:
    """The parts of one image, plus what was left out and why."""

    parts: list[Part]
    background_masks: int = 0
    small_masks: int = 0
    over_limit: int = 0
    points: int = 0
    """Grid points prompted (fewer than the grid when background points are skipped)."""


def generator_kwargs(options: SamRewardOptions, recommended: dict[str, Any]) -> dict[str, Any]:
    """SamAutomaticMaskGenerator arguments: explicit options, else the model folder's
    recommendation, else the library's defaults. One crop layer (the whole image), so that the
    batched embeddings are the ones the generator needs; no OpenCV post-processing."""
    kwargs: dict[str, Any] = {**LIBRARY_DEFAULTS, **recommended}
    for key in (
        "points_per_side",
        "points_per_batch",
        "pred_iou_thresh",
        "stability_score_thresh",
        "box_nms_thresh",
    ):
        value = getattr(options, key)
        if value is not None:
            kwargs[key] = value
    kwargs.update(crop_n_layers=0, min_mask_region_area=0, output_mode="binary_mask", point_grids=None)
    return kwargs


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a mask's pixels, exclusive ends; (0, 0, 0, 0) when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def remove_small_regions(mask: np.ndarray, area: int, mode: str) -> tuple[np.ndarray, bool]:
    """segment-anything's `remove_small_regions` (holes or islands under `area` pixels,
    8-connectivity; when every island is small the largest stays) with scipy instead of OpenCV."""
    from scipy import ndimage

    holes = mode == "holes"
    working = holes ^ mask
    labels, n = ndimage.label(working, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    small = [i + 1 for i, size in enumerate(sizes) if size < area]
    if not small:
        return mask, False
    if holes:
        return np.isin(labels, [0, *small]), True  # label 0: the mask itself; plus its small holes
    keep = [i for i in range(1, n + 1) if i not in small] or [int(np.argmax(sizes)) + 1]
    return np.isin(labels, keep), True


def largest_component(mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """The mask's largest 8-connected component (and whether anything was removed)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return mask, False
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels == int(np.argmax(sizes)) + 1, True


def background_colour(array: np.ndarray) -> np.ndarray:
    """The image's background colour: the per-channel median of its border pixels."""
    border = np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])
    return np.median(border.astype(np.int16), axis=0)


def foreground_points(grid: np.ndarray, array: np.ndarray, tolerance: int) -> np.ndarray:
    """The points of a normalised (x, y) grid whose pixel differs from the background colour by
    more than `tolerance` in some channel."""
    height, width = array.shape[:2]
    xs = np.clip((grid[:, 0] * width).astype(int), 0, width - 1)
    ys = np.clip((grid[:, 1] * height).astype(int), 0, height - 1)
    pixels = array[ys, xs].astype(np.int16)
    far = np.abs(pixels - background_colour(array)).max(axis=1) > tolerance
    return grid[far]


def clean_parts(parts: list[Part], options: SamRewardOptions, nms_thresh: float) -> list[Part]:
    """The generator's `min_mask_region_area` post-processing without OpenCV: small holes filled
    and small islands removed (`min_region_area`), optionally only the largest component kept
    (`single_component`), boxes recomputed, then box NMS again preferring unchanged masks (as
    the library does). A mask whose stray fragments widened its box escapes the generator's own
    box NMS; once cleaned, it is recognised as the duplicate it is."""
    import torch
    from torchvision.ops import nms

    area = options.min_area if options.min_region_area is None else options.min_region_area
    if area <= 0 and not options.single_component:
        return parts
    cleaned, scores = [], []
    for part in parts:
        mask, changed = part.mask, False
        if area > 0:
            mask, holes = remove_small_regions(mask, area, "holes")
            mask, islands = remove_small_regions(mask, area, "islands")
            changed = holes or islands
        if options.single_component:
            mask, cut = largest_component(mask)
            changed = changed or cut
        cleaned.append(Part(mask, mask_box(mask), int(mask.sum()), part.predicted_iou, part.stability))
        scores.append(2.0 * (not changed) + part.predicted_iou)
    if not cleaned:
        return cleaned
    boxes = torch.tensor([p.box for p in cleaned], dtype=torch.float32)
    keep = nms(boxes, torch.tensor(scores, dtype=torch.float32), nms_thresh)
    return [cleaned[int(i)] for i in keep]


def select_parts(
    records: list[dict[str, Any]], options: SamRewardOptions, pixels: int, nms_thresh: float
) -> ImageParts:
    """Generator records -> parts. A mask covering >= `max_area_fraction` of the image is the
    background region (SAM answers a point on the background with the whole background): it is
    dropped, not rated as an object. The rest are cleaned (`clean_parts`); masks under
    `min_area` pixels are dropped. The largest `max_parts` remain, largest first."""
    parts: list[Part] = []
    background = small = 0
    for rec in records:
        if int(rec["area"]) >= options.max_area_fraction * pixels:
            background += 1
            continue
        mask = np.asarray(rec["segmentation"], dtype=bool)
        parts.append(
            Part(
                mask,
                mask_box(mask),
                int(mask.sum()),
                float(rec["predicted_iou"]),
                float(rec["stability_score"]),
            )
        )
    kept = []
    for part in clean_parts(parts, options, nms_thresh):
        if part.area < max(options.min_area, 1):
            small += 1
        else:
            kept.append(part)
    kept.sort(key=lambda p: (-p.area, -p.predicted_iou, p.box))
    over = max(0, len(kept) - options.max_parts)
    return ImageParts(kept[: options.max_parts], background, small, over)


class PartFinder:
    """SAM + the automatic mask generator, with the image encoder batched over images."""

    def __init__(self, sam: Sam, kwargs: dict[str, Any], options: SamRewardOptions) -> None:
        from segment_anything import SamAutomaticMaskGenerator

        self.sam = sam
        self.options = options
        self.generator = SamAutomaticMaskGenerator(sam, **kwargs)
        self.nms_thresh = float(kwargs.get("box_nms_thresh", 0.7))
        self.generator.predictor = _make_predictor(sam)
        self.grid: np.ndarray = self.generator.point_grids[0]
        self.autocast_dtype: torch.dtype | None = None

    def to(self, device: str, dtype: torch.dtype | None, home: str | None = None) -> None:
        """Prepare SAM to run on `device` and park it on `home` (default: `device`). On CUDA with
        half precision the weights are cast and the stage runs under autocast (segment-anything
        feeds float32 point coordinates, which half weights alone would reject); else float32."""
        import torch

        if device.startswith("cuda") and dtype in (torch.float16, torch.bfloat16):
            self.sam.to(dtype=dtype)
            self.autocast_dtype = dtype
        else:
            self.sam.to(dtype=torch.float32)
            self.autocast_dtype = None
        self.sam.to(home or device)

    def _autocast(self) -> Any:
        import torch

        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.autocast_dtype)

    def find(self, images: Sequence[Image]) -> list[ImageParts]:
        import torch

        arrays = [np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8)) for image in images]
        with torch.inference_mode(), self._autocast():
            features, input_sizes = self.encode(arrays)
            found = []
            for i, array in enumerate(arrays):
                points = self.grid
                if self.options.background_points == "skip":
                    points = foreground_points(self.grid, array, self.options.background_tolerance)
                records = self.generate(array, points, (features[i : i + 1], array.shape[:2], input_sizes[i]))
                parts = select_parts(records, self.options, array.shape[0] * array.shape[1], self.nms_thresh)
                parts.points = len(points)
                found.append(parts)
        return found

    def generate(self, array: np.ndarray, points: np.ndarray, pending: Any) -> list[dict[str, Any]]:
        """The library's generator on one image, prompted at `points` (normalised x, y), with
        the image's batched embedding; no points, no masks."""
        if len(points) == 0:
            return []
        predictor = self.generator.predictor
        predictor.pending = pending
        self.generator.point_grids = [points]
        try:
            return self.generator.generate(array)
        finally:
            predictor.pending = None
            self.generator.point_grids = [self.grid]

    def encode(self, arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """One image-encoder forward for the batch, preprocessed exactly as SamPredictor does
        (ResizeLongestSide, normalise, pad to the encoder's square input)."""
        import torch

        transform = self.generator.predictor.transform
        device = self.sam.device
        batch, sizes = [], []
        for array in arrays:
            resized = torch.as_tensor(transform.apply_image(array), device=device)
            resized = resized.permute(2, 0, 1).contiguous()[None]
            sizes.append((int(resized.shape[-2]), int(resized.shape[-1])))
            batch.append(self.sam.preprocess(resized))
        pixels = torch.cat(batch).to(next(self.sam.image_encoder.parameters()).dtype)
        step = self.options.encoder_batch or len(arrays)
        chunks = [self.sam.image_encoder(pixels[i : i + step]) for i in range(0, len(arrays), step)]
        return torch.cat(chunks), sizes


def _make_predictor(sam: Sam) -> Any:
    from segment_anything import SamPredictor

    class _PrecomputedPredictor(SamPredictor):
        """A SamPredictor whose `set_image` takes the embedding computed for the whole batch."""

        pending: tuple[torch.Tensor, tuple[int, int], tuple[int, int]] | None = None

        def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
            if self.pending is None:
                super().set_image(image, image_format)
                return
            features, original_size, input_size = self.pending
            if tuple(image.shape[:2]) != tuple(original_size):
                raise RuntimeError("precomputed SAM embedding does not belong to this image")
            self.reset_image()
            self.features = features
            self.original_size = original_size
            self.input_size = input_size
            self.is_image_set = True

    return _PrecomputedPredictor(sam)
