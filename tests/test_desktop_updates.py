"""The opt-in update check against a stand-in release feed: a real aiohttp server on
127.0.0.1 serving GitHub-style releases JSON, counting every request it gets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

import server
from app.autostart import Autostart
from app.controller import TrayController
from app.settings import DesktopSettings
from app.updates import Release, UpdateChecker, UpdateCheckError, check, newer_release
from tests.desktop_support import BackgroundLoop

pytestmark = pytest.mark.desktop

PAGE = "https://github.com/example/tandem/releases/tag/v{}"


def release(version: str, **extra: Any) -> dict[str, Any]:
    return {"tag_name": f"v{version}", "html_url": PAGE.format(version), **extra}


@dataclass
class Feed:
    url: str
    body: Any = None
    raw: bytes | None = None
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def feed() -> Iterator[Feed]:
    loop = BackgroundLoop()
    state = Feed(url="")

    async def latest(request: web.Request) -> web.StreamResponse:
        state.requests.append(request.headers.get("User-Agent", ""))
        if state.raw is not None:
            return web.Response(body=state.raw, content_type="application/json")
        return web.json_response(state.body)

    async def start() -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_get("/repos/example/tandem/releases/latest", latest)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, runner.addresses[0][1]

    runner, port = loop.run(start())
    state.url = f"http://127.0.0.1:{port}/repos/example/tandem/releases/latest"
    try:
        yield state
    finally:
        loop.run(runner.cleanup())
        loop.close()


def test_a_newer_release_is_found_and_the_same_or_older_is_not(feed: Feed) -> None:
    feed.body = release("0.9.0")
    assert check(feed.url, current="0.8.1") == Release("0.9.0", PAGE.format("0.9.0"))
    assert check(feed.url, current="0.9.0") is None
    assert check(feed.url, current="1.0.0") is None
    assert feed.requests == ["Tandem/0.8.1", "Tandem/0.9.0", "Tandem/1.0.0"]


def test_drafts_prereleases_and_lists_are_understood() -> None:
    feed = [
        release("2.0.0rc1", prerelease=True),
        release("1.5.0", draft=True),
        release("1.2.0"),
        release("1.10.0"),
        {"tag_name": "nightly", "html_url": "https://example.invalid/"},
    ]
    assert newer_release(feed, "1.1.0") == Release("1.10.0", PAGE.format("1.10.0"))
    assert newer_release([release("3.0.0", html_url="javascript:alert(1)")], "1.0.0") is None


@pytest.mark.parametrize("raw", [b"<html>rate limited</html>", b'{"message": "Not Found"}'])
def test_a_feed_that_is_not_a_release_is_a_clear_error(feed: Feed, raw: bytes) -> None:
    feed.raw = raw
    with pytest.raises(UpdateCheckError, match="release feed"):
        check(feed.url, current="0.1.0")


def test_an_unreachable_feed_is_a_clear_error(feed: Feed) -> None:
    closed = feed.url.replace("/repos/", "/nothing-here/")
    with pytest.raises(UpdateCheckError, match="could not reach"):
        check(closed, current="0.1.0")


class Checker:
    def __init__(self, qtbot: QtBot, feed: Feed, enabled: bool, current: str = "0.1.0") -> None:
        self.menu = QMenu()
        self.toggled: list[bool] = []
        self.notices: list[tuple[str, str]] = []
        self.opened: list[str] = []
        self.checker = UpdateChecker(
            self.menu,
            enabled=enabled,
            on_toggle=self.toggled.append,
            notify=lambda title, message: self.notices.append((title, message)),
            open_url=self.opened.append,
            url=feed.url,
            current=current,
        )

    def close(self) -> None:
        self.checker.close()


def test_nothing_is_contacted_until_the_person_turns_checking_on(qtbot: QtBot, feed: Feed) -> None:
    feed.body = release("0.2.0")
    harness = Checker(qtbot, feed, enabled=False)
    try:
        harness.checker.start()
        assert not harness.checker.toggle.isChecked()
        # Every request goes through check_now(), so none was even queued.
        assert harness.checker.checks == 0
        assert feed.requests == []
        assert not harness.checker.available.isVisible()

        harness.checker.toggle.setChecked(True)
        assert harness.toggled == [True]
        qtbot.waitUntil(lambda: harness.checker.available.isVisible(), timeout=10_000)
        assert len(feed.requests) == 1
        assert harness.checker.available.text() == "Tandem 0.2.0 is available…"
        assert harness.notices[-1][0] == "A new Tandem is available"
        harness.checker.available.trigger()
        assert harness.opened == [PAGE.format("0.2.0")]

        harness.checker.toggle.setChecked(False)
        assert harness.toggled == [True, False]
        assert not harness.checker.available.isVisible()
    finally:
        harness.close()


def test_when_on_it_checks_at_start_and_says_nothing_when_up_to_date(
    qtbot: QtBot, feed: Feed
) -> None:
    feed.body = release("0.1.0")
    harness = Checker(qtbot, feed, enabled=True)
    try:
        harness.checker.start()
        qtbot.waitUntil(lambda: harness.checker.checks == 1 and len(feed.requests) == 1)
        qtbot.waitUntil(lambda: harness.checker.release is None and not harness.notices)
        assert not harness.checker.available.isVisible()
    finally:
        harness.close()


def test_a_failed_check_is_reported_once(qtbot: QtBot, feed: Feed) -> None:
    feed.raw = b"not json"
    harness = Checker(qtbot, feed, enabled=True)
    try:
        harness.checker.start()
        qtbot.waitUntil(lambda: bool(harness.notices), timeout=10_000)
        assert harness.notices == [("Could not check for updates", harness.checker.last_error)]
        assert "not JSON" in harness.checker.last_error
    finally:
        harness.close()


def test_the_tray_menu_offers_it_off_by_default_and_remembers_the_choice(
    qtbot: QtBot, feed: Feed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEM_UPDATE_FEED", feed.url)
    feed.body = release("99.0.0")
    data_dir = tmp_path / "data"
    controller = TrayController(
        data_dir, open_url=lambda _: None, autostart=Autostart(home=tmp_path, platform="linux")
    )
    try:
        assert controller.updates.toggle.text() == "Check for updates"
        assert controller.updates.toggle in controller.menu.actions()
        assert not controller.updates.enabled
        controller.updates.start()
        assert controller.updates.checks == 0 and feed.requests == []
        controller.updates.toggle.setChecked(True)
        assert DesktopSettings.load(data_dir).check_updates
        qtbot.waitUntil(lambda: controller.updates.available.isVisible(), timeout=10_000)
        assert feed.requests == [f"Tandem/{server.__version__}"]
    finally:
        controller.shutdown()
    again = TrayController(
        data_dir, open_url=lambda _: None, autostart=Autostart(home=tmp_path, platform="linux")
    )
    try:
        assert again.updates.enabled
    finally:
        again.shutdown()


def test_about_shows_the_version(tmp_path: Path, qtbot: QtBot) -> None:
    controller = TrayController(
        tmp_path, open_url=lambda _: None, autostart=Autostart(home=tmp_path, platform="linux")
    )
    try:
        assert f"Tandem {server.__version__}" in controller.about_text()
    finally:
        controller.shutdown()
