"""How a region is covered, so that what is left cannot identify anyone.

Every style computes a region's new pixels from at most a handful of colour
samples taken at fixed points of the region (never from all its pixels), so no
detail of a face survives, whatever the face's size:

- ``blur``: a smooth blend of 3 x 3 colour samples (9 samples); where neighbours'
  regions overlap, the blends run into each other (made of both regions' samples);
- ``pixelate``: a mosaic of 5 x 5 cells, each one sampled colour (25 samples);
- ``fill``: solid black (no samples).

Blurring or mosaicking with many cells keeps enough for face recognition to
match (McPherson et al. 2016); these keep only a few colours.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from redact.boxes import clip_spans
from redact.cover.regions import boxed, grow, label_map, margins
from redact.detections import Detections
from redact.settings import Settings

BLUR_GRID = 3
PIXELATE_GRID = 5
FILL_COLOUR = (0, 0, 0)
SAMPLES = {"blur": BLUR_GRID * BLUR_GRID, "pixelate": PIXELATE_GRID * PIXELATE_GRID, "fill": 0}


def grid_points(spans: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N x grid each) of every span's sample points: the centres of equal cells."""
    cells = (np.arange(grid) + 0.5) / grid
    xs = spans[:, :1] + (cells[None, :] * (spans[:, 2:3] - spans[:, :1])).astype(np.int64)
    ys = spans[:, 1:2] + (cells[None, :] * (spans[:, 3:4] - spans[:, 1:2])).astype(np.int64)
    return np.minimum(xs, spans[:, 2:3] - 1), np.minimum(ys, spans[:, 3:4] - 1)


def sample_points(span: tuple[int, int, int, int], grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of one span's grid x grid sample points."""
    xs, ys = grid_points(np.asarray([span], dtype=np.int64), grid)
    return xs[0], ys[0]


def _cell_position(pos: np.ndarray, start: np.ndarray, length: np.ndarray, grid: int) -> np.ndarray:
    """Where pixel centres fall on the sample grid: 0 at the first sample, grid - 1 at the last."""
    return np.clip((pos + 0.5 - start) / length * grid - 0.5, 0, grid - 1).astype(np.float32)


#: spread of each sample's influence, in sample spacings: wide enough that no sample shows as a
#: spot of its own (a face's dark eye or mouth sample must not come back as a dark blob)
BLUR_SPREAD = 0.9


#: sample-grid positions are rounded to this fraction of a cell when weighted: a few pixels in a
#: large region, below one grey level of difference, and the weights become a table lookup
WEIGHT_STEPS = 32


@functools.cache
def _weight_table(grid: int) -> np.ndarray:
    """Gaussian weights of the ``grid`` samples along one axis, normalised, for every position from
    0 to grid - 1 in steps of 1 / WEIGHT_STEPS: ((grid - 1) * WEIGHT_STEPS + 1) x grid."""
    pos = np.arange((grid - 1) * WEIGHT_STEPS + 1, dtype=np.float64) / WEIGHT_STEPS
    weights = np.exp(-((pos[:, None] - np.arange(grid)[None, :]) ** 2) / (2 * BLUR_SPREAD**2))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _smooth_blend(samples: np.ndarray, k: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each pixel a Gaussian-weighted mean of its region's samples: a soft surface with no cell
    edges and no spots, made of the samples alone. Each region's rows of samples are blended once
    for every table position along x; each pixel then mixes its grid rows along y."""
    grid = samples.shape[1]
    table = _weight_table(grid)
    steps = len(table)
    rows = np.matmul(table, samples)  # N x grid (rows) x steps x 3: every row blended at every x position
    rows = rows.transpose(0, 2, 1, 3).reshape(-1, grid * 3)  # (N * steps) x (grid rows * 3)
    picked = rows[k * steps + np.rint(u * WEIGHT_STEPS).astype(np.intp)]  # P x (grid * 3)
    wv = table[np.rint(v * WEIGHT_STEPS).astype(np.intp)]
    out = wv[:, :1] * picked[:, :3]
    for i in range(1, grid):
        out += wv[:, i : i + 1] * picked[:, 3 * i : 3 * i + 3]
    return out


def region_pixels(
    image: np.ndarray, spans: np.ndarray, k: np.ndarray, xs: np.ndarray, ys: np.ndarray, style: str
) -> np.ndarray:
    """New values (P x 3 uint8) for the pixels (xs, ys), each in region ``k`` of ``spans``: a
    function only of each region's grid of samples, whatever its size."""
    if style == "fill":
        return np.broadcast_to(np.asarray(FILL_COLOUR, dtype=np.uint8), (len(xs), 3))
    grid = BLUR_GRID if style == "blur" else PIXELATE_GRID
    gx, gy = grid_points(spans, grid)
    samples = image[gy[:, :, None], gx[:, None, :]].astype(np.float32)  # N x grid x grid x 3
    s = spans[k]
    u = _cell_position(xs, s[:, 0], s[:, 2] - s[:, 0], grid)
    v = _cell_position(ys, s[:, 1], s[:, 3] - s[:, 1], grid)
    if style == "pixelate":  # each cell one sample, as a nearest-neighbour enlargement
        cu = np.minimum(((xs - s[:, 0]) * grid) // (s[:, 2] - s[:, 0]), grid - 1)
        cv = np.minimum(((ys - s[:, 1]) * grid) // (s[:, 3] - s[:, 1]), grid - 1)
        return samples[k, cv, cu].astype(np.uint8)
    return np.clip(_smooth_blend(samples, k, u, v) + 0.5, 0, 255).astype(np.uint8)


def covered_patch(image: np.ndarray, span: tuple[int, int, int, int], style: str) -> np.ndarray:
    """The new pixels of one whole span (as :func:`apply` paints them inside its region)."""
    x1, y1, x2, y2 = span
    ys, xs = np.mgrid[y1:y2, x1:x2]
    spans = np.asarray([span], dtype=np.int64)
    values = region_pixels(image, spans, np.zeros(xs.size, np.int64), xs.ravel(), ys.ravel(), style)
    return values.reshape(y2 - y1, x2 - x1, 3)


#: the blur surface is computed on a grid of this many rows across the frame's short side
BLUR_GRID_ROWS = 180


#: ... and at least this many grid cells across the smallest region, so that each region has its
#: own cells to be scaled up from
BLUR_CELLS_PER_REGION = 3


def blur_step(height: int, width: int, boxes: np.ndarray) -> int:
    """Blur is a smooth surface, so it is computed on every ``step``-th pixel and scaled up, on a
    grid of one size relative to the frame (720p: every 4th pixel, 1080p: 6th, 4K: 12th), finer
    where a region is small: a crowd frame costs a fraction as much, with nothing visible lost
    (1080p at 6 against 4: a 1,600-region crowd frame 31 against 46 ms)."""
    step = min(height, width) // BLUR_GRID_ROWS
    if len(boxes):
        smallest = float(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).min())
        step = min(step, int(smallest // BLUR_CELLS_PER_REGION))
    return max(1, step)


#: where neighbours' regions overlap, each pixel shows one region's blend and the two meet in a
#: seam; a Gaussian of this many grid cells, over covered cells only, turns seams into gradients
#: (still made of the regions' samples alone, and no uncovered pixel comes in)
SEAM_SOFTEN = 1.5


def _soften_seams(layer: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The layer smoothed across region boundaries, as a normalised convolution over ``covered`` cells."""
    weight = covered.astype(np.float32)
    total = cv2.GaussianBlur(layer.astype(np.float32) * weight[:, :, None], (0, 0), SEAM_SOFTEN)
    norm = cv2.GaussianBlur(weight, (0, 0), SEAM_SOFTEN)
    soft = total / np.maximum(norm, 1e-6)[:, :, None]
    return np.where(covered[:, :, None], np.clip(soft + 0.5, 0, 255), 0).astype(np.uint8)


def _blur_layer(image: np.ndarray, labels: np.ndarray, spans: np.ndarray, step: int) -> np.ndarray:
    """The blur of every region on a grid of every ``step``-th pixel, scaled up to the frame. The
    grid's labels are the frame's, spread by one grid cell so every covered pixel has covered
    neighbours to scale up from; every value is still a blend of one region's samples."""
    height, width = image.shape[:2]
    grid = np.ascontiguousarray(labels[step // 2 :: step, step // 2 :: step]).astype(np.float32)
    small = cv2.dilate(grid, np.ones((3, 3), np.uint8))  # -1 (none) loses to any region's index
    ys, xs = np.nonzero(small >= 0)
    layer = np.zeros((*small.shape, 3), dtype=np.uint8)
    centres_x, centres_y = xs * step + step // 2, ys * step + step // 2  # in frame pixels
    layer[ys, xs] = region_pixels(image, spans, small[ys, xs].astype(np.int64), centres_x, centres_y, "blur")
    layer = _soften_seams(layer, small >= 0)
    # grid cell i's centre lands on frame pixel (i + 0.5) * step - 0.5: within half a pixel of its sample
    big = cv2.resize(layer, (small.shape[1] * step, small.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    return (
        big[:height, :width] if big.shape[0] >= height and big.shape[1] >= width else cv2.resize(layer, (width, height))
    )


def apply(image: np.ndarray, boxes: np.ndarray, style: str, shape: str, rect: np.ndarray | None = None) -> np.ndarray:
    """Cover every box (float x1 y1 x2 y2, already grown) in place, in one pass over one label map
    of the frame, whatever the number of regions; ``rect`` marks boxes covered whole whatever the
    shape. Returns the image."""
    height, width = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    rect = np.zeros(len(boxes), bool) if rect is None else np.asarray(rect, bool)
    spans, inside = clip_spans(boxes, width, height)
    boxes, spans, rect = boxes[inside], spans[inside], rect[inside]  # regions wholly outside the frame cover nothing
    if not len(boxes):
        return image
    labels = label_map(boxes, shape, height, width, rect)
    covered = labels >= 0
    # every value is computed before any pixel is painted, so regions never sample each other's cover
    step = blur_step(height, width, boxes) if style == "blur" else 1
    if style == "fill":
        image[covered] = FILL_COLOUR
    elif step > 1:
        layer = _blur_layer(image, labels, spans, step)
        if image.strides[1:] == (3, 1) and image.strides[0] > 0:
            cv2.copyTo(layer, covered.view(np.uint8), image)  # writes through the view, far faster than numpy
        else:
            np.copyto(image, layer, where=covered[:, :, None])
    else:
        ys, xs = np.nonzero(covered)
        image[ys, xs] = region_pixels(image, spans, labels[ys, xs], xs, ys, style)
    return image


def cover(image: np.ndarray, detections: Detections, settings: Settings) -> np.ndarray:
    """Grow each box by its kind's margin and cover it in the settings' style and shape, in place."""
    if len(detections):
        apply(image, grow(detections, margins(settings)), settings.style, settings.shape, boxed(detections))
    return image
