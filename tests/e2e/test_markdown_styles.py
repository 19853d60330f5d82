"""Markdown cannot restyle or cover the app (checklist row 25), in real Chromium.

A description with ``style`` attributes, a ``<style>`` element and the app's own class
names renders without them, so nothing it lays out can sit over the board; and the app
itself runs under ``style-src 'self'`` (no 'unsafe-inline') without one violation.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person

pytestmark = pytest.mark.e2e

OVERLAY = (
    "Plans below.\n\n"
    '<div style="position:fixed;inset:0;z-index:99999;background:#fff" class="task-panel toolbar"'
    ' id="app">Session expired: <a href="http://evil.example/login">sign in again</a></div>\n\n'
    "<style>body { display: none }</style>\n\n"
    '<p style="color:red">**still text**</p>'
)

# Recorded from the first script on: every policy violation the page runs into.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where} ${e.sample}`);
});
"""


def test_user_markdown_renders_without_styles_classes_or_ids(
    server: LiveServer, browser: Any
) -> None:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    for title, description in (
        ("Plain task", "Some **bold** text and a [link](https://example.com)."),
        ("Innocent task", OVERLAY),
    ):
        server.api(
            "POST",
            f"/api/v1/projects/{project['id']}/tasks",
            {"title": title, "description": description},
        )
    page = person(browser, server, "Ana")
    page.add_init_script(WATCH_VIOLATIONS)
    response = page.goto(f"{server.url}/#/p/{project['id']}")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy

    # The app itself needs no inline styles: the board and an ordinary task render, and
    # nothing was refused under style-src 'self'. (Parsing the hostile description below
    # does report its style attributes, as the sanitiser reads them in an inert document.)
    page.get_by_test_id("card").filter(has_text="Plain task").click()
    expect(page.get_by_test_id("task-panel").get_by_test_id("description")).to_contain_text("bold")
    assert page.evaluate("() => window.__violations") == []

    page.get_by_test_id("card").filter(has_text="Innocent task").click()
    description = page.get_by_test_id("task-panel").get_by_test_id("description")
    expect(description).to_contain_text("Session expired")
    rendered = description.evaluate(
        """(el) => ({
            styled: el.querySelectorAll("[style]").length,
            classed: el.querySelectorAll("[class]").length,
            ids: el.querySelectorAll("[id]").length,
            styleTags: el.querySelectorAll("style").length,
            positions: [...el.querySelectorAll("*")].map((n) => getComputedStyle(n).position),
        })"""
    )
    assert rendered["styled"] == rendered["classed"] == rendered["ids"] == 0, rendered
    assert rendered["styleTags"] == 0, rendered
    assert set(rendered["positions"]) <= {"static"}, rendered
    # The app's own UI is still on top where it was: the board's middle is not the overlay.
    on_top = page.evaluate(
        "() => document.elementFromPoint(innerWidth / 2, innerHeight / 2)?.closest('.markdown')"
        " ? 'overlay' : 'app'"
    )
    assert on_top == "app"
    expect(page.get_by_test_id("task-panel")).to_be_visible()
