"""Opt-in update check: reads the release feed (GitHub's releases JSON), says when a newer
Tandem exists, and opens its release page.

Off by default and nothing is ever fetched while it is off: the person ticks "Check for
updates" in the tray menu, which checks at once and then at each start. The feed is one
URL (``TANDEM_UPDATE_FEED`` overrides it, for a mirror or a test's stand-in); both the
``/releases/latest`` object and the ``/releases`` list are understood. The request runs on
a worker thread and its answer comes back to the Qt thread by a signal.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

import server

log = logging.getLogger(__name__)

FEED_URL = "https://api.github.com/repos/tandem-board/tandem/releases/latest"
FEED_ENV = "TANDEM_UPDATE_FEED"
TIMEOUT = 10.0
MAX_FEED_BYTES = 1 << 20


class UpdateCheckError(RuntimeError):
    """The feed could not be read or understood."""


@dataclass(frozen=True)
class Release:
    version: str
    page: str


def feed_url() -> str:
    return os.environ.get(FEED_ENV) or FEED_URL


def _version(text: str) -> Version | None:
    try:
        return Version(text.strip().removeprefix("v"))
    except InvalidVersion:
        return None


def _release(entry: Any) -> tuple[Version, Release] | None:
    if not isinstance(entry, dict) or entry.get("draft") or entry.get("prerelease"):
        return None
    tag, page = entry.get("tag_name"), entry.get("html_url")
    if not isinstance(tag, str) or not isinstance(page, str) or not page.startswith("https://"):
        return None
    version = _version(tag)
    if version is None or version.is_prerelease:
        return None
    return version, Release(str(version), page)


def newer_release(feed: Any, current: str) -> Release | None:
    """The newest published release in ``feed`` if it is newer than ``current``."""
    entries = feed if isinstance(feed, list) else [feed]
    found = [pair for entry in entries if (pair := _release(entry)) is not None]
    if not found:
        if isinstance(feed, dict) and "tag_name" not in feed:
            raise UpdateCheckError("the release feed has no release in it")
        return None
    newest, release = max(found, key=lambda pair: pair[0])
    mine = _version(current)
    return release if mine is None or newest > mine else None


def check(url: str, current: str = server.__version__, timeout: float = TIMEOUT) -> Release | None:
    """Read the feed at ``url``; the newer release, or None when this is the newest."""
    request = urllib.request.Request(
        url,
        headers={"Accept": "application/vnd.github+json", "User-Agent": f"Tandem/{current}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        raise UpdateCheckError(f"could not reach {url}: {exc}") from exc
    if len(body) > MAX_FEED_BYTES:
        raise UpdateCheckError("the release feed is too large")
    try:
        feed = json.loads(body)
    except ValueError as exc:
        raise UpdateCheckError(f"the release feed is not JSON: {exc}") from exc
    return newer_release(feed, current)


class UpdateChecker(QObject):
    """The tray's "Check for updates" entry and the "Tandem X is available" one it shows."""

    # (version, page, error): a newer release, or all empty (up to date), or an error.
    _checked = Signal(str, str, str)

    def __init__(
        self,
        menu: QMenu,
        *,
        before: QAction | None = None,
        enabled: bool,
        on_toggle: Callable[[bool], None],
        notify: Callable[[str, str], None],
        open_url: Callable[[str], None],
        url: str | None = None,
        current: str = server.__version__,
    ) -> None:
        super().__init__(menu)
        self._on_toggle = on_toggle
        self._notify = notify
        self._open_url = open_url
        self._url = url or feed_url()
        self._current = current
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="tandem-updates")
        self.release: Release | None = None
        self.last_error = ""
        self.checks = 0
        self.toggle = QAction("Check for updates", menu)
        self.toggle.setCheckable(True)
        self.toggle.setChecked(enabled)
        self.toggle.setToolTip("Ask the release page whether a newer Tandem exists")
        self.toggle.toggled.connect(self._toggled)
        self.available = QAction("", menu)
        self.available.setVisible(False)
        self.available.triggered.connect(self.open_release)
        # Just above ``before`` (the tray puts them above About), or at the end.
        for action in (self.toggle, self.available):
            if before is None:
                menu.addAction(action)
            else:
                menu.insertAction(before, action)
        self._checked.connect(self._on_checked)

    @property
    def enabled(self) -> bool:
        return self.toggle.isChecked()

    def start(self) -> None:
        """At the app's start: check once, only if the person turned checking on."""
        if self.enabled:
            self.check_now()

    def check_now(self) -> None:
        self.checks += 1
        self._worker.submit(self._check)

    def _check(self) -> None:
        try:
            release = check(self._url, self._current)
        except UpdateCheckError as exc:
            log.warning("update check failed: %s", exc)
            self._checked.emit("", "", str(exc))
            return
        except Exception as exc:
            log.exception("update check failed")
            self._checked.emit("", "", str(exc))
            return
        self._checked.emit(release.version if release else "", release.page if release else "", "")

    @Slot(bool)
    def _toggled(self, enabled: bool) -> None:
        self._on_toggle(enabled)
        if enabled:
            self.check_now()
        else:
            self.available.setVisible(False)

    @Slot(str, str, str)
    def _on_checked(self, version: str, page: str, error: str) -> None:
        self.last_error = error
        if not self.enabled:
            return
        if error:
            self._notify("Could not check for updates", error)
            return
        self.release = Release(version, page) if version else None
        if self.release is None:
            self.available.setVisible(False)
            return
        self.available.setText(f"Tandem {version} is available…")
        self.available.setVisible(True)
        self._notify(
            "A new Tandem is available",
            f"Tandem {version} is out (you have {self._current}). "
            "Choose it in the tray menu to open its page.",
        )

    @Slot()
    def open_release(self) -> None:
        if self.release is not None:
            self._open_url(self.release.page)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
