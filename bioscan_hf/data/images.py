"""Decoding stored or uploaded images safely: a clear error naming the record, and a pixel limit that
stops decompression bombs before their pixels are allocated."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bioscan_hf.core.errors import UserError

#: Largest image decoded (pixels). BIOSCAN-5M's full-size originals are 1024×768; 40 Mpx leaves room
#: for any camera photo while refusing bombs (a PNG of a few KB can declare 100,000×100,000 pixels).
MAX_IMAGE_PIXELS = 40_000_000


#: File name endings read as photos (a folder of query photos).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

#: Thumbnail bounding box (pixels) for galleries.
THUMBNAIL_SIZE = (160, 120)


class ImageDecodeError(UserError, ValueError):
    """An image that cannot be used: not an image, truncated, or too large."""


def decode_image(data: bytes | dict | str | Path, name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode image bytes (or a datasets `Image(decode=False)` value, or a file path) to an RGB image.

    Raises `ImageDecodeError` naming `name` (a processid, a file) when the data are not a readable image
    or declare more than `max_pixels` pixels; the size check reads only the header.
    """
    if isinstance(data, dict):
        data = data.get("bytes") or data.get("path") or b""
    if isinstance(data, (str, Path)):
        try:
            data = Path(data).read_bytes()
        except OSError as err:
            raise ImageDecodeError(f"{name}: cannot read the image file: {err}") from err
    if not data:
        raise ImageDecodeError(f"{name}: no image data")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"{name}: {width}×{height} pixels is over the limit of {max_pixels:,} (a decompression bomb?)"
                )
            return image.convert("RGB")
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as err:
        raise ImageDecodeError(
            f"{name}: not a readable image (no image format recognised in its {len(data):,} bytes, which begin "
            f"{data[:8]!r}); give a JPEG or PNG photo"
        ) from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"{name}: not a readable image ({type(err).__name__}: {err})") from err


def thumbnail_jpeg(image: Image.Image, size: tuple[int, int] = THUMBNAIL_SIZE) -> bytes:
    """A JPEG thumbnail (aspect kept, within `size`) of an image, as bytes."""
    small = image.copy()
    small.thumbnail(size)
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()
