"""REST: labels managed per project (colours, rename, merge), over a real server."""

from __future__ import annotations

from server.runner import RunningServer
from tests.api_client import ApiClient, database_rows


async def test_colours_rename_and_merge(api: ApiClient) -> None:
    pid = (await api.make_project("WEB"))["id"]
    other = (await api.make_project("APP"))["id"]
    a = await api.make_task(pid, "A", labels=["Bug", "ui"])
    b = await api.make_task(pid, "B", labels=["bug"])  # the project's spelling: Bug
    c = await api.make_task(pid, "C", labels=["Defect", "bug"])
    elsewhere = await api.make_task(other, "Elsewhere", labels=["bug"])
    assert b["labels"] == ["Bug"]

    colour = await api.post(
        f"/api/v1/projects/{pid}/labels/color", {"label": "BUG", "color": "#E11D48"}
    )
    assert colour.status == 200, colour.json
    assert colour.json["labels"] == [{"name": "Bug", "color": "#e11d48"}]
    snap = (await api.get(f"/api/v1/projects/{pid}/snapshot")).json
    assert snap["labels"] == [{"name": "Bug", "color": "#e11d48"}]

    head = (await api.get(f"/api/v1/projects/{pid}/events")).json["headSeq"]
    # Rename, whatever the case asked: every task carrying it, and its colour, follow.
    renamed = await api.post(
        f"/api/v1/projects/{pid}/labels/rename", {"label": "bug", "newName": "Defect-ish"}
    )
    assert renamed.status == 200, renamed.json
    assert renamed.json["labels"] == [{"name": "Defect-ish", "color": "#e11d48"}]

    async def labels_of(task: dict[str, object]) -> list[str]:
        got = (await api.get(f"/api/v1/tasks/{task['id']}")).json
        return list(got.get("labels", []))

    assert await labels_of(a) == ["Defect-ish", "ui"]
    assert await labels_of(b) == ["Defect-ish"]
    assert await labels_of(c) == ["Defect", "Defect-ish"]
    assert await labels_of(elsewhere) == ["bug"]  # other projects keep theirs
    events = (await api.get(f"/api/v1/projects/{pid}/events", since=str(head))).json["events"]
    assert [next(iter(e)) for e in events] == ["taskUpdated"] * 3 + ["labelsChanged"]
    assert all(e["taskUpdated"]["updateMask"] == "labels" for e in events[:3])

    # Renaming into an existing label merges: one label per task, the target's spelling.
    await api.post(f"/api/v1/projects/{pid}/labels/color", {"label": "defect", "color": "#22c55e"})
    merged = await api.post(
        f"/api/v1/projects/{pid}/labels/rename", {"label": "defect-ISH", "newName": "DEFECT"}
    )
    assert merged.status == 200, merged.json
    # The label merged into keeps its colour.
    assert merged.json["labels"] == [{"name": "Defect", "color": "#22c55e"}]
    assert await labels_of(a) == ["Defect", "ui"]
    assert await labels_of(c) == ["Defect"]
    # A change of case only is a rename too.
    await api.post(f"/api/v1/projects/{pid}/labels/rename", {"label": "ui", "newName": "UI"})
    assert await labels_of(a) == ["Defect", "UI"]
    # The empty colour takes a colour away.
    cleared = await api.post(
        f"/api/v1/projects/{pid}/labels/color", {"label": "Defect", "color": ""}
    )
    assert cleared.json.get("labels", []) == []


async def test_bad_label_changes_are_refused_and_change_nothing(
    api: ApiClient, server: RunningServer
) -> None:
    pid = (await api.make_project("WEB"))["id"]
    await api.make_task(pid, "A", labels=["bug"])
    before = database_rows(server.config.database_path)
    cases = [
        ("color", {"label": "bug", "color": "red"}, "color"),
        ("color", {"label": "bug", "color": "#12345"}, "color"),
        ("color", {"label": "", "color": "#123456"}, "label"),
        ("color", {"label": "x" * 51, "color": "#123456"}, "label"),
        ("rename", {"label": "nope", "newName": "x"}, "label"),
        ("rename", {"label": "bug", "newName": "  "}, "newName"),
        ("rename", {"label": "bug", "newName": "y" * 51}, "newName"),
    ]
    for kind, body, field in cases:
        resp = await api.post(f"/api/v1/projects/{pid}/labels/{kind}", body)
        assert resp.status == 400, (body, resp.json)
        assert resp.error_code == "ERROR_CODE_INVALID_ARGUMENT"
        assert resp.json["error"]["field"] == field, body
    missing = await api.post("/api/v1/projects/nope/labels/rename", {"label": "a", "newName": "b"})
    assert missing.status == 404
    assert database_rows(server.config.database_path) == before
