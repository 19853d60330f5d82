"""What an attachment's content is, found from its bytes, and thumbnails of images.

Only the image formats a browser shows safely as pictures count as images (PNG, JPEG, GIF,
WebP); SVG is a document that can carry script, so it is a plain file here like any other.
The size is read from the header before any pixel is decoded, and an image with more than
``MAX_IMAGE_PIXELS`` pixels is never decoded at all (a small file can claim to be a huge
image: a decompression bomb). Pillow's own bomb check is set to the same limit, in case a
header lies.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from PIL import Image, UnidentifiedImageError

from server.storage import private

#: Images larger than this many pixels are kept as plain files: no thumbnail, no preview.
MAX_IMAGE_PIXELS: Final = 40_000_000
#: Thumbnails fit in a square this many pixels wide.
THUMBNAIL_SIZE: Final = 320
OCTET_STREAM: Final = "application/octet-stream"
#: Pillow's format name -> the type the content is served with, inline.
INLINE_IMAGE_TYPES: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


@dataclass(frozen=True)
class Kind:
    content_type: str
    width: int = 0
    height: int = 0

    @property
    def is_image(self) -> bool:
        return self.content_type != OCTET_STREAM


FILE: Final = Kind(OCTET_STREAM)


def inspect(path: Path, thumbnail: Path) -> Kind:
    """The content's kind; for an image, its thumbnail is written (PNG) to ``thumbnail``."""

    def save(small: Image.Image) -> None:
        private.private_dir(thumbnail.parent)
        temp = thumbnail.with_suffix(".part")
        small.save(temp, format="PNG")
        temp.replace(thumbnail)

    return _inspect(path, None if thumbnail.exists() else save)


def inspect_bytes(data: bytes) -> tuple[Kind, bytes | None]:
    """The kind of content held in memory, and for an image its thumbnail (PNG bytes)."""
    made: list[bytes] = []

    def save(small: Image.Image) -> None:
        out = io.BytesIO()
        small.save(out, format="PNG")
        made.append(out.getvalue())

    kind = _inspect(io.BytesIO(data), save)
    return kind, (made[0] if made else None)


def _inspect(source: Path | BinaryIO, save: Callable[[Image.Image], None] | None) -> Kind:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=tuple(INLINE_IMAGE_TYPES)) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > MAX_IMAGE_PIXELS:
                    return FILE
                kind = Kind(INLINE_IMAGE_TYPES[image.format or ""], width, height)
                if save is not None:
                    # thumbnail() decodes a JPEG at a reduced scale (draft) and shrinks in
                    # place; the colour conversion then works on the small copy only.
                    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                    save(image.convert("RGBA"))
                return kind
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return FILE
    except (OSError, ValueError, SyntaxError, KeyError, EOFError):
        # A truncated or malformed image: stored and offered as a plain file.
        return FILE
