"""Covers that can't be undone, photos without metadata, and verify."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from media import exif_with_gps_and_thumbnail, face_image, pattern
from PIL import Image

from redact.cover import styles
from redact.detectors import create_detector
from redact.media.picture import photo_metadata
from redact.pipeline.photo import redact_photo
from redact.review.verify import verify
from redact.settings import Settings


@pytest.fixture(scope="module")
def faces() -> object:
    return create_detector("centerface", quality="balanced")


def scene() -> tuple[np.ndarray, list[int]]:
    image = pattern(480, 320)
    face = face_image(160)
    image[60:220, 160:320] = face
    return image, [160, 60, 320, 220]


@pytest.mark.parametrize("style", ["blur", "pixelate", "fill"])
@pytest.mark.parametrize("shape", ["ellipse", "rect"])
def test_each_style_hides_the_face_from_the_detector(faces, style: str, shape: str) -> None:
    image, _ = scene()
    found = faces.detect(image)
    assert len(found) >= 1 and found.scores.max() > 0.6
    from redact.cover.regions import grow, margins

    covered = styles.apply(image.copy(), grow(found, margins(Settings())), style, shape)
    after = faces.detect(covered)
    assert not len(after) or after.scores.max() < 0.5, (style, shape, after.scores)


@pytest.mark.parametrize("style", ["blur", "pixelate"])
def test_region_is_a_function_of_the_stated_samples_only(style: str) -> None:
    rng = np.random.default_rng(1)
    span = (20, 10, 120, 130)
    a = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)  # a different "face" ...
    grid = styles.BLUR_GRID if style == "blur" else styles.PIXELATE_GRID
    xs, ys = styles.sample_points(span, grid)
    assert len(xs) * len(ys) == styles.SAMPLES[style]
    b[ys[:, None], xs[None, :]] = a[ys[:, None], xs[None, :]]  # ... sharing only the samples
    assert (a != b).mean() > 0.9
    pa, pb = styles.covered_patch(a, span, style), styles.covered_patch(b, span, style)
    assert np.array_equal(pa, pb)
    c = b.copy()
    c[ys[0], xs[0]] = 255 - c[ys[0], xs[0]]  # change one sample: the region changes
    assert not np.array_equal(styles.covered_patch(c, span, style), pb)


def test_pixelate_has_few_cells_whatever_the_size() -> None:
    image = np.random.default_rng(2).integers(0, 256, (900, 900, 3), dtype=np.uint8)
    patch = styles.covered_patch(image, (0, 0, 800, 800), "pixelate")
    assert len(np.unique(patch.reshape(-1, 3), axis=0)) <= styles.SAMPLES["pixelate"]


def make_phone_photo(path: Path) -> Path:
    image, _ = scene()
    thumb = io.BytesIO()
    Image.fromarray(image[:, :, ::-1]).resize((160, 106)).save(thumb, "JPEG")
    exif = exif_with_gps_and_thumbnail("Apple", "iPhone 15 Pro", thumb.getvalue())
    Image.fromarray(image[:, :, ::-1]).save(path, "JPEG", exif=exif, quality=95)
    return path


def test_photo_metadata_removed_and_face_covered(tmp_path: Path, faces) -> None:
    src = make_phone_photo(tmp_path / "phone.jpg")
    with Image.open(src) as im:  # the input really carries them
        exif = im.getexif()
        assert exif[0x010F] == "Apple" and exif[0x0110] == "iPhone 15 Pro"
        assert exif.get_ifd(0x8825)
    assert src.read_bytes().count(b"\xff\xd8") >= 2, "an embedded thumbnail"
    dst = tmp_path / "phone.redacted.jpg"
    report = redact_photo(src, dst, Settings(targets=("faces",)), detectors={"faces": faces})
    assert report.detections.get("face", 0) >= 1
    raw = dst.read_bytes()
    assert b"Apple" not in raw and b"iPhone" not in raw and b"Exif" not in raw
    assert raw.count(b"\xff\xd8") == 1, "no thumbnail left"
    assert photo_metadata(dst) == []
    with Image.open(dst) as im:
        assert im.format == "JPEG" and im.size == (480, 320)


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_other_photo_formats_keep_their_format(tmp_path: Path, faces, ext: str) -> None:
    image, _ = scene()
    src = tmp_path / f"in{ext}"
    Image.fromarray(image[:, :, ::-1]).save(src, exif=b"Exif\0\0" + b"II*\0\x08\0\0\0\0\0\0\0\0\0")
    dst = tmp_path / f"out{ext}"
    redact_photo(src, dst, Settings(targets=("faces",)), detectors={"faces": faces})
    with Image.open(dst) as im:
        assert im.format == {".png": "PNG", ".webp": "WEBP"}[ext]
        assert not im.getexif()


def test_photo_orientation_applied(tmp_path: Path, faces) -> None:
    image, _ = scene()
    turned = np.ascontiguousarray(np.rot90(image, 1))  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 8  # ... with EXIF saying: rotate 90 clockwise to show
    src = tmp_path / "sideways.jpg"
    Image.fromarray(turned[:, :, ::-1]).save(src, exif=exif, quality=95)
    dst = tmp_path / "out.jpg"
    report = redact_photo(src, dst, Settings(targets=("faces",)), detectors={"faces": faces})
    assert report.detections.get("face", 0) >= 1
    with Image.open(dst) as im:
        assert im.size == (480, 320)  # stored upright now, no orientation tag needed


def test_verify_flags_unredacted_passes_redacted_reports_metadata(tmp_path: Path, faces) -> None:
    src = make_phone_photo(tmp_path / "phone.jpg")
    settings = Settings(targets=("faces",), face_threshold=0.6)  # what `redact verify` uses
    checker = create_detector("centerface", quality="thorough", threshold=0.6)
    raw = verify(src, settings, detectors={"faces": checker}, sheet_path=tmp_path / "sheet.png")
    assert raw.findings and any("GPS" in m for m in raw.metadata) and not raw.clean
    assert (tmp_path / "sheet.png").stat().st_size > 1000
    dst = tmp_path / "phone.redacted.jpg"
    redact_photo(src, dst, Settings(targets=("faces",)), detectors={"faces": faces})
    after = verify(dst, settings, detectors={"faces": checker})
    assert not after.metadata
    # The face is no longer found where it was. With regions sized to the face, the detector may
    # still fire weakly on the cover's lower rim against the suit's collar: a known false alarm of
    # verify (issue 18), never a confident finding.
    (face,) = [f.box for f in raw.findings if f.kind == "face"]
    for finding in after.findings:
        assert finding.score < 0.5, after.to_dict()
        assert _iou(finding.box, face) < 0.3, after.to_dict()


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("view", ["padded rows", "rotated", "mirrored"])
def test_cover_paints_through_any_view_of_the_frame(view: str) -> None:
    base = pattern(203, 101)
    image = {
        "padded rows": np.zeros((101, 210, 3), np.uint8)[:, :203],
        "rotated": np.rot90(np.zeros((203, 101, 3), np.uint8)),
        "mirrored": np.zeros((101, 203, 3), np.uint8)[:, ::-1],
    }[view]
    image[:] = base
    styles.apply(image, np.array([[20, 10, 120, 90]], np.float32), "fill", "rect")
    assert image[10:90, 20:120].max() == 0
    assert np.array_equal(image[:10], base[:10]) and np.array_equal(image[:, 120:], base[:, 120:])
