"""Where the app's bundled files (icons) are, from a source checkout or a frozen build."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def assets_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def app_icon(shared_on_lan: bool = False) -> QIcon:
    """The tray/window icon at every rendered size (falls back to the SVG source)."""
    name = "tandem-lan" if shared_on_lan else "tandem"
    icon = QIcon()
    icons = assets_dir() / "icons"
    for png in sorted(icons.glob(f"{name}-[0-9]*.png")):
        icon.addFile(str(png))
    if icon.isNull():
        icon = QIcon(str(assets_dir() / f"{name}.svg"))
    return icon
