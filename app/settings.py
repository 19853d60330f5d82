"""The desktop app's own settings, kept as a small JSON file in the data folder.

Separate from the board's database so that a broken settings file never touches data,
and so tests hand in a temporary folder.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SETTINGS_FILE = "desktop.json"
DEFAULT_PORT = 8765


@dataclass
class DesktopSettings:
    # The port tried first, so the board's address (and bookmarks) stay the same.
    port: int = DEFAULT_PORT
    # Tray messages when someone comments on, assigns to or mentions the owner.
    notifications: bool = True
    # Serve the LAN listener over TLS (a self-signed certificate) while sharing.
    lan_tls: bool = False
    # Ask the release feed for a newer version (app/updates.py); off until turned on.
    check_updates: bool = False

    @classmethod
    def load(cls, data_dir: Path) -> DesktopSettings:
        path = data_dir / SETTINGS_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            log.warning("ignoring unreadable settings file %s", path)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        valid = {
            "port": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 65536,
            "notifications": lambda v: isinstance(v, bool),
            "lan_tls": lambda v: isinstance(v, bool),
            "check_updates": lambda v: isinstance(v, bool),
        }
        # Unknown or malformed entries (a newer version's, a hand edit) are ignored.
        values = {key: value for key, value in raw.items() if key in valid and valid[key](value)}
        return cls(**values)

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / SETTINGS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        # Atomic on every OS: a crash leaves the old file or the new one.
        os.replace(tmp, path)
