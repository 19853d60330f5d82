"""The desktop app's log file (rotation, no console) and the icons rendered from assets/."""

from __future__ import annotations

import importlib.util
import logging
import os
import struct
import sys
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import ModuleType

import pytest

from app.logs import LOG_FILE, setup_logging

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tandem_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_tandem", False)]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was: setup_logging changes process-wide state."""
    root = logging.getLogger()
    level = root.level
    try:
        yield
    finally:
        for handler in tandem_handlers():
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)


def remove_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen, windowed build: every standard stream is None.

    Called in the test body: pytest's output capture replaces the streams when the
    test starts, so a fixture's None would not last until then.
    """
    for name in ("stdout", "stderr", "__stdout__", "__stderr__"):
        monkeypatch.setattr(sys, name, None)
    monkeypatch.setattr(sys, "frozen", True, raising=False)


def close_stand_ins() -> None:
    """Close the null-device files that stood in for the missing streams."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and getattr(stream, "name", None) == os.devnull:
            stream.close()
            setattr(sys, name, None)


# --- logs ---------------------------------------------------------------------------------


def test_log_handler_rotates_in_the_given_folder(tmp_path: Path, restore_logging: None) -> None:
    log_dir = tmp_path / "logs" / "nested"
    path = setup_logging(log_dir, max_bytes=2_000)

    assert path == log_dir / LOG_FILE
    files = [h for h in tandem_handlers() if isinstance(h, RotatingFileHandler)]
    assert len(files) == 1
    assert Path(files[0].baseFilename) == path
    assert files[0].maxBytes == 2_000
    assert files[0].backupCount >= 1

    log = logging.getLogger("tandem.test.rotation")
    for number in range(60):
        log.info("line %03d %s", number, "x" * 60)
    files[0].flush()

    rotated = path.with_name(LOG_FILE + ".1")
    assert rotated.is_file()
    assert path.stat().st_size <= 2_000
    assert "line 059" in path.read_text(encoding="utf-8")
    assert "line 000" not in path.read_text(encoding="utf-8")


def test_setup_logging_twice_keeps_one_file_handler(tmp_path: Path, restore_logging: None) -> None:
    setup_logging(tmp_path / "first")
    path = setup_logging(tmp_path / "second")

    files = [h for h in tandem_handlers() if isinstance(h, RotatingFileHandler)]
    assert [Path(h.baseFilename) for h in files] == [path]


def test_no_console_nothing_raises_and_logs_reach_the_file(
    tmp_path: Path, restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    remove_console(monkeypatch)
    try:
        path = setup_logging(tmp_path / "logs")

        # A console handler would write to a stream that does not exist.
        assert not [
            h
            for h in tandem_handlers()
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
        # What start-up code and libraries do with the streams must not raise.
        assert sys.stdout is not None
        assert sys.stderr is not None
        sys.stdout.write("to stdout\n")
        sys.stdout.flush()
        sys.stderr.write("to stderr\n")
        sys.stderr.flush()
        print("tandem: no tray; running as `tandem serve --open` instead", file=sys.stderr)
        print("ready", flush=True)

        logging.getLogger("tandem.test.frozen").warning("written without a console")
        for handler in tandem_handlers():
            handler.flush()
        assert "written without a console" in path.read_text(encoding="utf-8")
    finally:
        close_stand_ins()


# --- icons --------------------------------------------------------------------------------


def load_make_icons() -> ModuleType:
    # By path: ``packaging`` is also the name of a PyPI library, so it cannot be imported.
    spec = importlib.util.spec_from_file_location(
        "tandem_make_icons", ROOT / "packaging" / "make_icons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def ico_sizes(data: bytes) -> list[int]:
    """Pixel sizes of the images in a .ico, each checked to be a PNG of that size."""
    assert data[:4] == b"\x00\x00\x01\x00"
    (count,) = struct.unpack("<H", data[4:6])
    sizes = []
    for index in range(count):
        entry = data[6 + 16 * index : 22 + 16 * index]
        width = entry[0] or 256
        length, offset = struct.unpack("<II", entry[8:16])
        assert offset + length <= len(data)
        assert png_size(data[offset : offset + length]) == (width, width)
        sizes.append(width)
    return sizes


def icns_elements(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Element type -> pixel size of its PNG payload, walking the whole file."""
    assert data[:4] == b"icns"
    (total,) = struct.unpack(">I", data[4:8])
    assert total == len(data)
    elements = {}
    offset = 8
    while offset < total:
        kind = data[offset : offset + 4]
        (length,) = struct.unpack(">I", data[offset + 4 : offset + 8])
        assert length > 8 and offset + length <= total
        elements[kind] = png_size(data[offset + 8 : offset + length])
        offset += length
    assert offset == total
    return elements


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, qapp: object) -> tuple[ModuleType, Path]:
    """The icons rendered afresh from the SVG sources (qapp first, so widget tests keep theirs)."""
    make_icons = load_make_icons()
    out = tmp_path_factory.mktemp("icons")
    assert make_icons.main(out) == 0
    return make_icons, out


def test_every_png_size_is_rendered(rendered: tuple[ModuleType, Path]) -> None:
    make_icons, out = rendered
    for name in make_icons.SOURCES:
        for size in make_icons.PNG_SIZES:
            data = (out / f"{name}-{size}.png").read_bytes()
            assert png_size(data) == (size, size), f"{name}-{size}.png"


def test_ico_holds_several_sizes(rendered: tuple[ModuleType, Path]) -> None:
    make_icons, out = rendered
    for name in make_icons.SOURCES:
        sizes = ico_sizes((out / f"{name}.ico").read_bytes())
        assert sorted(sizes) == sorted(make_icons.ICO_SIZES)
        assert {16, 32, 256} <= set(sizes)


def test_icns_holds_several_sizes(rendered: tuple[ModuleType, Path]) -> None:
    make_icons, out = rendered
    for name in make_icons.SOURCES:
        elements = icns_elements((out / f"{name}.icns").read_bytes())
        assert elements == {kind: (size, size) for size, kind in make_icons.ICNS_TYPES.items()}
        assert len(elements) >= 3


def test_lan_variant_differs_from_plain(rendered: tuple[ModuleType, Path]) -> None:
    _, out = rendered
    for size in (16, 32, 256):
        plain = (out / f"tandem-{size}.png").read_bytes()
        lan = (out / f"tandem-lan-{size}.png").read_bytes()
        assert plain != lan, f"size {size}"
    assert (out / "tandem.ico").read_bytes() != (out / "tandem-lan.ico").read_bytes()
    assert (out / "tandem.icns").read_bytes() != (out / "tandem-lan.icns").read_bytes()


def test_committed_icons_cover_every_rendered_file(rendered: tuple[ModuleType, Path]) -> None:
    """Same names and pixel sizes as a fresh render; pixels may differ between Qt builds."""
    _, out = rendered
    committed = ROOT / "assets" / "icons"
    fresh = sorted(p.name for p in out.iterdir())
    assert sorted(p.name for p in committed.iterdir() if p.is_file()) == fresh
    for name in fresh:
        if name.endswith(".png"):
            assert png_size((committed / name).read_bytes()) == png_size((out / name).read_bytes())
