"""Files in other tools' export formats, written as those tools describe them, for the
import tests and the import benchmark (never copied from the tools themselves)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

TABLES = ("member", "project", "log_head", "sprint", "task", "comment", "event", "meta")


def all_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the board, for "nothing changed" comparisons."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def trello_board(cards: int = 0) -> dict[str, Any]:
    """A Trello board export (JSON): lists, cards, labels, members, checklists, comments."""
    board: dict[str, Any] = {
        "id": "5f1b0a0000000000000000b1",
        "name": "Website relaunch",
        "desc": "Everything for the new site",
        "closed": False,
        "url": "https://trello.com/b/AbCdEf12/website-relaunch",
        "prefs": {"permissionLevel": "private", "background": "blue"},
        "labels": [
            {"id": "lab1", "idBoard": "5f1b0a0000000000000000b1", "name": "Bug", "color": "red"},
            {"id": "lab2", "idBoard": "5f1b0a0000000000000000b1", "name": "", "color": "green"},
        ],
        "lists": [
            {"id": "list1", "name": "To Do", "closed": False, "pos": 16384},
            {"id": "list2", "name": "Doing", "closed": False, "pos": 32768},
            {"id": "list3", "name": "Done ✔", "closed": False, "pos": 49152},
            {"id": "list4", "name": "Parking lot", "closed": False, "pos": 65536},
            {"id": "list5", "name": "Old stuff", "closed": True, "pos": 81920},
        ],
        "members": [
            {"id": "mem1", "fullName": "Ada Lovelace", "username": "ada"},
            {"id": "mem2", "fullName": "Grace Hopper", "username": "grace"},
        ],
        "cards": [
            {
                "id": "card1", "name": "Fix the header", "desc": "It **jumps** on scroll",
                "closed": False, "idList": "list1", "pos": 1, "due": "2026-12-24T12:00:00.000Z",
                "dueComplete": False, "idLabels": ["lab1", "lab2"], "idMembers": ["mem1"],
                "idChecklists": ["cl1"], "dateLastActivity": "2026-11-20T09:30:00.000Z",
            },
            {
                "id": "card2", "name": "Write the copy", "desc": "", "closed": False,
                "idList": "list2", "pos": 2, "due": None, "idLabels": [], "idMembers": ["mem2"],
            },
            {
                "id": "card3", "name": "Pick a font", "desc": "", "closed": False,
                "idList": "list3", "pos": 3, "idLabels": [], "idMembers": [],
            },
            {
                "id": "card4", "name": "Someday: dark mode", "desc": "", "closed": False,
                "idList": "list4", "pos": 4, "idLabels": [], "idMembers": [],
            },
            {"id": "card5", "name": "Archived card", "closed": True, "idList": "list1", "pos": 5},
            {"id": "card6", "name": "In an archived list", "closed": False, "idList": "list5",
             "pos": 6},
        ],
        "checklists": [
            {
                "id": "cl1", "idCard": "card1", "name": "Steps",
                "checkItems": [
                    {"id": "ci1", "name": "Reproduce", "state": "complete", "pos": 1},
                    {"id": "ci2", "name": "Patch the CSS", "state": "incomplete", "pos": 2},
                ],
            }
        ],
        "actions": [
            {
                "id": "act1", "type": "commentCard", "date": "2026-11-21T10:00:00.000Z",
                "idMemberCreator": "mem2", "memberCreator": {"fullName": "Grace Hopper"},
                "data": {"text": "Seen on Safari too", "card": {"id": "card1", "name": "x"}},
            },
            {
                "id": "act2", "type": "commentCard", "date": "2026-11-22T10:00:00.000Z",
                "idMemberCreator": "mem9", "memberCreator": {"fullName": "Linus Guest"},
                "data": {"text": "Fixed upstream?", "card": {"id": "card1"}},
            },
            {"id": "act3", "type": "updateCard", "date": "2026-11-22T11:00:00.000Z",
             "data": {"card": {"id": "card1"}}},
        ],
    }  # fmt: skip
    for i in range(cards):
        board["cards"].append(
            {"id": f"bulk{i}", "name": f"Card {i}", "desc": "words " * 10, "closed": False,
             "idList": f"list{1 + i % 4}", "pos": 10 + i, "idLabels": ["lab1"] if i % 3 else [],
             "idMembers": ["mem1"] if i % 2 else []}
        )  # fmt: skip
    return board


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def jira_csv() -> bytes:
    """Jira's "Export issues → CSV (all fields)": one column per value of a repeated field."""
    header = [
        "Summary",
        "Issue key",
        "Issue id",
        "Issue Type",
        "Status",
        "Project key",
        "Project name",
        "Priority",
        "Assignee",
        "Reporter",
        "Created",
        "Updated",
        "Due date",
        "Description",
        "Labels",
        "Labels",
        "Sprint",
        "Sprint",
        "Custom field (Story Points)",
        "Custom field (Story point estimate)",
        "Parent id",
        "Comment",
        "Comment",
    ]
    return csv_bytes([
        header,
        ["Login page", "SHOP-1", "10001", "Story", "In Progress", "SHOP", "Shop", "Highest",
         "Ada Lovelace", "Grace Hopper", "12/Nov/26 9:15 AM", "20/Nov/26 4:02 PM", "24/Dec/26",
         "As a user I log in", "auth", "frontend", "SHOP Sprint 1", "SHOP Sprint 2", "5", "",
         "", "13/Nov/26 10:00 AM;Grace Hopper;Please add SSO",
         "14/Nov/26 11:30 AM;Ada;Done; see PR"],
        ["Password reset", "SHOP-2", "10002", "Sub-task", "To Do", "SHOP", "Shop", "Low",
         "", "Ada Lovelace", "13/Nov/26 9:15 AM", "13/Nov/26 9:15 AM", "", "", "auth", "",
         "SHOP Sprint 2", "", "", "3", "10001", "", ""],
        ["Checkout bug", "SHOP-3", "10003", "Bug", "Done", "SHOP", "Shop", "High", "Grace Hopper",
         "Grace Hopper", "14/Nov/26 9:15 AM", "15/Nov/26 9:15 AM", "", "Totals are off", "", "",
         "", "", "", "", "", "", ""],
    ])  # fmt: skip


def linear_csv() -> bytes:
    """Linear's workspace export (Settings → Import/Export → Export CSV)."""
    return csv_bytes([
        ["ID", "Team", "Title", "Description", "Status", "Estimate", "Priority", "Project ID",
         "Project", "Creator", "Assignee", "Labels", "Cycle Number", "Cycle Name", "Triage",
         "Due Date", "Created", "Updated", "Started", "Completed", "Canceled", "Archived",
         "Parent issue"],
        ["ENG-1", "Engineering", "Set up CI", "Run tests on push", "In Progress", "3", "Urgent",
         "", "", "Ada", "Ada", "infra, ci", "1", "Cycle 1", "", "2026-12-20",
         "2026-11-01T09:00:00.000Z", "2026-11-02T09:00:00.000Z", "", "", "", "", ""],
        ["ENG-2", "Engineering", "Cache dependencies", "", "Todo", "1", "Medium", "", "", "Ada",
         "", "ci", "1", "Cycle 1", "", "", "2026-11-03T09:00:00.000Z",
         "2026-11-03T09:00:00.000Z", "", "", "", "", "ENG-1 Set up CI"],
        ["ENG-3", "Engineering", "Old idea", "", "Canceled", "", "No priority", "", "", "Ada",
         "", "", "", "", "", "", "2026-11-04T09:00:00.000Z", "2026-11-04T09:00:00.000Z", "",
         "", "2026-11-05T09:00:00.000Z", "", ""],
    ])  # fmt: skip


def focalboard_board_lines(board_id: str = "bdx1") -> list[dict[str, Any]]:
    """One board's JSONL records (the board with its card properties, blocks, members)."""
    return [
        {"type": "board", "data": {
            "id": board_id, "teamId": "0", "type": "P", "title": "Roadmap",
            "description": "Our plans", "createAt": 1763900000000, "updateAt": 1763900000000,
            "cardProperties": [
                {"id": "pst", "name": "Status", "type": "select", "options": [
                    {"id": "o1", "value": "Not Started", "color": "propColorRed"},
                    {"id": "o2", "value": "In Progress", "color": "propColorYellow"},
                    {"id": "o3", "value": "Completed 🙌", "color": "propColorGreen"}]},
                {"id": "ppr", "name": "Priority", "type": "select", "options": [
                    {"id": "h", "value": "1. High 🔥", "color": "propColorRed"},
                    {"id": "m", "value": "2. Medium", "color": "propColorYellow"},
                    {"id": "l", "value": "3. Low", "color": "propColorGray"}]},
                {"id": "pas", "name": "Assignee", "type": "person", "options": []},
                {"id": "pes", "name": "Estimated Hours", "type": "number", "options": []},
                {"id": "pdu", "name": "Due Date", "type": "date", "options": []},
                {"id": "ptg", "name": "Tags", "type": "multiSelect", "options": [
                    {"id": "t1", "value": "web", "color": "propColorBlue"},
                    {"id": "t2", "value": "mobile", "color": "propColorPink"}]},
            ]}},
        {"type": "block", "data": {
            "id": "c1", "boardId": board_id, "parentId": board_id, "type": "card",
            "title": "Ship onboarding", "createdBy": "u1", "createAt": 1763900001000,
            "updateAt": 1763900002000, "deleteAt": 0,
            "fields": {"properties": {"pst": "o2", "ppr": "h", "pas": "u1", "pes": "8",
                                      "pdu": "{\"from\":1766577600000}", "ptg": ["t1", "t2"]},
                       "contentOrder": ["tx1"]}}},
        {"type": "block", "data": {
            "id": "tx1", "boardId": board_id, "parentId": "c1", "type": "text",
            "title": "Three screens, then the board.", "createAt": 1763900001500, "deleteAt": 0}},
        {"type": "block", "data": {
            "id": "cm1", "boardId": board_id, "parentId": "c1", "type": "comment",
            "title": "Copy is ready", "createdBy": "u2", "createAt": 1763900003000,
            "deleteAt": 0}},
        {"type": "block", "data": {
            "id": "c2", "boardId": board_id, "parentId": board_id, "type": "card",
            "title": "Release notes", "createdBy": "u1", "createAt": 1763900004000,
            "updateAt": 1763900004000, "deleteAt": 0,
            "fields": {"properties": {"pst": "o3", "ppr": "l"}}}},
        {"type": "block", "data": {
            "id": "c3", "boardId": board_id, "parentId": board_id, "type": "card",
            "title": "Deleted card", "createAt": 1763900005000, "deleteAt": 1763900006000,
            "fields": {"properties": {}}}},
        {"type": "block", "data": {
            "id": "v1", "boardId": board_id, "parentId": board_id, "type": "view",
            "title": "Board view", "createAt": 1763900000000, "deleteAt": 0,
            "fields": {"viewType": "board", "groupById": "pst"}}},
        {"type": "boardMember", "data": {"boardId": board_id, "userId": "u1",
                                         "schemeAdmin": True}},
        {"type": "user", "data": {"id": "u1", "username": "ada"}},
        {"type": "user", "data": {"id": "u2", "username": "grace"}},
    ]  # fmt: skip


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")


def focalboard_archive() -> bytes:
    """A version 2 ``.boardarchive``: a zip of version.json and <board id>/board.jsonl."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("version.json", json.dumps({"version": 2, "date": 1763900009000}))
        archive.writestr("bdx1/board.jsonl", jsonl(focalboard_board_lines()))
    return out.getvalue()


def focalboard_legacy() -> bytes:
    """The legacy archive: JSON Lines, an archive line first, the board as a block."""
    lines: list[dict[str, Any]] = [{"type": "archive", "data": {"version": 1, "date": 1}}]
    for line in focalboard_board_lines("old1"):
        if line["type"] == "board":
            data = dict(line["data"])
            props = data.pop("cardProperties")
            fields = {"cardProperties": props}
            lines.append({"type": "block", "data": {**data, "type": "board", "fields": fields}})
        else:
            lines.append(line)
    return jsonl(lines)
