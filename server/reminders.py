"""Due-date reminders as the days pass: once at start, then whenever the day changes.

A change of due date makes its "due today/tomorrow" items at once (``domain.inbox``); this
covers the days turning over. It looks every ``day_check_seconds`` whether the day of the
domain's clock has changed (so a suspended laptop, a time-zone change or a test's clock are
all noticed), and sweeps only then; each item is made once per task, member and day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import date

from aiohttp import web

from server.appkeys import CONFIG, DOMAIN

log = logging.getLogger(__name__)


async def _watch_days(app: web.Application) -> None:
    domain = app[DOMAIN]
    every = app[CONFIG].day_check_seconds
    swept: date | None = None
    while True:
        today = domain.today()
        if today != swept:
            try:
                await domain.sweep_due_async()
                swept = today
            except Exception:  # the storage refused: try again next time
                log.exception("could not put due dates in the inboxes")
        await asyncio.sleep(every)


async def context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the domain's): the day watcher runs while the app does."""
    task = asyncio.create_task(_watch_days(app), name="tandem-due-dates")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
