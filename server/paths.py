"""Where Tandem keeps its files. The only module that asks platformdirs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import platformdirs

APP_NAME = "Tandem"
DATA_DIR_ENV = "TANDEM_DATA_DIR"


def default_data_dir() -> Path:
    """The per-user data folder, or ``$TANDEM_DATA_DIR`` when set."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, as every subcommand that opens the database takes it."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the database lives (default: ${DATA_DIR_ENV} or the user data folder)",
    )


def chosen_data_dir(given: Path | None) -> Path:
    """The ``--data-dir`` given, else the default one."""
    return given if given is not None else default_data_dir()


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def database_path(data_dir: Path) -> Path:
    return data_dir / "tandem.sqlite3"


def backups_dir(data_dir: Path) -> Path:
    return data_dir / "backups"


def attachments_dir(data_dir: Path) -> Path:
    """Attachment content, by SHA-256; beside a database, or beside its backups."""
    return data_dir / "attachments"
