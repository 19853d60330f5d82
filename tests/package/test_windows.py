"""The NSIS installer on a Windows runner (the release workflow): a silent per-user
install, an upgrade over it, and an uninstall that keeps the user's data. Elsewhere the
script is only compiled (tests/package/test_linux.py)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.package.frozen import DIST, build, round_trip, run, serve

pytestmark = [
    pytest.mark.package,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(sys.platform != "win32", reason="runs the Windows installer"),
]

UNINSTALL_KEY = r"Software\Microsoft\Windows\CurrentVersion\Uninstall\Tandem"


def registry_value(name: str) -> str | None:
    # Looked up at run time: the module exists only on Windows.
    winreg: Any = importlib.import_module("winreg")

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, UNINSTALL_KEY) as key:
            return str(winreg.QueryValueEx(key, name)[0])
    except OSError:
        return None


def setup_exe(version: str, out: Path) -> Path:
    build("--version", version, "--out", str(out))
    return out / f"Tandem-{version}-windows-setup.exe"


def silent(installer: Path, target: Path) -> None:
    # /D= must come last and unquoted (NSIS reads the rest of the line as the folder).
    done = subprocess.run(f'"{installer}" /S /D={target}', timeout=600, shell=False)
    assert done.returncode == 0


def test_install_upgrade_and_uninstall_keep_the_data(bundle: Path, tmp_path: Path) -> None:
    assert DIST.is_dir()
    target = tmp_path / "Programs" / "Tandem"
    silent(setup_exe("1.0.0", tmp_path / "n"), target)
    exe = target / "Tandem.exe"
    assert exe.is_file()
    assert registry_value("DisplayVersion") == "1.0.0"
    assert registry_value("Publisher")
    start_menu = Path(os.environ["APPDATA"]) / r"Microsoft\Windows\Start Menu\Programs"
    assert (start_menu / "Tandem.lnk").is_file()

    data_dir = tmp_path / "data"
    served = serve([str(exe)], data_dir)
    try:
        project = run(round_trip(served.url))
    finally:
        served.stop()

    silent(setup_exe("1.0.1", tmp_path / "n1"), target)
    assert registry_value("DisplayVersion") == "1.0.1"
    served = serve([str(exe)], data_dir)
    try:
        run(round_trip(served.url, project_key="UPG"))
        assert project
    finally:
        served.stop()

    # _?= runs the uninstaller in place and waits for it.
    done = subprocess.run(f'"{target / "Uninstall.exe"}" /S _?={target}', timeout=600)
    assert done.returncode == 0
    assert not exe.exists() and not (target / "_internal").exists()
    assert registry_value("DisplayVersion") is None
    assert (data_dir / "tandem.sqlite3").is_file(), "uninstalling removed the data"
