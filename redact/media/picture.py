"""Photo files: read upright at their own depth, written back with pixels only.

EXIF (GPS, make, model, serial numbers, the embedded thumbnail that can show the unredacted
picture), XMP and IPTC are all dropped; only an ICC colour profile is kept, since it says how to
show colours and nothing about anyone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from redact.errors import InputError, OutputError
from redact.media.source import check_frame_size
from redact.settings import DEFAULTS

PHOTO_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".heic": "HEIF", ".heif": "HEIF"}


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_FORMATS


def enable_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener  # optional: pip install 'redact[heic]'
    except ImportError:
        return False
    register_heif_opener()
    return True


#: Pillow's own guard against decompression bombs is replaced by redact's limit (settings.max_megapixels),
#: checked on the header before any pixel is decoded, with a message that says how to raise it.
Image.MAX_IMAGE_PIXELS = None

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Picture:
    """A photo's pixels at their own depth: grey (H x W) or BGR (H x W x 3), 8 or 16 bits, and its alpha."""

    colour: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def deep(self) -> bool:
        return self.colour.dtype == np.uint16

    def view(self) -> np.ndarray:
        """8-bit BGR as a viewer shows it, for the detectors; pixels under full transparency are black."""
        colour = to_8bit(self.colour)
        bgr = cv2.cvtColor(colour, cv2.COLOR_GRAY2BGR) if colour.ndim == 2 else colour.copy()
        if self.alpha is not None:
            bgr[self.alpha == 0] = 0
        return bgr


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _png_header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, bit depth) from a PNG's IHDR, without decoding it; None if not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[24]


def read_picture(path: Path, max_megapixels: float = DEFAULTS.max_megapixels) -> Picture:
    """Open a photo, refusing what it cannot keep exactly (animations) or hold (over the pixel limit)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in (".heic", ".heif") and not enable_heif():
        raise InputError(f"{path}: HEIC photos need the optional extra: pip install 'redact[heic]'")
    try:
        png = _png_header(path)
        if png is not None and png[2] == 16:  # Pillow reads 16-bit colour PNGs as 8 bits; OpenCV keeps all 16
            check_frame_size(path, png[0], png[1], max_megapixels, what="is")
            return _read_deep_png(path)
        with Image.open(path) as image:
            check_frame_size(path, image.width, image.height, max_megapixels, what="is")
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                raise InputError(f"{path}: animated image ({frames} frames); this command reads still photos only")
            image.load()
            return _from_pillow(ImageOps.exif_transpose(image), image.info.get("icc_profile"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, cv2.error) as exc:
        raise InputError(f"{path}: not a photo, or corrupt") from exc


def _read_deep_png(path: Path) -> Picture:
    pixels = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError("undecodable")
    alpha = None
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):  # grey + alpha, BGR + alpha
        pixels, alpha = np.ascontiguousarray(pixels[:, :, :-1]), np.ascontiguousarray(pixels[:, :, -1])
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    picture = Picture(pixels.astype(np.uint16), None if alpha is None else alpha.astype(np.uint16))
    with Image.open(path) as image:
        if image.info.get("icc_profile"):
            picture.warnings.append("the 16-bit PNG's colour profile is not kept")
    return picture


def _from_pillow(image: Image.Image, icc: bytes | None) -> Picture:
    mode = image.mode
    if mode.startswith("I"):  # 16- or 32-bit integer grey: converting to "L" would clip it to white
        return Picture(np.clip(np.asarray(image).astype(np.int64), 0, 65535).astype(np.uint16), None, icc)
    if mode in ("1", "L", "F"):
        return Picture(np.array(image.convert("L")), None, icc)
    if mode == "LA":
        la = np.asarray(image)
        return Picture(np.ascontiguousarray(la[:, :, 0]), np.ascontiguousarray(la[:, :, 1]), icc)
    if mode in ("RGBA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        return Picture(np.ascontiguousarray(rgba[:, :, 2::-1]), np.ascontiguousarray(rgba[:, :, 3]), icc)
    if mode in ("CMYK", "LAB"):
        icc = None  # a CMYK or Lab profile would be wrong for the RGB pixels written
    return Picture(np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1]), None, icc)


def load_photo(path: Path, max_megapixels: float = DEFAULTS.max_megapixels) -> tuple[np.ndarray, Picture]:
    """The upright picture as 8-bit BGR (what the detectors see), and the picture at its own depth."""
    picture = read_picture(path, max_megapixels)
    return picture.view(), picture


def encode_picture(picture: Picture, fmt: str) -> bytes:
    """The file's bytes: pixels only, no EXIF, XMP, IPTC, comments or thumbnails."""
    colour, alpha = picture.colour, picture.alpha
    if fmt == "PNG" and picture.deep:
        pixels = colour if alpha is None else cv2.merge([*(cv2.split(colour) if colour.ndim == 3 else [colour]), alpha])
        ok, data = cv2.imencode(".png", pixels)
        if not ok:
            raise OutputError("encoding the PNG failed")
        return data.tobytes()
    if picture.deep:
        picture.warnings.append(f"{fmt} holds 8 bits per channel: the 16-bit picture was written as 8-bit")
        colour, alpha = to_8bit(colour), None if alpha is None else to_8bit(alpha)
    if alpha is not None and fmt == "JPEG":
        picture.warnings.append("JPEG has no transparency: transparent areas were written black")
        alpha = None
    rgb = colour if colour.ndim == 2 else colour[:, :, ::-1]
    if colour.ndim == 2 and fmt != "PNG" and fmt != "JPEG":
        rgb = np.stack([colour] * 3, -1)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if alpha is not None:
        image.putalpha(Image.fromarray(alpha))
    options: dict[str, Any] = {}
    if picture.icc_profile:
        options["icc_profile"] = picture.icc_profile
    if fmt in ("JPEG", "WEBP", "HEIF"):
        options.update(quality=92)
    if fmt == "JPEG":
        options.update(subsampling=0)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo_metadata(path: Path) -> list[str]:
    """Identifying metadata left in a photo, one description per finding (empty when clean)."""
    findings: list[str] = []
    if path.suffix.lower() in (".heic", ".heif"):
        enable_heif()
    with Image.open(path) as image:
        exif = image.getexif()
        if len(exif):
            tags = sorted({Image.ExifTags.TAGS.get(k, str(k)) for k in exif})
            findings.append("EXIF: " + ", ".join(tags[:12]) + (" ..." if len(tags) > 12 else ""))
        if exif.get_ifd(Image.ExifTags.IFD.GPSInfo):
            findings.append("EXIF GPS position")
        for key in ("xmp", "XML:com.adobe.xmp", "photoshop", "iptc", "comment", "exif"):
            if image.info.get(key):
                findings.append(f"{key} block")
        text_keys = ("author", "description", "software", "creation time", "location", "comment")
        findings.extend(f"text chunk {k}" for k, v in image.info.items() if str(k).lower() in text_keys and v)
    return sorted(set(findings))
