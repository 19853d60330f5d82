"""Attachments in real Chromium: a file chosen in one browser appears live in the other's task
panel, an image as a thumbnail; a pasted image in a comment is attached and shown in the comment;
a file over the limit is refused with a notice; screenshots in both themes; axe-clean."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, person, shoot
from tests.e2e.test_accessibility import axe_clean

pytestmark = pytest.mark.e2e


def png(width: int, height: int, colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def test_a_file_attached_in_one_browser_appears_in_the_other(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    task = server.api(
        "POST", f"/api/v1/projects/{project['id']}/tasks", {"title": "Fix the upload page"}
    )
    url = f"{server.url}/#/p/{project['id']}/t/{task['id']}"
    ana = person(browser, server, "Ana", bypass_csp=True)
    ben = person(browser, server, "Ben")
    for page in (ana, ben):
        page.goto(url)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
        expect(page.get_by_test_id("attachments")).to_contain_text("No files yet")

    picture = tmp_path / "screenshot.png"
    picture.write_bytes(png(800, 500, "#5e6ad2"))
    notes = tmp_path / "notes <script>.html"
    notes.write_text("<script>alert(1)</script>")
    ana.get_by_label("Choose files to attach").set_input_files([str(picture), str(notes)])

    for page in (ana, ben):
        files = page.get_by_test_id("attachment")
        expect(files).to_have_count(2)
        expect(files.filter(has_text="screenshot.png")).to_contain_text("800\u00d7500")
        expect(files.filter(has_text="notes <script>.html")).to_contain_text("HTML")
    # The image shows as its thumbnail, really decoded by the browser.
    thumb = ben.get_by_test_id("attachment").filter(has_text="screenshot.png").locator("img")
    expect(thumb).to_have_js_property("complete", True)
    assert thumb.evaluate("img => img.naturalWidth") == 320
    # The HTML file is a download, never a page of the board.
    link = ben.get_by_role("link", name="notes <script>.html")
    with ben.expect_download() as download:
        link.click()
    # (Chromium itself replaces the < and > a file name may not have on every system.)
    assert download.value.suggested_filename == "notes _script_.html"
    assert Path(download.value.path()).read_text() == "<script>alert(1)</script>"

    # A pasted image in a comment is attached and shown in the comment.
    ana.get_by_label("New comment").focus()
    ana.evaluate(
        """async (bytes) => {
          const file = new File([new Uint8Array(bytes)], "pasted.png", { type: "image/png" });
          const data = new DataTransfer();
          data.items.add(file);
          const box = document.querySelector('[aria-label="New comment"]');
          const paste = { clipboardData: data, bubbles: true, cancelable: true };
          box.dispatchEvent(new ClipboardEvent("paste", paste));
        }""",
        list(png(40, 30, "orange")),
    )
    expect(ana.get_by_label("New comment")).to_have_value(
        re.compile(r"!\[pasted\.png\]\(/api/v1/attachments/[^)]+/content\)")
    )
    ana.get_by_role("button", name="Comment", exact=True).click()
    comment_image = ben.locator(".comment img")
    expect(comment_image).to_have_count(1)
    expect(comment_image).to_have_js_property("naturalWidth", 40)
    expect(ben.get_by_test_id("attachment")).to_have_count(3)
    # The card on the board says how many files the task has.
    expect(ben.get_by_test_id("card").locator(".card-files")).to_have_attribute("title", "3 files")
    shoot(ben, "attachments-panel")
    comment_image.scroll_into_view_if_needed()
    shoot(ben, "attachments-comment")
    axe_clean(ana, "task panel with attachments")

    # Removing one is live too.
    ana.get_by_role("button", name="Remove notes <script>.html").click()
    expect(ben.get_by_test_id("attachment")).to_have_count(2)
    # And can be taken back: the same file comes back, for Ben too.
    ana.get_by_role("button", name="Undo").click()
    expect(ben.get_by_test_id("attachment")).to_have_count(3)
    expect(ben.get_by_test_id("attachment").filter(has_text="notes <script>.html")).to_have_count(1)


def test_a_file_over_the_limit_is_refused_with_a_notice(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    project = server.api("POST", "/api/v1/projects", {"name": "Website", "key": "WEB"})
    task = server.api("POST", f"/api/v1/projects/{project['id']}/tasks", {"title": "Big file"})
    page = person(browser, server, "Ana")
    page.goto(f"{server.url}/#/p/{project['id']}/t/{task['id']}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    big = tmp_path / "video.mp4"
    with big.open("wb") as out:
        out.truncate(server.server.config.max_attachment_bytes + 1)
    page.get_by_label("Choose files to attach").set_input_files(str(big))
    expect(page.get_by_text("Couldn't attach video.mp4")).to_be_visible()
    expect(page.get_by_text("larger than the 25 MiB")).to_be_visible()
    expect(page.get_by_test_id("attachment")).to_have_count(0)
