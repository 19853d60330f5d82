"""Start at login: the per-OS autostart entry (XDG .desktop, macOS LaunchAgent, Windows Run key).

The home folder and the Windows registry are injected so tests write to a temporary
home and a stand-in registry.
"""

from __future__ import annotations

import importlib
import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

APP_ID = "app.tandem.Tandem"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Tandem"


def launch_command() -> list[str]:
    """How to start the tray app from a login session."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).with_name("tandem.exe" if os.name == "nt" else "tandem")
    if script.exists():
        return [str(script)]
    found = shutil.which("tandem")
    if found:
        return [found]
    return [sys.executable, "-m", "launcher"]


class Registry(Protocol):
    """The few registry calls the Run key needs (``winreg`` on Windows)."""

    def get(self, key: str, name: str) -> str | None: ...

    def set(self, key: str, name: str, value: str) -> None: ...

    def delete(self, key: str, name: str) -> None: ...


def _winreg() -> Any:
    # Looked up at run time: the module exists only on Windows.
    return importlib.import_module("winreg")


class WinRegistry:
    """HKEY_CURRENT_USER through ``winreg``."""

    def get(self, key: str, name: str) -> str | None:
        winreg = _winreg()

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as handle:
                value, _ = winreg.QueryValueEx(handle, name)
        except OSError:
            return None
        return str(value)

    def set(self, key: str, name: str, value: str) -> None:
        winreg = _winreg()

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, key) as handle:
            winreg.SetValueEx(handle, name, 0, winreg.REG_SZ, value)

    def delete(self, key: str, name: str) -> None:
        winreg = _winreg()

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE) as handle:
                winreg.DeleteValue(handle, name)
        except FileNotFoundError:
            pass


class Autostart:
    """Turns "Start at login" on and off for one platform."""

    def __init__(
        self,
        *,
        home: Path | None = None,
        platform: str = sys.platform,
        command: Sequence[str] | None = None,
        registry: Registry | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.home = home if home is not None else Path.home()
        self.platform = platform
        self.command = list(command) if command is not None else launch_command()
        self._registry = registry
        self._environ = environ if environ is not None else dict(os.environ)

    @property
    def supported(self) -> bool:
        return self.platform.startswith(("linux", "freebsd", "openbsd", "darwin", "win"))

    def path(self) -> Path | None:
        """The file that holds the entry (None on Windows, where it is a registry value)."""
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
        if self.platform.startswith("win"):
            return None
        # XDG_CONFIG_HOME only counts when it lies inside the injected home, so a test's
        # temporary home is never escaped by the real environment.
        config = self._environ.get("XDG_CONFIG_HOME", "")
        base = Path(config) if config and Path(config).is_relative_to(self.home) else None
        return (base or self.home / ".config") / "autostart" / "tandem.desktop"

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = WinRegistry()
        return self._registry

    def is_enabled(self) -> bool:
        if self.platform.startswith("win"):
            return self.registry().get(RUN_KEY, RUN_VALUE) is not None
        path = self.path()
        return path is not None and path.exists()

    def set_enabled(self, enabled: bool) -> None:
        if self.platform.startswith("win"):
            if enabled:
                self.registry().set(RUN_KEY, RUN_VALUE, subprocess.list2cmdline(self.command))
            else:
                self.registry().delete(RUN_KEY, RUN_VALUE)
            return
        path = self.path()
        assert path is not None
        if not enabled:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.platform == "darwin":
            path.write_bytes(plistlib.dumps(self._launch_agent()))
        else:
            path.write_text(self._desktop_entry(), encoding="utf-8")

    def _launch_agent(self) -> dict[str, object]:
        return {
            "Label": APP_ID,
            "ProgramArguments": self.command,
            "RunAtLoad": True,
            # Quit from the tray means quit: launchd must not bring it back.
            "KeepAlive": False,
            "ProcessType": "Interactive",
        }

    def _desktop_entry(self) -> str:
        # The Exec key has its own quoting rules; shlex.join's output fits them for
        # ordinary paths (no %, no backslashes).
        return (
            "[Desktop Entry]\n"
            "Type=Application\n"
            "Name=Tandem\n"
            "Comment=Project board, shared live on your network\n"
            f"Exec={shlex.join(self.command)}\n"
            "Icon=tandem\n"
            "Terminal=false\n"
            "Categories=Office;ProjectManagement;\n"
            "X-GNOME-Autostart-enabled=true\n"
        )
