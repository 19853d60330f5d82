"""Fixtures for the installer tests: the folder app, built once per session (or reused
from dist/ while its inputs are unchanged), and the installers wrapped around it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop_support import missing_x_tools, x_screen_with_tray
from tests.package.frozen import DIST, build, bundle_executable


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The built ``Tandem`` executable (PyInstaller takes minutes: build it once)."""
    if not (DIST.parent / "web" / "dist" / "index.html").is_file():
        pytest.fail("web/dist is not built (make web)")
    build("--bundle-only")
    exe = bundle_executable()
    assert exe.is_file(), exe
    return exe


@pytest.fixture(scope="session")
def installers(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for installers built around the session's folder app."""
    return tmp_path_factory.mktemp("installers")


def needs_linux() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("a Linux installer")


@pytest.fixture
def x_with_tray() -> Iterator[dict[str, str]]:
    missing = missing_x_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb trayer x11-utils)")
    with x_screen_with_tray() as env:
        yield env


def isolated_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose home, data, state and config folders are all under tmp_path."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }


def have(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
