"""The photo store: checks that bytes are a real image, strips EXIF and keeps files by content hash."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO", "HEIF"}


class RejectReason(StrEnum):
    NOT_AN_IMAGE = "not_an_image"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_SMALL = "too_small"
    UNAVAILABLE = "unavailable"


class PhotoRejected(Exception):
    """The bytes cannot be accepted as a complaint photo; `reason` says why."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason


@dataclass(frozen=True)
class StoredPhoto:
    content_hash: str
    path: str  # relative to the store's root
    width: int
    height: int
    size_bytes: int
    perceptual_hash: str


class PhotoStore:
    """Content-addressed JPEG files under one root folder, with every piece of metadata removed."""

    def __init__(self, root: Path, *, max_bytes: int, max_pixels: int, min_side_px: int = 64) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.min_side_px = min_side_px

    def ingest(self, data: bytes) -> StoredPhoto:
        """Validate the image, re-encode it without EXIF and store it; blocking, so call it in a thread."""
        if len(data) > self.max_bytes:
            raise PhotoRejected(RejectReason.TOO_LARGE, f"{len(data)} bytes")
        image = self._open(data)
        clean = self._reencode(image)
        digest = hashlib.sha256(clean).hexdigest()
        relative = f"{digest[:2]}/{digest}.jpg"
        target = self.root / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex}.tmp")  # unique per write: threads race too
            tmp.write_bytes(clean)
            os.replace(tmp, target)  # atomic: a crash never leaves half a photo under its final name
        with Image.open(io.BytesIO(clean)) as stored:
            phash = str(imagehash.phash(stored))
            width, height = stored.size
        return StoredPhoto(digest, relative, width, height, len(clean), phash)

    def path_of(self, relative: str) -> Path:
        return self.root / relative

    def _open(self, data: bytes) -> Image.Image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                probe = Image.open(io.BytesIO(data))
                width, height = probe.size
                if width * height > self.max_pixels:
                    raise PhotoRejected(RejectReason.TOO_MANY_PIXELS, f"{width}x{height}")
                if probe.format not in ACCEPTED_FORMATS:
                    raise PhotoRejected(RejectReason.NOT_AN_IMAGE, f"format {probe.format}")
                probe.verify()  # structural check; the image must be reopened after verify()
                image = Image.open(io.BytesIO(data))
                image.load()
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoRejected(RejectReason.TOO_MANY_PIXELS, str(exc)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise PhotoRejected(RejectReason.NOT_AN_IMAGE, str(exc)) from exc
        if min(image.size) < self.min_side_px:
            raise PhotoRejected(RejectReason.TOO_SMALL, f"{image.size[0]}x{image.size[1]}")
        return image

    @staticmethod
    def _reencode(image: Image.Image) -> bytes:
        # Apply the EXIF orientation to the pixels, then write a fresh JPEG that carries no EXIF,
        # no GPS, no device data and no embedded thumbnails.
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        out = io.BytesIO()
        upright.save(out, format="JPEG", quality=88, optimize=True)
        return out.getvalue()
