"""Telling plates from signs: read each text candidate and look at its neighbours.

The text detector finds every line of printed text: plates, but also the words of
placards, banners, shop fronts and T-shirts. A plate is one line (or two short
lines) of a few characters, letters and digits mixed, standing on its own on a
vehicle; a sign is words. So each candidate is read with the PP-OCRv6 text
recognition model shipped in the same ``rapidocr`` wheel (Apache-2.0; its character
set is stored in the ONNX file's metadata), loaded with ONNX Runtime directly.

A candidate is a plate when it reads like one (4-10 characters, at least one digit,
capitals and digits only), unless it stands among words of its own size or is a bare
number beside other text. A candidate that does not read like a plate on the first
look, has a plate's proportions and no words beside it gets a second look (the crop
contrast-normalised, and cut tighter); the first reading that looks like a plate
counts. Candidates the reader cannot read at all (nothing legible, or garbage at
very low confidence) are covered when they have a plate's proportions and stand
alone: when unsure, cover; a region of words is not unsure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redact.errors import ModelError

REC_MODEL_FILE = "PP-OCRv6_rec_small.onnx"
REC_HEIGHT = 48  # the model's input height
MAX_REC_WIDTH = 640
#: text boxes read per frame at most (candidates first, then their neighbours, by score); an
#: unread candidate is judged by shape alone
MAX_READS = 64
SEPARATORS = re.compile(r"[\s\-.·:_,'`|]")
#: a word is trusted when the recogniser's mean character confidence reaches this
WORD_CONFIDENCE = 0.6
#: a faint text box (below the detector threshold) is a plate only when read this confidently
FAINT_CONFIDENCE = 0.8
#: below this mean confidence (or nothing read) a reading says nothing: judge by shape
ILLEGIBLE_CONFIDENCE = 0.3
PLATE_ASPECT = (1.5, 8.0)  # width / height of a plate's text box (one or two lines)
ALONE_ASPECT = (2.0, 6.0)  # an illegible candidate is covered only with a one-line plate's shape
NEIGHBOUR_GAP = 1.0  # in text heights: boxes closer than this belong to the same sign
NEIGHBOUR_HEIGHTS = (0.5, 2.0)  # a neighbour's text height relative to the candidate's
SAME_SIZE = (0.67, 1.5)  # words of a sign are the candidate's size; a dealer frame's are smaller


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # mean over the characters read; 0 when nothing was read

    @property
    def compact(self) -> str:
        return SEPARATORS.sub("", self.text)


def find_rec_model(det_model: Path) -> Path:
    """The recognition model sits beside the detection model in the ``rapidocr`` wheel."""
    path = det_model.with_name(REC_MODEL_FILE)
    if not path.is_file() or path.stat().st_size < 1_000_000:
        raise ModelError(f"text recognition model {REC_MODEL_FILE} not found next to {det_model}")
    return path


class TextReader:
    """PP-OCR CTC recogniser: a BGR crop of one text line in, its characters out."""

    def __init__(self, session: Any) -> None:
        self.session = session
        meta = session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelError(f"{REC_MODEL_FILE} carries no character set in its metadata")
        self.charset = [""] + meta["character"].splitlines() + [" "]  # CTC blank first, space last
        self.input_name = session.get_inputs()[0].name

    def read(self, crop: np.ndarray) -> Reading:
        import cv2

        h, w = crop.shape[:2]
        if h < 2 or w < 2:
            return Reading("", 0.0)
        width = int(min(MAX_REC_WIDTH, max(16, np.ceil(REC_HEIGHT * w / h))))
        x = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = x / 127.5 - 1.0  # (x / 255 - 0.5) / 0.5, as PP-OCR's rec preprocessing
        probs = self.session.run(None, {self.input_name: x.transpose(2, 0, 1)[None]})[0][0]
        best, conf = probs.argmax(1), probs.max(1)
        keep = (best != 0) & np.r_[True, best[1:] != best[:-1]]  # CTC: drop blanks and repeats
        chars = [self.charset[i] if i < len(self.charset) else "" for i in best[keep]]
        return Reading("".join(chars), float(conf[keep].mean()) if keep.any() else 0.0)


def reads_as_plate(r: Reading) -> bool:
    """4-10 letters and digits, at least one digit, capitals (one lower-case letter and one
    non-Latin letter allowed: a misread, or a Chinese plate's province sign), no other sign."""
    s = r.compact
    if not 4 <= len(s) <= 10 or not any(c.isdigit() for c in s) or not all(c.isalnum() for c in s):
        return False
    return sum(not c.isascii() for c in s) <= 1 and sum(c.islower() for c in s) <= 1


def reads_as_words(r: Reading) -> bool:
    """Long text, lower-case words, or a confident run of letters with no digit."""
    s = r.compact
    if len(s) > 10:
        return True
    if r.confidence < WORD_CONFIDENCE:
        return False
    letters = sum(c.isalpha() for c in s)
    return (letters >= 3 and not any(c.isdigit() for c in s)) or sum(c.islower() for c in s) >= 2


def illegible(r: Reading) -> bool:
    return not r.compact or r.confidence < ILLEGIBLE_CONFIDENCE


def neighbours(boxes: np.ndarray, i: int) -> list[int]:
    """Text boxes of a similar height beside, above or below box ``i``, within a text height."""
    x1, y1, x2, y2 = boxes[i]
    h, w = y2 - y1, x2 - x1
    found = []
    for j, (a1, b1, a2, b2) in enumerate(boxes):
        oh, ow = b2 - b1, a2 - a1
        if j == i or not NEIGHBOUR_HEIGHTS[0] <= oh / h <= NEIGHBOUR_HEIGHTS[1]:
            continue
        reach = NEIGHBOUR_GAP * max(h, oh)
        beside = min(y2, b2) - max(y1, b1) >= 0.5 * min(h, oh) and max(a1 - x2, x1 - a2) <= reach
        stacked = min(x2, a2) - max(x1, a1) >= 0.3 * min(w, ow) and max(b1 - y2, y1 - b2) <= reach
        if beside or stacked:
            found.append(j)
    return found


def aspect_in(box: np.ndarray, bounds: tuple[float, float]) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return h > 0 and bounds[0] <= w / h <= bounds[1]


def second_looks(image: np.ndarray, box: np.ndarray) -> list[np.ndarray]:
    """The crop contrast-normalised (glare, night) and cut tighter (a rim read as characters)."""
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    crop = image[y1:y2, x1:x2]
    if min(crop.shape[:2]) < 2:
        return []
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(2, 4)).apply(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
    m = (y2 - y1) // 8
    return [cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), image[y1 + m : y2 - m, x1 + m : x2 - m]]


class PlateJudge:
    """Decides which text candidates of one frame are plates (see the module's docstring)."""

    def __init__(self, reader: TextReader) -> None:
        self.reader = reader

    def keep(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        candidates: np.ndarray,
        faint: np.ndarray | None = None,
    ) -> np.ndarray:
        """``boxes``: every text box of the frame (context); ``candidates``: which may be plates;
        ``faint``: weaker boxes that are plates only if they read as one."""
        faint = np.zeros(len(boxes), bool) if faint is None else faint & ~candidates
        near = {int(i): neighbours(boxes, int(i)) for i in np.flatnonzero(candidates | faint)}
        context = {j for nb in near.values() for j in nb} - set(near)
        by_score = [int(i) for i in np.argsort(-scores, kind="stable")]
        order = [i for i in by_score if candidates[i]] + [i for i in by_score if faint[i]]
        order = (order + [i for i in by_score if i in context])[:MAX_READS]
        readings = {int(i): self.reader.read(self._crop(image, boxes[i])) for i in order}
        keep = np.zeros(len(boxes), bool)
        for i, nb in near.items():
            if faint[i]:  # a weak detection needs a confident reading
                keep[i] = (
                    i in readings
                    and readings[i].confidence >= FAINT_CONFIDENCE
                    and self._reads_as_lone_plate(boxes, i, nb, readings)
                )
            else:
                keep[i] = self._is_plate(image, boxes, i, nb, readings)
        return keep

    @staticmethod
    def _reads_as_lone_plate(boxes: np.ndarray, i: int, nb: list[int], readings: dict) -> bool:
        """Reads as a plate, is not a bare number beside other text, and has no words of its size beside it."""
        reading = readings[i]
        if not reads_as_plate(reading) or (reading.compact.isdigit() and nb):
            return False  # a bare number beside other text: a price, a phone or house number
        return not PlateJudge._words_beside(boxes, i, nb, readings)

    @staticmethod
    def _words_beside(boxes: np.ndarray, i: int, nb: list[int], readings: dict) -> bool:
        """A region of words: a neighbour of the candidate's own text size reads as words."""
        height = boxes[i][3] - boxes[i][1]
        return any(
            j in readings
            and reads_as_words(readings[j])
            and SAME_SIZE[0] <= (boxes[j][3] - boxes[j][1]) / height <= SAME_SIZE[1]
            for j in nb
        )

    @staticmethod
    def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (int(v) for v in box)
        return image[y1:y2, x1:x2]

    def _is_plate(self, image: np.ndarray, boxes: np.ndarray, i: int, nb: list[int], readings: dict) -> bool:
        box, reading = boxes[i], readings.get(i)
        if reading is None:  # over the read budget: judged by shape alone, on the covering side
            return aspect_in(box, PLATE_ASPECT) and not nb
        if reads_as_plate(reading):
            return self._reads_as_lone_plate(boxes, i, nb, readings)
        if self._words_beside(boxes, i, nb, readings) or not aspect_in(box, PLATE_ASPECT):
            return False
        second = [self.reader.read(crop) for crop in second_looks(image, box)]
        if any(reads_as_plate(r) for r in second):
            return True
        if reads_as_words(reading):
            return False
        return all(illegible(r) for r in [reading, *second]) and aspect_in(box, ALONE_ASPECT) and not nb
