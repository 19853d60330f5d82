"""Import and export from the web UI in real Chromium: a CSV chosen, its preview (what will be
created, how columns map, changed by hand), the import with its progress, the new project on
the list; the export downloaded; axe-clean in both themes, and screenshots."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import transfer_files as files
from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e

ROWS = 3000

# Records every phase the import dialog goes through, however briefly it shows one.
WATCH_PHASES = """() => {
  window.__phases = [];
  new MutationObserver(() => {
    const dialog = document.querySelector('.modal.transfer');
    const phase = dialog && dialog.getAttribute('data-phase');
    if (phase && window.__phases.at(-1) !== phase) window.__phases.push(phase);
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
}"""


def chores(path: Path) -> Path:
    rows = [["Thing", "State", "Size", "Tags"]]
    rows += [
        [f"Chore {i}", ("todo", "doing", "finished")[i % 3], str(i % 5), "home"]
        for i in range(ROWS)
    ]
    path.write_bytes(files.csv_bytes(rows))
    return path


def test_import_a_csv_with_preview_mapping_and_progress(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    server.make_project(key="WEB", name="Website")
    page = person(browser, server, "Ada", bypass_csp=True)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import")
    page.evaluate(WATCH_PHASES)
    dialog.get_by_label("File to import").set_input_files(str(chores(tmp_path / "chores.csv")))
    # No column is named like a title: the preview says so and offers the columns to map.
    expect(dialog.get_by_text("no column for the task title")).to_be_visible()
    mapping = dialog.get_by_role("table", name="Column mapping")
    expect(mapping.get_by_role("row")).to_have_count(5)
    expect(dialog.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    dialog.get_by_label("Field for column Thing").select_option("title")
    dialog.get_by_label("Field for column State").select_option("status")
    rows = dialog.get_by_test_id("import-project")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("CHORES")
    expect(rows.first).to_contain_text(str(ROWS))
    expect(dialog.get_by_label("Field for column Size")).to_have_value("points")  # by its name
    expect(dialog.get_by_text("First tasks: CHORES-1 Chore 0")).to_be_visible()
    shoot(page, "import-preview")
    axe_clean(page, "import preview")
    dialog.get_by_label("Project key").fill("HOME")
    dialog.get_by_label("Project key").blur()
    expect(rows.first).to_contain_text("HOME")
    dialog.get_by_role("button", name="Import", exact=True).click()
    done = dialog.get_by_role("region", name="Imported")
    expect(done).to_contain_text(f"HOME chores{ROWS}")
    phases = page.evaluate("() => window.__phases")
    assert phases[-3:] == ["uploading", "importing", "done"], phases
    shoot(page, "import-done")
    axe_clean(page, "import done")
    dialog.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("project").filter(has_text="chores")).to_be_visible()
    projects = {p["key"]: p for p in server.api("GET", "/api/v1/projects")["projects"]}
    tasks = server.api("GET", f"/api/v1/projects/{projects['HOME']['id']}/tasks?pageSize=1000")
    assert {t["status"] for t in tasks["tasks"]} == {
        "TASK_STATUS_TODO", "TASK_STATUS_IN_PROGRESS", "TASK_STATUS_DONE",
    }  # fmt: skip


def test_a_bad_file_is_refused_in_the_dialog(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    page = person(browser, server, "Ada")
    page.goto(server.url)
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog", name="Import")
    bad = tmp_path / "board.json"
    bad.write_text('{"name": "x", "lists": [', encoding="utf-8")
    dialog.get_by_label("File to import").set_input_files(str(bad))
    expect(dialog.get_by_role("alert")).to_have_text(
        "line 1, column 25: the JSON file is not valid JSON (Expecting value)"
    )
    expect(dialog.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    assert server.api("GET", "/api/v1/projects") == {}


def test_download_the_export(server: LiveServer, browser: Any) -> None:
    server.make_project([{"title": "Ship it"}], key="WEB", name="Website")
    page = person(browser, server, "Ada", accept_downloads=True)
    page.goto(server.url)
    page.get_by_text("Export", exact=True).click()
    shoot(page, "export-menu")
    with page.expect_download() as everything:
        page.get_by_role("link", name="Everything (JSON only)").click()
    doc = json.loads(Path(everything.value.path()).read_text(encoding="utf-8"))
    assert doc["formatVersion"] == 1
    assert [t["title"] for t in doc["projects"][0]["tasks"]] == ["Ship it"]
    assert everything.value.suggested_filename.startswith("tandem-workspace-")
    # With its files: the same document in a .zip, beside each attachment's content.
    with page.expect_download() as zipped:
        page.get_by_role("link", name="Everything with files (ZIP)").click()
    assert zipped.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(zipped.value.path()) as archive:
        assert archive.namelist() == ["tandem-export.json"]
        inner = json.loads(archive.read("tandem-export.json"))
    assert [t["title"] for t in inner["projects"][0]["tasks"]] == ["Ship it"]
    with page.expect_download() as tasks_csv:
        page.get_by_role("link", name="WEB tasks (CSV)").click()
    text = Path(tasks_csv.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[1].startswith("WEB-1,Ship it,To do")


def test_a_board_open_elsewhere_shows_an_import_into_it_at_once(
    server: LiveServer, browser: Any
) -> None:
    project = server.make_project([{"title": "Already here"}], key="WEB", name="Website")
    page = person(browser, server, "Ben")
    page.goto(f"{server.url}/#/p/{project['id']}")
    todo = page.get_by_test_id("column-2")
    expect(todo.get_by_test_id("card")).to_have_count(1)
    expect(page.get_by_text("Live", exact=True)).to_be_visible()
    rows = [["Title", "Status"]] + [[f"Imported {i}", "To do"] for i in range(40)]
    data = base64.b64encode(files.csv_bytes(rows)).decode()
    server.api("POST", "/api/v1/imports", {"data": data, "fileName": "x.csv", "projectKey": "WEB"})
    # One project_imported event: the board reads itself afresh, with every imported card.
    expect(todo.get_by_test_id("card")).to_have_count(41)
    expect(todo.get_by_test_id("card").filter(has_text="Imported 39")).to_be_visible()
