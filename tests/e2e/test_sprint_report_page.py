"""Sprint reports in real Chromium: two people plan a sprint against its capacity, it runs day by
day on the server's moved clock, it completes carrying work over, and it opens as its report
(figures, burndown and velocity charts with hover values, the tasks, a CSV download). Screenshots
of both charts in light and dark; axe-core clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean
from tests.fixtures import WEB_DIST, DayClock

pytestmark = pytest.mark.e2e


@pytest.fixture
def clock() -> DayClock:
    return DayClock("2026-11-01")


@pytest.fixture
def server(tmp_path: Path, clock: DayClock) -> Iterator[LiveServer]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.skip("web/dist is not built (cd web && npm run build)")
    srv = LiveServer(tmp_path / "data")
    srv.overrides["clock"] = clock
    srv.start()
    yield srv
    if srv.is_running:
        srv.stop()


def patch_task(server: LiveServer, task_id: str, **fields: Any) -> None:
    server.api(
        "PATCH", f"/api/v1/tasks/{task_id}", {"updateMask": ",".join(fields), "task": fields}
    )


def drawn_in(page: Any, scheme: str) -> None:
    """Switch the page's colour scheme and wait until every chart was drawn again in it."""
    page.emulate_media(color_scheme=scheme)
    page.wait_for_function(
        "s => [...document.querySelectorAll('.chart')].every(c => c.dataset.drawnFor === s)",
        arg=scheme,
    )


def sprint_section(page: Any, name: str) -> Any:
    return page.get_by_test_id("sprint").filter(has=page.locator(".sprint-name", has_text=name))


def move_to_sprint(page: Any, title: str, sprint: str) -> None:
    row = page.get_by_test_id("sprint-task").filter(has_text=title)
    row.get_by_role("combobox").select_option(label=sprint)


def test_plan_together_run_complete_with_carry_over_and_open_the_report(
    server: LiveServer, browser: Any, clock: DayClock, tmp_path: Path
) -> None:
    rows = [("A", 5), ("B", 3), ("C", 3), ("D", 5), ("F", 2)]
    project = server.make_project(
        [{"title": t, "status": "TASK_STATUS_TODO", "storyPoints": p} for t, p in rows],
        key="REP",
        name="Reports",
    )
    pid = project["id"]
    ana = person(browser, server, "Ana", bypass_csp=True, accept_downloads=True)
    ben = person(browser, server, "Ben", bypass_csp=True)
    ana.goto(f"{server.url}/#/p/{pid}/sprints")
    ben.goto(f"{server.url}/#/p/{pid}/sprints")
    for page in (ana, ben):
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")

    # Ana plans Sprint 1 with a capacity of 15 points, and Sprint 2.
    ana.get_by_role("button", name="New sprint").click()
    ana.get_by_label("Sprint name").fill("Sprint 1")
    ana.get_by_label("Start date").fill("2026-11-02")
    ana.get_by_label("End date").fill("2026-11-11")
    ana.get_by_label("Capacity in story points").fill("lots")
    expect(ana.get_by_role("button", name="Create sprint")).to_be_disabled()
    ana.get_by_label("Capacity in story points").fill("15")
    ana.get_by_role("button", name="Create sprint").click()
    ana.get_by_role("button", name="New sprint").click()
    ana.get_by_label("Sprint name").fill("Sprint 2")
    ana.get_by_label("Start date").fill("2026-11-12")
    ana.get_by_label("End date").fill("2026-11-21")
    ana.get_by_role("button", name="Create sprint").click()

    # Both plan: Ana puts A, B and C in it, Ben puts D; each sees the other's points against
    # the capacity as they go.
    ana_one, ben_one = sprint_section(ana, "Sprint 1"), sprint_section(ben, "Sprint 1")
    expect(ben_one.get_by_test_id("sprint-capacity")).to_contain_text("0 / 15 pts")
    for title in ("A", "B", "C"):
        move_to_sprint(ana, title, "Sprint 1")
    expect(ben_one.get_by_test_id("sprint-capacity")).to_contain_text("11 / 15 pts")
    move_to_sprint(ben, "D", "Sprint 1")
    expect(ana_one.get_by_test_id("sprint-capacity")).to_contain_text("16 / 15 pts · 1 over")
    expect(ben_one.get_by_test_id("sprint-capacity")).to_contain_text("16 / 15 pts · 1 over")
    expect(ben_one.get_by_role("meter", name="Capacity used")).to_have_attribute(
        "aria-valuenow", "16"
    )
    shoot(ana, "sprint-plan-capacity")
    axe_clean(ana, "the sprint plan with capacities")
    for page in (ana, ben):
        page.wait_for_function("() => tandem.store.outbox.size === 0")

    # Day 1: Ana starts it. Ben, opening the board, sees the active sprint's work by default
    # and switches to all work.
    clock.at("2026-11-02")
    ana_one.get_by_role("button", name="Start sprint").click()
    ana.wait_for_function("() => tandem.store.outbox.size === 0")
    ben.goto(f"{server.url}/#/p/{pid}")
    scope = ben.get_by_test_id("board-scope")
    expect(scope.get_by_role("button", name="Sprint 1")).to_have_attribute("aria-pressed", "true")
    expect(ben.get_by_test_id("card")).to_have_count(4)
    scope.get_by_role("button", name="All work").click()
    expect(ben.get_by_test_id("card")).to_have_count(5)
    scope.get_by_role("button", name="Sprint 1").click()
    expect(ben.get_by_test_id("card")).to_have_count(4)
    shoot(ben, "board-active-sprint")
    axe_clean(ben, "the board on the active sprint")

    # The sprint runs; Ana's plan shows its burndown following each change live.
    ana.goto(f"{server.url}/#/p/{pid}/sprints")
    burndown = ana.get_by_test_id("burndown")
    expect(burndown).to_contain_text("16 of 16 pts remaining")
    tasks = {
        t["title"]: t["id"] for t in server.api("GET", f"/api/v1/projects/{pid}/tasks")["tasks"]
    }
    sprints = {
        s["name"]: s["id"] for s in server.api("GET", f"/api/v1/projects/{pid}/sprints")["sprints"]
    }
    clock.at("2026-11-03", 15)
    patch_task(server, tasks["A"], status="TASK_STATUS_DONE")
    expect(burndown).to_contain_text("11 of 16 pts remaining")
    clock.at("2026-11-04", 11)
    patch_task(server, tasks["F"], sprintId=sprints["Sprint 1"])
    expect(burndown).to_contain_text("13 of 18 pts remaining · 16 committed, +2 added")
    clock.at("2026-11-05", 16)
    patch_task(server, tasks["C"], status="TASK_STATUS_DONE")
    clock.at("2026-11-06", 10)
    patch_task(server, tasks["B"], sprintId="")
    expect(burndown).to_contain_text(
        "7 of 15 pts remaining · 16 committed, +2 added, \N{MINUS SIGN}3 removed"
    )

    # Day 7: Ana completes it, the unfinished D and F going to Sprint 2.
    clock.at("2026-11-08", 17)
    sprint_section(ana, "Sprint 1").get_by_role("button", name="Complete sprint").click()
    dialog = ana.get_by_test_id("complete-dialog")
    expect(dialog).to_contain_text("2 unfinished tasks (7 pts) move to")
    expect(dialog.get_by_role("radio", name="Sprint 2")).to_be_checked()
    dialog.get_by_role("button", name="Complete sprint").click()
    ana.wait_for_function("() => tandem.store.outbox.size === 0")
    # A later change to a finished sprint's task leaves its record alone.
    clock.at("2026-11-09")
    patch_task(server, tasks["A"], storyPoints=13)

    # The completed sprint opens as its report.
    ana.get_by_role("button", name="Completed sprints (1)").click()
    ana.get_by_test_id("completed-sprint").get_by_role("link", name="Sprint 1").click()
    report = ana.get_by_test_id("sprint-report")
    expect(report.get_by_role("heading", name="Sprint 1 report")).to_be_visible()
    expect(report.get_by_test_id("figure-committed")).to_contain_text("16 pts")
    expect(report.get_by_test_id("figure-added")).to_contain_text("+2")
    expect(report.get_by_test_id("figure-removed")).to_contain_text("\N{MINUS SIGN}3")
    expect(report.get_by_test_id("figure-completed")).to_contain_text("8 pts")
    expect(report.get_by_test_id("figure-carried")).to_contain_text("7 pts to Sprint 2")
    expect(report.get_by_test_id("report-done").get_by_test_id("report-task")).to_have_count(2)
    expect(report.get_by_test_id("report-done")).to_contain_text("A")
    expect(report.get_by_test_id("report-carried").get_by_test_id("report-task")).to_have_count(2)
    expect(report.get_by_test_id("report-carried")).to_contain_text("added Nov 4")
    expect(report.get_by_test_id("report-removed")).to_contain_text("B")
    expect(report.get_by_test_id("burndown-chart").locator("canvas")).to_be_visible()
    expect(report.get_by_test_id("velocity-chart").locator("canvas")).to_be_visible()
    expect(report.get_by_test_id("velocity")).to_contain_text("8 points completed on average")

    # Both charts are as wide as the page's content, and show each value on hover.
    page_width = report.evaluate("e => e.clientWidth")
    for chart in ("burndown-chart", "velocity-chart"):
        box = report.get_by_test_id(chart).bounding_box()
        assert box is not None and box["width"] >= page_width - 80, (chart, box, page_width)
    over = report.get_by_test_id("burndown-chart").locator(".u-over")
    width = over.bounding_box()["width"]
    # Day 3 of 10 (index 2): scope 18 after 2 were added, 13 remaining.
    over.hover(position={"x": width * 2 / 9, "y": 40})
    legend = report.get_by_test_id("burndown-chart").locator(".u-legend")
    expect(legend).to_contain_text("Nov 4")
    for row in ("Scope : 18 pts", "Remaining : 13 pts", "Ideal : 12.44 pts"):
        expect(legend.get_by_role("row", name=row, exact=True)).to_be_visible()
    velocity_over = report.get_by_test_id("velocity-chart").locator(".u-over")
    velocity_over.hover(position={"x": velocity_over.bounding_box()["width"] / 2, "y": 60})
    velocity_legend = report.get_by_test_id("velocity-chart").locator(".u-legend")
    for row in ("Sprint : Sprint 1", "Committed : 16 pts", "Completed : 8 pts"):
        expect(velocity_legend.get_by_role("row", name=row, exact=True)).to_be_visible()
    report.get_by_text("The figures, day by day").click()
    expect(report.get_by_test_id("burndown-day")).to_have_count(7)

    # The CSV has the same record.
    with ana.expect_download() as download_info:
        report.get_by_test_id("report-csv").click()
    download = download_info.value
    assert download.suggested_filename == "sprint-1-report.csv"
    saved = tmp_path / "report.csv"
    download.save_as(saved)
    lines = saved.read_bytes().decode("utf-8").split("\r\n")
    assert lines[1] == "Sprint 1,16,2,3,8,7,7,Sprint 2,15,true"
    assert lines[4:11] == [
        "2026-11-02,0,0,0,16,16,16",
        "2026-11-03,0,0,5,16,11,14.22",
        "2026-11-04,2,0,0,18,13,12.44",
        "2026-11-05,0,0,3,18,10,10.67",
        "2026-11-06,0,3,0,15,7,8.89",
        "2026-11-07,0,0,0,15,7,7.11",
        "2026-11-08,0,0,0,15,7,5.33",
    ]

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        drawn_in(ana, scheme)
        ana.mouse.move(0, 0)
        ana.screenshot(path=str(SCREENSHOTS / f"sprint-report-{scheme}.png"), full_page=True)
        for chart in ("burndown", "velocity"):
            # Hovering a day (a sprint) shows its values in the legend, as the picture shows.
            target = report.get_by_test_id(f"{chart}-chart").locator(".u-over")
            target_width = target.bounding_box()["width"]
            target.hover(
                position={"x": target_width * (2 / 9 if chart == "burndown" else 0.5), "y": 40}
            )
            report.get_by_test_id(chart).screenshot(
                path=str(SCREENSHOTS / f"{chart}-chart-{scheme}.png")
            )
    drawn_in(ana, "light")
    axe_clean(ana, "the sprint report")
