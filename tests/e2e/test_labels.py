"""Labels managed in real Chromium: colours, rename and merge on the labels page, seen live by a
second person on the board; screenshots and axe in both themes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def test_labels_colour_rename_and_merge_live(server: LiveServer, browser: Any) -> None:
    project = server.make_project(
        [
            {"title": "Crash on save", "labels": ["bug", "ui"]},
            {"title": "Typo in footer", "labels": ["Bug"]},
            {"title": "Wrong colour", "labels": ["defect"]},
            {"title": "Dark theme", "labels": ["ui"]},
        ]
    )
    pid = project["id"]
    ana = person(browser, server, "Ana", bypass_csp=True)
    ben = person(browser, server, "Ben")
    ben.goto(f"{server.url}/#/p/{pid}")
    expect(ben.get_by_test_id("card")).to_have_count(4)
    ana.goto(f"{server.url}/#/p/{pid}")
    ana.get_by_role("link", name="Manage labels").click()
    rows = ana.get_by_test_id("label-row")
    # One row per label whatever its case, with its tasks counted.
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("bug")
    expect(rows.nth(0)).to_contain_text("2 tasks")

    # A colour shows on everyone's cards as a dot beside the label.
    rows.nth(0).get_by_role("button", name="Red").click()
    crash = ben.get_by_test_id("card").filter(has_text="Crash on save")
    expect(crash.locator(".label[data-color='#e5484d']")).to_have_text("bug")
    expect(crash.locator(".label-dot")).to_have_count(1)

    # Rename: every task carrying it changes, live, and the colour follows.
    rows.nth(0).get_by_role("button", name="Rename").click()
    ana.get_by_label("New name for bug").fill("Bug report")
    ana.get_by_label("New name for bug").press("Enter")
    expect(crash.locator(".label").first).to_have_text("Bug report")
    expect(crash.locator(".label[data-color='#e5484d']")).to_have_count(1)
    typo = ben.get_by_test_id("card").filter(has_text="Typo in footer")
    expect(typo.locator(".label")).to_have_text(["Bug report"])
    shoot(ana, "labels-page")
    axe_clean(ana, "labels page")

    # Merge defect into it: one label left, on all three tasks.
    ana.get_by_label("Merge defect into").select_option("Bug report")
    expect(rows).to_have_count(2)
    expect(ana.locator("[data-label='Bug report']")).to_contain_text("3 tasks")
    wrong = ben.get_by_test_id("card").filter(has_text="Wrong colour")
    expect(wrong.locator(".label")).to_have_text(["Bug report"])
    tasks = {t["title"]: t for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]}
    assert tasks["Crash on save"]["labels"] == ["Bug report", "ui"]
    assert tasks["Wrong colour"]["labels"] == ["Bug report"]
    # Case-insensitive to the end: the board's label filter has the one label.
    ben.get_by_test_id("filter-label").locator("select").select_option(label="Bug report")
    expect(ben.get_by_test_id("card")).to_have_count(3)
