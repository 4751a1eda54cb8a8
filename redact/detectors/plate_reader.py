"""Telling plates from signs: read each text candidate and look at its neighbours.

The text detector finds every line of printed text: plates, but also the words of
placards, banners, shop fronts and T-shirts. Each candidate is read with the PP-OCRv6
text recognition model shipped in the same ``rapidocr`` wheel (Apache-2.0; its character
set is stored in the ONNX file's metadata), loaded with ONNX Runtime directly.

The rule errs on the side of covering: **plate-shaped text is a plate unless the reading
is confidently the words of a sign.** Evidence of a sign is long text, lower-case words,
or words of the candidate's own size beside it (a line) or around it (a block). Text of
another size near a plate (a state name, a dealer frame, a maker's badge, a sticker) is
what a car carries and uncovers nothing; a plate's characters may be letters only (vanity
plates) and may be split by any separator glyph. A lone word of capitals is the one case a
reading cannot settle (``GLENIE`` on a car, ``VOTE`` on a card); it is covered when it
stands on a panel of its own (the colour changes just above or below it, as at a plate's
rim) and left when the surface around it goes on (a placard, a banner, a wall). A
candidate that reads as nothing sure gets a second look (contrast-normalised, cut tighter),
and is covered when it has a plate's shape and no words of its size around it.
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
#: glyphs between a plate's groups of characters (the reader renders a plate's dash, dot or
#: gap in many ways: ``DG3-C8P``, ``YG8=E4F``, ``JHG·9092``; a plus is a sign's: ``2010+2015``)
SEPARATORS = re.compile(r"[\s\-=.·•:_,;'`|~^*°]")
#: a separator glyph other than a space inside a run of capitals marks a plate (``BLK-MJK``)
INNER_SEPARATOR = re.compile(r"[\-=·•]")
#: marks of a sign, never on a plate (prices, dates, web and mail addresses, slogans)
SIGN_MARKS = set('!?@%$€£/\\()[]{}"#<>')
#: a reading is evidence of a sign only when the recogniser's mean character confidence reaches this
WORD_CONFIDENCE = 0.6
#: a faint text box (below the detector threshold) is a plate only when read this confidently
#: (letters only), or this confidently as a code with digits
FAINT_CONFIDENCE = 0.8
FAINT_CODE_CONFIDENCE = 0.65
#: below this mean confidence (or nothing read) a reading says nothing: judge by shape
ILLEGIBLE_CONFIDENCE = 0.3
PLATE_ASPECT = (1.2, 8.0)  # width / height of a plate's text box (one or two lines, tilted)
ALONE_ASPECT = (1.5, 6.0)  # an illegible candidate is covered only with a one-line plate's shape
NEIGHBOUR_GAP = 1.0  # in text heights: boxes closer than this belong to the same sign
NEIGHBOUR_HEIGHTS = (0.5, 2.0)  # a neighbour's text height relative to the candidate's
#: words of a sign are the candidate's size; a state name, dealer frame or badge is another size
SAME_SIZE = (0.75, 1.33)
LONG_TEXT = 10  # more characters (separators left out) than any plate
#: a lone word stands on a panel when the colour (CIELAB distance) just above and below it
#: differs this much from its own background: a plate's rim; a placard's surface goes on
PANEL_CONTRAST = 25.0


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


def plate_code(r: Reading) -> bool:
    """Characters a plate could carry: 3-10 letters and digits once separators are left out
    (4 or more when there is a digit: ``X11`` or ``626`` is a sign's), capitals (one lower-case
    letter and one non-Latin letter allowed: a misread, or a Chinese plate's province sign), no
    mark of a sign. Vanity plates have no digit."""
    s = r.compact
    if not 3 <= len(s) <= LONG_TEXT or not all(c.isalnum() for c in s) or SIGN_MARKS & set(r.text):
        return False
    if len(s) < 4 and any(c.isdigit() for c in s):
        return False
    return sum(not c.isascii() for c in s) <= 1 and sum(c.islower() for c in s) <= 1


def lone_word(r: Reading) -> bool:
    """Capitals only, no digit, no separator glyph inside (``BLK-MJK``, ``YG=EAF`` are plates):
    a vanity plate or a word of a sign; the reading cannot tell."""
    s = r.compact
    inside = r.text.strip(" -=+.·•:_,;'`|~^*°")
    return plate_code(r) and not any(c.isdigit() for c in s) and not INNER_SEPARATOR.search(inside)


def reads_as_words(r: Reading) -> bool:
    """Confidently words: long text, or lower-case words (at least 3 lower-case letters, most of
    the letters), or any confident run of 2+ letters (as the neighbour of a candidate)."""
    if r.confidence < WORD_CONFIDENCE:
        return False
    s = r.compact
    letters = sum(c.isalpha() for c in s)
    return len(s) > LONG_TEXT or letters >= 2


def sign_text(r: Reading) -> bool:
    """The reading alone says sign: long text or lower-case words, read confidently."""
    if r.confidence < WORD_CONFIDENCE:
        return False
    s = r.compact
    lower = sum(c.islower() for c in s)
    return len(s) > LONG_TEXT or (lower >= 3 and 2 * lower >= sum(c.isalpha() for c in s))


def illegible(r: Reading) -> bool:
    return not r.compact or r.confidence < ILLEGIBLE_CONFIDENCE


def neighbours(boxes: np.ndarray, i: int) -> list[int]:
    """Text boxes of a similar height beside, above or below box ``i``, within a text height."""
    return [j for j, _ in _near(boxes, i)]


def _near(boxes: np.ndarray, i: int) -> list[tuple[int, bool]]:
    """(index, beside) of the text boxes near box ``i``; ``beside``: on the same line."""
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
            found.append((j, bool(beside)))
    return found


def aspect_in(box: np.ndarray, bounds: tuple[float, float]) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return h > 0 and bounds[0] <= w / h <= bounds[1]


def on_panel(image: np.ndarray, box: np.ndarray) -> bool:
    """Whether the text stands on a panel of its own: above and below it, the median colour of a
    strip just inside the box differs by ``PANEL_CONTRAST`` (CIELAB) from a strip just outside.
    The detector's box reaches past the characters to about a plate's rim, so on a plate the
    outside strips are the car; on a placard, banner or wall the same surface goes on. (A state
    name printed on the rim above a vanity plate's characters hides the rim: such a plate is
    left, a known gap.)"""
    import cv2

    x1, y1, x2, y2 = (float(v) for v in box)
    h, w = y2 - y1, x2 - x1
    rows, cols = image.shape[:2]
    xa, xb = int(max(0, x1 + 0.1 * w)), int(min(cols, x2 - 0.1 * w))
    y0, y3 = int(max(0, y1 - 0.35 * h)), int(min(rows, y2 + 0.35 * h))
    if xb - xa < 2 or y3 - y0 < 4:
        return False
    lab = cv2.cvtColor(np.ascontiguousarray(image[y0:y3, xa:xb]), cv2.COLOR_BGR2LAB).astype(np.float32)

    def colour(top: float, bottom: float) -> np.ndarray | None:
        a, b = int(max(0, top - y0)), int(min(y3 - y0, bottom - y0))
        return np.median(lab[a:b].reshape(-1, 3), axis=0) if b - a >= 1 else None

    edges = []
    for inside, outside in (
        (colour(y1, y1 + 0.12 * h), colour(y1 - 0.35 * h, y1 - 0.1 * h)),
        (colour(y2 - 0.12 * h, y2), colour(y2 + 0.1 * h, y2 + 0.35 * h)),
    ):
        if inside is not None and outside is not None:  # at the frame's edge: the other side decides
            edges.append(float(np.linalg.norm(inside - outside)) >= PANEL_CONTRAST)
    return bool(edges) and all(edges)


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
        #: the last frame's verdicts: candidate index -> why it is a plate ("" when it is not)
        self.reasons: dict[int, str] = {}

    def keep(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        candidates: np.ndarray,
        faint: np.ndarray | None = None,
    ) -> np.ndarray:
        """``boxes``: every text box of the frame (context); ``candidates``: which may be plates;
        ``faint``: weaker boxes that are plates only if they read as one, confidently."""
        faint = np.zeros(len(boxes), bool) if faint is None else faint & ~candidates
        near = {int(i): _near(boxes, int(i)) for i in np.flatnonzero(candidates | faint)}
        context = {j for nb in near.values() for j, _ in nb} - set(near)
        by_score = [int(i) for i in np.argsort(-scores, kind="stable")]
        order = [i for i in by_score if candidates[i]] + [i for i in by_score if faint[i]]
        order = (order + [i for i in by_score if i in context])[:MAX_READS]
        readings = {int(i): self.reader.read(_crop(image, boxes[i])) for i in order}
        self.reasons = {}
        for i, nb in near.items():
            if faint[i]:
                self.reasons[i] = self._faint_verdict(image, boxes, i, nb, readings)
            else:
                self.reasons[i] = self._verdict(image, boxes, i, nb, readings)
        keep = np.zeros(len(boxes), bool)
        keep[[i for i, why in self.reasons.items() if why]] = True
        return keep

    def _faint_verdict(self, image: np.ndarray, boxes: np.ndarray, i: int, nb: list, readings: dict) -> str:
        """A weak detection is a plate only when it reads confidently as plate characters."""
        r = readings.get(i)
        if r is None or not plate_code(r) or _among_words(boxes, i, nb, readings, r):
            return ""
        if not lone_word(r):
            return "faint: code" if r.confidence >= FAINT_CODE_CONFIDENCE else ""
        return "faint: word on a panel" if r.confidence >= FAINT_CONFIDENCE and on_panel(image, boxes[i]) else ""

    def _verdict(self, image: np.ndarray, boxes: np.ndarray, i: int, nb: list, readings: dict) -> str:
        """Why candidate ``i`` is a plate, or "" when it is not."""
        box, reading = boxes[i], readings.get(i)
        if reading is None:  # over the read budget: judged by shape alone, on the covering side
            return "unread: plate shape" if aspect_in(box, PLATE_ASPECT) else ""
        if sign_text(reading) or _among_words(boxes, i, nb, readings, reading):
            return ""
        if plate_code(reading) and reading.confidence >= WORD_CONFIDENCE:
            if not lone_word(reading):
                return "code"
            if on_panel(image, box):
                return "word on a panel"
            # off a panel it may still be a plate read short: glare hides its rim and its digits
            # (``B TXS`` for ``B 111 TXS`` at night). A second look must read the same letters
            # with digits among them: other text read there is no evidence of a plate
            if aspect_in(box, PLATE_ASPECT) and any(
                plate_code(r) and r.confidence >= WORD_CONFIDENCE and _digits(r) and _completes(reading, r)
                for r in (self.reader.read(crop) for crop in second_looks(image, box))
            ):
                return "word read whole: code"
            return ""
        if not aspect_in(box, PLATE_ASPECT):
            return ""
        # a second look must find digits: it reads the same text again, and a misread dash or
        # gap in a word of capitals is no evidence of a plate
        second = [self.reader.read(crop) for crop in second_looks(image, box)]
        if any(plate_code(r) and r.confidence >= WORD_CONFIDENCE and _digits(r) for r in second):
            return "second look: code"
        if any(plate_code(r) and _digits(r) for r in [reading, *second]):
            # a plate's characters, read unsure: a panel settles it
            return "unsure code on a panel" if on_panel(image, box) else ""
        if all(illegible(r) for r in [reading, *second]) and aspect_in(box, ALONE_ASPECT) and not nb:
            return "illegible: plate shape, alone"
        return ""


def _completes(part: Reading, whole: Reading) -> bool:
    """``whole`` holds the characters of ``part`` in their order (``B111TXS`` holds ``BTXS``)."""
    rest = iter(whole.compact)
    return all(c in rest for c in part.compact)


def _digits(r: Reading) -> bool:
    return any(c.isdigit() for c in r.compact)


def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in box)
    return image[y1:y2, x1:x2]


def _among_words(boxes: np.ndarray, i: int, nb: list, readings: dict, reading: Reading) -> bool:
    """A line or block of words around the candidate: confident words of its own text size beside
    it (a line), or above or below it (a block; for a code with digits, a block of two lines of
    words or more: one line of words above a plate is a marked vehicle, ``OPERACOES ESPECIAIS``
    over ``JHG-9092``). Words of another size (a state name, dealer frame, badge or sticker) are
    what a car carries and uncover nothing."""
    words = [(j, beside) for j, beside in nb if _same_size_words(boxes, i, j, readings)]
    if any(beside for _, beside in words):
        return True
    if lone_word(reading):
        return bool(words)
    # a code: uncovered by a block, i.e. a line of words above or below that has words of its own
    return any(_same_size_words(boxes, j, k, readings) for j, _ in words for k, _ in _near(boxes, j) if k != i)


def _same_size_words(boxes: np.ndarray, i: int, j: int, readings: dict) -> bool:
    """Box ``j`` reads confidently as words and its text is box ``i``'s size."""
    ratio = (boxes[j][3] - boxes[j][1]) / (boxes[i][3] - boxes[i][1])
    return j in readings and reads_as_words(readings[j]) and SAME_SIZE[0] <= ratio <= SAME_SIZE[1]
