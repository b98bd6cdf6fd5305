"""The photo store: real images only, size and pixel limits, EXIF removed, files by content hash."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from storage.photo_store import PhotoRejected, PhotoStore, RejectReason
from tests.conversation import jpeg_bytes


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos", max_bytes=2_000_000, max_pixels=5_000_000, min_side_px=64)


def test_exif_and_gps_are_removed(store: PhotoStore) -> None:
    original = jpeg_bytes(exif_gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825) is not None
    stored = store.ingest(original)
    data = store.path_of(stored.path).read_bytes()
    assert b"PhoneMaker" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert dict(image.getexif()) == {}
        assert image.size == (640, 480)
    assert stored.width == 640 and stored.height == 480 and stored.size_bytes == len(data)


def test_same_picture_is_stored_once_by_content_hash(store: PhotoStore) -> None:
    first = store.ingest(jpeg_bytes())
    second = store.ingest(jpeg_bytes())
    assert first.content_hash == second.content_hash
    assert first.path == second.path
    assert len(list((store.root).rglob("*.jpg"))) == 1
    assert len(first.perceptual_hash) == 16


def test_png_is_accepted_and_converted(store: PhotoStore) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (200, 100), (10, 20, 30, 128)).save(out, format="PNG")
    stored = store.ingest(out.getvalue())
    assert stored.path.endswith(".jpg") and stored.width == 200


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.4\n" + b"x" * 1000, RejectReason.NOT_AN_IMAGE),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, RejectReason.NOT_AN_IMAGE),
        (jpeg_bytes()[:300], RejectReason.NOT_AN_IMAGE),
        (jpeg_bytes(width=32, height=32), RejectReason.TOO_SMALL),
        (b"\xff" * 2_000_001, RejectReason.TOO_LARGE),
    ],
)
def test_bad_files_are_refused_with_a_reason(store: PhotoStore, data: bytes, reason: RejectReason) -> None:
    with pytest.raises(PhotoRejected) as caught:
        store.ingest(data)
    assert caught.value.reason == reason
    assert not list(store.root.rglob("*.jpg")) if store.root.exists() else True


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0)
        + b"IEND"
        + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def test_a_decompression_bomb_is_refused_before_decoding(store: PhotoStore) -> None:
    with pytest.raises(PhotoRejected) as caught:
        store.ingest(_png_header_claiming(40_000, 40_000))
    assert caught.value.reason == RejectReason.TOO_MANY_PIXELS
