"""Render the app icons from the SVG sources in assets/ (run: python packaging/make_icons.py).

Makes, for ``tandem`` and ``tandem-lan``: PNGs at the sizes trays, windows and
installers use, a multi-size ``.ico`` (Windows) and ``.icns`` (macOS). Uses only
PySide6's QtSvg and image writers, so no extra tool is needed. Outputs go to
assets/icons/ and are committed; rerun after changing an SVG.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ASSETS = Path(__file__).resolve().parent.parent / "assets"
OUT = ASSETS / "icons"
SOURCES = ("tandem", "tandem-lan")
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# icns element types for PNG payloads, by pixel size (Apple's Icon Services formats).
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"not a valid SVG: {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6 6.12 refuses a bytes format at run time, though its stubs ask for one.
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    buffer.close()
    return bytes(data.data())


def ico(images: dict[int, QImage]) -> bytes:
    """A .ico holding PNG-compressed images (valid since Windows Vista)."""
    pngs = [(size, png_bytes(images[size])) for size in ICO_SIZES]
    header = (0).to_bytes(2, "little") + (1).to_bytes(2, "little") + len(pngs).to_bytes(2, "little")
    offset = 6 + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, blob in pngs:
        dim = 0 if size >= 256 else size
        entries += bytes([dim, dim, 0, 0]) + (1).to_bytes(2, "little") + (32).to_bytes(2, "little")
        entries += len(blob).to_bytes(4, "little") + offset.to_bytes(4, "little")
        offset += len(blob)
        blobs += blob
    return header + entries + blobs


def icns(images: dict[int, QImage]) -> bytes:
    body = b""
    for size, kind in ICNS_TYPES.items():
        blob = png_bytes(images[size])
        body += kind + (8 + len(blob)).to_bytes(4, "big") + blob
    return b"icns" + (8 + len(body)).to_bytes(4, "big") + body


def main(out: Path = OUT) -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        svg = ASSETS / f"{name}.svg"
        images = {size: render(svg, size) for size in set(PNG_SIZES) | set(ICO_SIZES)}
        for size in PNG_SIZES:
            images[size].save(str(out / f"{name}-{size}.png"))
        (out / f"{name}.ico").write_bytes(ico(images))
        (out / f"{name}.icns").write_bytes(icns(images))
        print(f"{name}: {len(PNG_SIZES)} PNGs, .ico, .icns -> {out}")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
