"""Schema migrations, keyed by ``PRAGMA user_version``.

Each migration is frozen SQL: it must keep producing the same schema whatever the models
say later. Append new ones; never edit a released one. Before migrating an existing file,
``migrate`` backs it up next to itself.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from server.storage import private

log = logging.getLogger(__name__)

V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE member (
    id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    color TEXT NOT NULL,
    role INTEGER NOT NULL,
    client_id TEXT UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE project (
    id TEXT PRIMARY KEY NOT NULL,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    next_task_number INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL,
    field_versions TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE log_head (
    project_id TEXT PRIMARY KEY NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    head_seq INTEGER NOT NULL,
    floor_seq INTEGER NOT NULL
);
CREATE TABLE sprint (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    goal TEXT NOT NULL DEFAULT '',
    state INTEGER NOT NULL,
    start_date TEXT NOT NULL DEFAULT '',
    end_date TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL,
    field_versions TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX sprint_project ON sprint (project_id);
CREATE TABLE task (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    assignee_id TEXT REFERENCES member (id) ON DELETE SET NULL,
    story_points INTEGER,
    labels TEXT NOT NULL DEFAULT '[]',
    due_date TEXT NOT NULL DEFAULT '',
    sprint_id TEXT REFERENCES sprint (id) ON DELETE SET NULL,
    parent_task_id TEXT REFERENCES task (id) ON DELETE CASCADE,
    rank TEXT NOT NULL,
    version INTEGER NOT NULL,
    field_versions TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, number)
);
CREATE INDEX task_project_rank ON task (project_id, rank);
CREATE INDEX task_sprint ON task (sprint_id);
CREATE INDEX task_parent ON task (parent_task_id);
CREATE TABLE comment (
    id TEXT PRIMARY KEY NOT NULL,
    task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    author_id TEXT NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    edited_at INTEGER
);
CREATE INDEX comment_task ON comment (task_id, created_at);
CREATE TABLE event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    frame BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, seq)
);
"""

# Idempotency: the first answer to each client command id, so a replay gets it again.
V2 = """
CREATE TABLE applied_request (
    key TEXT PRIMARY KEY NOT NULL,
    answer BLOB NOT NULL,
    is_error INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX applied_request_created ON applied_request (created_at);
"""

# LAN sharing: invites (one per person, a hashed token) and the browser sessions they open.
V3 = """
CREATE TABLE invite (
    id TEXT PRIMARY KEY NOT NULL,
    member_id TEXT NOT NULL REFERENCES member (id),
    role INTEGER NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX invite_member ON invite (member_id);
CREATE TABLE session (
    id TEXT PRIMARY KEY NOT NULL,
    invite_id TEXT NOT NULL REFERENCES invite (id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX session_invite ON session (invite_id);
"""

# What each remembered command was (a hash of it), so an id reused for another command is
# refused instead of answered with the first command's result.
V4 = """
ALTER TABLE applied_request ADD COLUMN fingerprint BLOB;
"""

# Remembered ids by a fixed-size key (the SHA-256 of the scoped id, however long the id
# was), with the member who sent it and the bytes each row costs, so that one member's ids
# are kept within a budget; WITHOUT ROWID: the key is the row.
V5 = """
CREATE TABLE applied_request_v5 (
    key BLOB PRIMARY KEY NOT NULL,
    member_id TEXT NOT NULL,
    answer BLOB NOT NULL,
    is_error INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    fingerprint BLOB,
    size INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO applied_request_v5
    SELECT tandem_sha256(key), substr(key, 1, instr(key, char(31)) - 1), answer, is_error,
           created_at, fingerprint, length(answer) + 128
    FROM applied_request;
DROP TABLE applied_request;
ALTER TABLE applied_request_v5 RENAME TO applied_request;
CREATE INDEX applied_request_created ON applied_request (created_at);
CREATE INDEX applied_request_member ON applied_request (member_id, created_at);
"""

# A workflow per project: its board columns ("" for the five default ones), and the
# column each task is in ("" for the first column of its status).
V_WORKFLOW = """
ALTER TABLE project ADD COLUMN columns TEXT NOT NULL DEFAULT '';
ALTER TABLE task ADD COLUMN column_id TEXT NOT NULL DEFAULT '';
"""

# Files attached to tasks and comments; the content lives in the data folder's
# attachments/ under its SHA-256, this is what refers to it.
V_ATTACHMENTS = """
CREATE TABLE attachment (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    comment_id TEXT REFERENCES comment (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    author_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachment_task ON attachment (task_id);
CREATE INDEX attachment_project ON attachment (project_id);
CREATE INDEX attachment_sha256 ON attachment (sha256);
"""

# Sprint reports: each sprint's optional capacity; the record of every sprint (what each
# task was, as the ledger last saw it; the facts of each sprint in commit order); and the
# record frozen when a sprint completes. A database made before this knows no history: its
# tasks are taken as they stand (in their sprints now), and a sprint already running as
# started now; a sprint completed before has no record.
V_SPRINT_REPORTS = """
ALTER TABLE sprint ADD COLUMN capacity INTEGER;
CREATE TABLE sprint_ledger_task (
    task_id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    sprint_id TEXT,
    points INTEGER NOT NULL,
    done INTEGER NOT NULL,
    task_key TEXT NOT NULL,
    title TEXT NOT NULL
);
CREATE INDEX sprint_ledger_task_project ON sprint_ledger_task (project_id);
CREATE TABLE sprint_fact (
    id INTEGER PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    sprint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    points INTEGER NOT NULL,
    done INTEGER NOT NULL
);
CREATE INDEX sprint_fact_sprint ON sprint_fact (sprint_id, id);
CREATE INDEX sprint_fact_project ON sprint_fact (project_id);
CREATE TABLE sprint_record (
    sprint_id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    completed_at INTEGER NOT NULL,
    report BLOB NOT NULL
);
CREATE INDEX sprint_record_project ON sprint_record (project_id, completed_at);
INSERT INTO sprint_ledger_task
    SELECT t.id, t.project_id, t.sprint_id, COALESCE(t.story_points, 0), t.status = 5,
           p.key || '-' || t.number, t.title
    FROM task AS t JOIN project AS p ON p.id = t.project_id;
INSERT INTO sprint_fact (project_id, sprint_id, task_id, at, kind, points, done)
    SELECT t.project_id, t.sprint_id, t.id,
           CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER),
           'joined', COALESCE(t.story_points, 0), t.status = 5
    FROM task AS t JOIN sprint AS s ON s.id = t.sprint_id WHERE s.state != 3
    ORDER BY t.rowid;
INSERT INTO sprint_fact (project_id, sprint_id, task_id, at, kind, points, done)
    SELECT project_id, id, '', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER),
           'started', 0, 0
    FROM sprint WHERE state = 2;
"""

# The trash and the archive. A deleted task leaves the task table (so every read that does not
# know about the trash still sees it gone) and waits here, with its subtasks and comments as
# JSON rows, for 30 days; a deleted comment likewise. A deleted project, archived tasks and
# archived sprints stay where they are, marked here; the reads leave them out.
V_TRASH_ARCHIVE = """
CREATE TABLE task_trash (
    task_id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    deleted_at INTEGER NOT NULL,
    deleted_by TEXT NOT NULL,
    task_count INTEGER NOT NULL,
    comment_count INTEGER NOT NULL,
    rows TEXT NOT NULL
);
CREATE INDEX task_trash_project ON task_trash (project_id, deleted_at);
CREATE INDEX task_trash_deleted ON task_trash (deleted_at);
CREATE TABLE comment_trash (
    comment_id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    deleted_at INTEGER NOT NULL,
    deleted_by TEXT NOT NULL,
    row TEXT NOT NULL
);
CREATE INDEX comment_trash_deleted ON comment_trash (deleted_at);
CREATE TABLE task_archive (
    task_id TEXT PRIMARY KEY NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    archived_at INTEGER NOT NULL,
    archived_by TEXT NOT NULL,
    sprint_id TEXT REFERENCES sprint (id) ON DELETE SET NULL
);
CREATE INDEX task_archive_project ON task_archive (project_id, archived_at);
CREATE TABLE sprint_archive (
    sprint_id TEXT PRIMARY KEY NOT NULL REFERENCES sprint (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    archived_at INTEGER NOT NULL,
    archived_by TEXT NOT NULL
);
CREATE INDEX sprint_archive_project ON sprint_archive (project_id);
CREATE TABLE project_trash (
    project_id TEXT PRIMARY KEY NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    deleted_at INTEGER NOT NULL,
    deleted_by TEXT NOT NULL
);
CREATE INDEX project_trash_deleted ON project_trash (deleted_at);
"""

# The inbox: who watches which task, and each member's items (mentions, assignments,
# changes to watched tasks, due dates), each made once per member (once_key) and read or not.
# Few indexes on purpose: each is a page more to write for every item of every change (the
# member's items are found through the (member_id, once_key) index).
V_INBOX = """
CREATE TABLE task_watch (
    task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES member (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, member_id)
) WITHOUT ROWID;
CREATE INDEX task_watch_member ON task_watch (member_id);
CREATE TABLE inbox_item (
    id INTEGER PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES member (id) ON DELETE CASCADE,
    kind INTEGER NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    task_key TEXT NOT NULL,
    task_title TEXT NOT NULL,
    actor_id TEXT NOT NULL DEFAULT '',
    excerpt TEXT NOT NULL DEFAULT '',
    changed_fields TEXT NOT NULL DEFAULT '[]',
    seq INTEGER NOT NULL DEFAULT 0,
    due_date TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    once_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER,
    UNIQUE (member_id, once_key)
);
CREATE INDEX inbox_item_unread ON inbox_item (member_id, id) WHERE read_at IS NULL;
"""

# Full-text search over task titles, descriptions and comments (SQLite FTS5), kept in step
# with the rows by triggers, so every write path (commands, imports, cascades) updates it in
# its own transaction. search_doc gives each indexed row a stable integer id (task and
# comment rowids are not: VACUUM may renumber a table without an INTEGER PRIMARY KEY).
V_SEARCH = """
CREATE TABLE search_doc (
    doc INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    task_id TEXT NOT NULL,
    project_id TEXT NOT NULL
);
CREATE INDEX search_doc_task ON search_doc (task_id);
CREATE VIRTUAL TABLE search_text USING fts5 (
    title, body, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER search_task_insert AFTER INSERT ON task BEGIN
    INSERT INTO search_doc (entity_id, kind, task_id, project_id)
        VALUES (new.id, 'task', new.id, new.project_id);
    INSERT INTO search_text (rowid, title, body)
        VALUES (last_insert_rowid(), new.title, new.description);
END;
CREATE TRIGGER search_task_update AFTER UPDATE OF title, description ON task BEGIN
    UPDATE search_text SET title = new.title, body = new.description
        WHERE rowid = (SELECT doc FROM search_doc WHERE entity_id = new.id);
END;
CREATE TRIGGER search_task_delete AFTER DELETE ON task BEGIN
    DELETE FROM search_text WHERE rowid = (SELECT doc FROM search_doc WHERE entity_id = old.id);
    DELETE FROM search_doc WHERE entity_id = old.id;
END;
CREATE TRIGGER search_comment_insert AFTER INSERT ON comment BEGIN
    INSERT INTO search_doc (entity_id, kind, task_id, project_id)
        VALUES (new.id, 'comment', new.task_id, new.project_id);
    INSERT INTO search_text (rowid, title, body) VALUES (last_insert_rowid(), '', new.body);
END;
CREATE TRIGGER search_comment_update AFTER UPDATE OF body ON comment BEGIN
    UPDATE search_text SET body = new.body
        WHERE rowid = (SELECT doc FROM search_doc WHERE entity_id = new.id);
END;
CREATE TRIGGER search_comment_delete AFTER DELETE ON comment BEGIN
    DELETE FROM search_text WHERE rowid = (SELECT doc FROM search_doc WHERE entity_id = old.id);
    DELETE FROM search_doc WHERE entity_id = old.id;
END;
INSERT INTO search_doc (entity_id, kind, task_id, project_id)
    SELECT id, 'task', id, project_id FROM task;
INSERT INTO search_doc (entity_id, kind, task_id, project_id)
    SELECT id, 'comment', task_id, project_id FROM comment;
INSERT INTO search_text (rowid, title, body)
    SELECT d.doc, t.title, t.description FROM search_doc AS d JOIN task AS t ON t.id = d.entity_id;
INSERT INTO search_text (rowid, title, body)
    SELECT d.doc, '', c.body FROM search_doc AS d JOIN comment AS c ON c.id = d.entity_id;
"""

# Label colours per project: one row per label that has a colour, keyed by the project and
# the label folded to lower case (a label is one label whatever its case).
V_LABELS = """
CREATE TABLE label (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    color TEXT NOT NULL
);
CREATE INDEX label_project ON label (project_id);
"""

# The content hashes of the attachments waiting in the trash, one row each, so the start's
# sweep of unreferenced files reads these and not every trash entry's JSON. A row goes with its
# entry (restore, delete forever, expiry) by cascade. Filled from the entries already there.
V_TRASH_FILES = """
CREATE TABLE trash_file (
    sha256 TEXT NOT NULL,
    task_id TEXT REFERENCES task_trash (task_id) ON DELETE CASCADE,
    comment_id TEXT REFERENCES comment_trash (comment_id) ON DELETE CASCADE,
    CHECK ((task_id IS NULL) <> (comment_id IS NULL))
);
CREATE INDEX trash_file_task ON trash_file (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX trash_file_comment ON trash_file (comment_id) WHERE comment_id IS NOT NULL;
INSERT INTO trash_file (sha256, task_id)
    SELECT json_extract(a.value, '$.sha256'), t.task_id
    FROM task_trash AS t, json_each(t.rows, '$.attachments') AS a;
INSERT INTO trash_file (sha256, comment_id)
    SELECT json_extract(a.value, '$.sha256'), c.comment_id
    FROM comment_trash AS c, json_each(c.row, '$.attachments') AS a;
"""

# How far the inbox has read each project's change log: its items are made from committed
# events after the commit, in batches, and this position moves in the same transaction as the
# items it made (nothing lost in a crash, nothing made twice). Logs that exist start at their
# head: their events had their items made in the transaction that appended them.
V_INBOX_CURSOR = """
CREATE TABLE inbox_cursor (
    project_id TEXT PRIMARY KEY NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL
);
INSERT INTO inbox_cursor (project_id, seq) SELECT project_id, head_seq FROM log_head;
"""

# Remembered ids in a table with rowids after all: a row holds the whole answer (a few
# hundred bytes), and under WITHOUT ROWID every insert at a random key moves whole rows as
# its pages split, about twice the cost of a rowid row beside a key index (measured with
# the answers commands give). Same columns and key.
V_APPLIED_REQUEST_ROWID = """
CREATE TABLE applied_request_rowid (
    key BLOB PRIMARY KEY NOT NULL,
    member_id TEXT NOT NULL,
    answer BLOB NOT NULL,
    is_error INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    fingerprint BLOB,
    size INTEGER NOT NULL
);
INSERT INTO applied_request_rowid
    SELECT key, member_id, answer, is_error, created_at, fingerprint, size FROM applied_request;
DROP TABLE applied_request;
ALTER TABLE applied_request_rowid RENAME TO applied_request;
CREATE INDEX applied_request_created ON applied_request (created_at);
CREATE INDEX applied_request_member ON applied_request (member_id, created_at);
"""

# Search's index of changed titles, descriptions and comment bodies is brought up to date
# after the command, not inside it: the FTS5 update cost a task's UPDATE about five times its
# own cost (104-129 us against 15-21 us). An update now only notes the row in search_dirty
# (once however often it changes); the domain reindexes the noted rows in one batch after
# the group commit, and a search reindexes what is left before it reads (server/domain/
# search.py), so it finds every acknowledged change. Inserts and deletes keep their triggers.
# No PostgreSQL twin: PG_V_BASE's triggers keep its tsvector in step, and search_dirty has no
# model (the index's own machinery, as search_text is).
V_SEARCH_DEFERRED = """
CREATE TABLE search_dirty (entity_id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
DROP TRIGGER search_task_update;
DROP TRIGGER search_comment_update;
CREATE TRIGGER search_task_dirty AFTER UPDATE OF title, description ON task
    WHEN new.title IS NOT old.title OR new.description IS NOT old.description BEGIN
    INSERT OR IGNORE INTO search_dirty (entity_id) VALUES (new.id);
END;
CREATE TRIGGER search_comment_dirty AFTER UPDATE OF body ON comment
    WHEN new.body IS NOT old.body BEGIN
    INSERT OR IGNORE INTO search_dirty (entity_id) VALUES (new.id);
END;
"""

# Each member's count of unread inbox items, kept by triggers in the transaction that makes,
# reads, unreads or removes an item (by any path: the inbox, the trash, a cascade), so that
# telling a member of new items reads one row instead of counting every unread item they
# have, a cost that grew with each unread item (about 0.5 ms per delivery at 10,000). No
# PostgreSQL twin: a team server's instances share the database, and one row per member that
# every writer of that member's items updates would queue them behind each other (and could
# deadlock two that tell the same members in other orders); it counts the items (see
# storage/dialect.py's unread_count).
V_INBOX_UNREAD = """
CREATE TABLE inbox_unread (
    member_id TEXT PRIMARY KEY NOT NULL,
    unread INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO inbox_unread (member_id, unread)
    SELECT member_id, count(*) FROM inbox_item WHERE read_at IS NULL GROUP BY member_id;
CREATE TRIGGER inbox_unread_insert AFTER INSERT ON inbox_item WHEN new.read_at IS NULL BEGIN
    INSERT INTO inbox_unread (member_id, unread) VALUES (new.member_id, 1)
        ON CONFLICT (member_id) DO UPDATE SET unread = unread + 1;
END;
CREATE TRIGGER inbox_unread_delete AFTER DELETE ON inbox_item WHEN old.read_at IS NULL BEGIN
    UPDATE inbox_unread SET unread = unread - 1 WHERE member_id = old.member_id;
END;
CREATE TRIGGER inbox_unread_update_old AFTER UPDATE OF read_at, member_id ON inbox_item
    WHEN old.read_at IS NULL BEGIN
    UPDATE inbox_unread SET unread = unread - 1 WHERE member_id = old.member_id;
END;
CREATE TRIGGER inbox_unread_update_new AFTER UPDATE OF read_at, member_id ON inbox_item
    WHEN new.read_at IS NULL BEGIN
    INSERT INTO inbox_unread (member_id, unread) VALUES (new.member_id, 1)
        ON CONFLICT (member_id) DO UPDATE SET unread = unread + 1;
END;
"""

# The change log keyed by what reads it: a project's events by seq (replay after a seq, the
# trim below the floor, the inbox's reads). Its integer id was read by nothing, yet as an
# AUTOINCREMENT it wrote sqlite_sequence's counter on every append, a page more per commit.
# Still a table with rowids (its rows go in at the end, pages filled) beside the key's index:
# WITHOUT ROWID, with (project_id, seq) the row itself, wrote fewer pages only for a single
# project's events of a few hundred bytes (events carry whole tasks, descriptions included);
# with several projects (each inserting in the middle of the table, splitting pages half
# full) or longer events (past a quarter page, the rest goes to an overflow page) it wrote
# up to twice the pages per commit of 64 (measured with 1 to 16 projects, events of 200 to
# 3,000 bytes).
V_EVENT_KEY = """
CREATE TABLE event_keyed (
    project_id TEXT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    frame BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, seq)
);
INSERT INTO event_keyed (project_id, seq, kind, frame, created_at)
    SELECT project_id, seq, kind, frame, created_at FROM event ORDER BY project_id, seq;
DROP TABLE event;
ALTER TABLE event_keyed RENAME TO event;
"""

# Remembered ids without their own index by time: expired ids are found through the member
# index (member_id, created_at), one range per member (idempotency.prune; on SQLite until
# V_APPLIED_REQUEST_SPENT), so each command's record writes one index page fewer.
V_APPLIED_REQUEST_ONE_TIME_INDEX = """
DROP INDEX applied_request_created;
"""

# Remembered ids without an index by member: each member's bytes are counted by triggers in
# a table of their own (as inbox_unread counts unread items), which the budget reads
# (idempotency.Ledger). A group of 100 commands from 100 members wrote a page of the member
# index for each of them, half the pages of its commit, where the counts are a page or two.
# Rows stay in the order they were remembered (rowids only grow): the budget forgets a
# member's oldest first in that order, and expired ids are found a slice of rowids at a time
# (idempotency.Pruner). No PostgreSQL twin: the instances sharing a database would queue
# behind each member's count row (as for inbox_unread); PostgreSQL keeps the member index.
V_APPLIED_REQUEST_SPENT = """
CREATE TABLE applied_request_spent (
    member_id TEXT PRIMARY KEY NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO applied_request_spent (member_id, bytes)
    SELECT member_id, sum(size) FROM applied_request GROUP BY member_id;
CREATE TRIGGER applied_request_spent_insert AFTER INSERT ON applied_request BEGIN
    INSERT INTO applied_request_spent (member_id, bytes) VALUES (new.member_id, new.size)
        ON CONFLICT (member_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER applied_request_spent_delete AFTER DELETE ON applied_request BEGIN
    UPDATE applied_request_spent SET bytes = bytes - old.size WHERE member_id = old.member_id;
END;
CREATE TRIGGER applied_request_spent_update AFTER UPDATE OF member_id, size ON applied_request
    BEGIN
    UPDATE applied_request_spent SET bytes = bytes - old.size WHERE member_id = old.member_id;
    INSERT INTO applied_request_spent (member_id, bytes) VALUES (new.member_id, new.size)
        ON CONFLICT (member_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
DROP INDEX applied_request_member;
"""

MIGRATIONS: Sequence[str] = (
    V1,
    V2,
    V3,
    V4,
    V5,
    V_SPRINT_REPORTS,
    V_INBOX,
    V_TRASH_ARCHIVE,
    V_SEARCH,
    V_LABELS,
    V_WORKFLOW,
    V_ATTACHMENTS,
    V_TRASH_FILES,
    V_INBOX_CURSOR,
    V_APPLIED_REQUEST_ROWID,
    V_SEARCH_DEFERRED,
    V_INBOX_UNREAD,
    V_EVENT_KEY,
    V_APPLIED_REQUEST_ONE_TIME_INDEX,
    V_APPLIED_REQUEST_SPENT,
)

#: PRAGMA auto_vacuum's INCREMENTAL: freed pages can be given back to the file system
#: (``PRAGMA incremental_vacuum``), so forgotten ids and trimmed history shrink the file.
AUTO_VACUUM_INCREMENTAL = 2


def _sha256(text: str | bytes) -> bytes:
    # The key hash of V5; frozen with it (UTF-8, as the domain hashes its keys).
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).digest()


LATEST = len(MIGRATIONS)


# ---- PostgreSQL -------------------------------------------------------------------------
# A team server's database (``tandem serve --database-url postgresql://...``), keyed by the
# rows of ``schema_version`` instead of ``PRAGMA user_version``. Frozen like the SQLite ones;
# its first version is the SQLite schema at V_ATTACHMENTS, column for column, in
# PostgreSQL's types: INTEGER is BIGINT (microsecond times), BLOB is BYTEA, and TEXT sorts
# byte by byte (COLLATE "C") as SQLite's does, so ranks and keys order alike on both.
# Full-text search is search_doc's own tsvector (titles weigh more than text, as in
# SQLite's bm25 weights), kept in step by triggers; accents are folded by tandem_fold (the
# letters of Latin-1 and Latin Extended-A/B, without needing the unaccent extension).

#: The letters tandem_fold folds, and what each becomes (the search query is folded alike).
FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆ"
    "ćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐő"
    "ŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚ"
    "ǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮ"
    "ȯȰȱȲȳ"
)
FOLD_TO = (
    "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaC"
    "cCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOo"
    "RrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzsOoUuAaIiOoUuUuUuUu"
    "UuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoO"
    "oOoYy"
)

PG_V_BASE = (
    """
CREATE FUNCTION tandem_fold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate($1, '"""
    + FOLD_FROM
    + """', '"""
    + FOLD_TO
    + """')
$$;
CREATE TABLE meta (
    key TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value TEXT COLLATE "C" NOT NULL
);
CREATE TABLE member (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    display_name TEXT COLLATE "C" NOT NULL,
    color TEXT COLLATE "C" NOT NULL,
    role BIGINT NOT NULL,
    client_id TEXT COLLATE "C" UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE project (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    key TEXT COLLATE "C" NOT NULL UNIQUE,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    next_task_number BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL,
    field_versions TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    columns TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE log_head (
    project_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    head_seq BIGINT NOT NULL,
    floor_seq BIGINT NOT NULL
);
CREATE TABLE sprint (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    goal TEXT COLLATE "C" NOT NULL DEFAULT '',
    state BIGINT NOT NULL,
    start_date TEXT COLLATE "C" NOT NULL DEFAULT '',
    end_date TEXT COLLATE "C" NOT NULL DEFAULT '',
    version BIGINT NOT NULL,
    field_versions TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT,
    capacity BIGINT
);
CREATE INDEX sprint_project ON sprint (project_id);
CREATE TABLE task (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    title TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    status BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    assignee_id TEXT COLLATE "C" REFERENCES member (id) ON DELETE SET NULL,
    story_points BIGINT,
    labels TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    due_date TEXT COLLATE "C" NOT NULL DEFAULT '',
    sprint_id TEXT COLLATE "C" REFERENCES sprint (id) ON DELETE SET NULL,
    parent_task_id TEXT COLLATE "C" REFERENCES task (id) ON DELETE CASCADE,
    rank TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    field_versions TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    column_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    UNIQUE (project_id, number)
);
CREATE INDEX task_project_rank ON task (project_id, rank);
CREATE INDEX task_sprint ON task (sprint_id);
CREATE INDEX task_parent ON task (parent_task_id);
CREATE TABLE comment (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    author_id TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    edited_at BIGINT
);
CREATE INDEX comment_task ON comment (task_id, created_at);
CREATE TABLE event (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    frame BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, seq)
);
CREATE TABLE invite (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    member_id TEXT COLLATE "C" NOT NULL REFERENCES member (id),
    role BIGINT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX invite_member ON invite (member_id);
CREATE TABLE session (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    invite_id TEXT COLLATE "C" NOT NULL REFERENCES invite (id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX session_invite ON session (invite_id);
CREATE TABLE applied_request (
    key BYTEA PRIMARY KEY NOT NULL,
    member_id TEXT COLLATE "C" NOT NULL,
    answer BYTEA NOT NULL,
    is_error BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    fingerprint BYTEA,
    size BIGINT NOT NULL
);
CREATE INDEX applied_request_created ON applied_request (created_at);
CREATE INDEX applied_request_member ON applied_request (member_id, created_at);
CREATE TABLE sprint_ledger_task (
    task_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    sprint_id TEXT COLLATE "C",
    points BIGINT NOT NULL,
    done BIGINT NOT NULL,
    task_key TEXT COLLATE "C" NOT NULL,
    title TEXT COLLATE "C" NOT NULL
);
CREATE INDEX sprint_ledger_task_project ON sprint_ledger_task (project_id);
CREATE TABLE sprint_fact (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    sprint_id TEXT COLLATE "C" NOT NULL,
    task_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    points BIGINT NOT NULL,
    done BIGINT NOT NULL
);
CREATE INDEX sprint_fact_sprint ON sprint_fact (sprint_id, id);
CREATE INDEX sprint_fact_project ON sprint_fact (project_id);
CREATE TABLE sprint_record (
    sprint_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    completed_at BIGINT NOT NULL,
    report BYTEA NOT NULL
);
CREATE INDEX sprint_record_project ON sprint_record (project_id, completed_at);
CREATE TABLE task_watch (
    task_id TEXT COLLATE "C" NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    member_id TEXT COLLATE "C" NOT NULL REFERENCES member (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, member_id)
);
CREATE INDEX task_watch_member ON task_watch (member_id);
CREATE TABLE inbox_item (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    member_id TEXT COLLATE "C" NOT NULL REFERENCES member (id) ON DELETE CASCADE,
    kind BIGINT NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    task_id TEXT COLLATE "C" NOT NULL,
    task_key TEXT COLLATE "C" NOT NULL,
    task_title TEXT COLLATE "C" NOT NULL,
    actor_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    excerpt TEXT COLLATE "C" NOT NULL DEFAULT '',
    changed_fields TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    seq BIGINT NOT NULL DEFAULT 0,
    due_date TEXT COLLATE "C" NOT NULL DEFAULT '',
    source TEXT COLLATE "C" NOT NULL,
    once_key TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    UNIQUE (member_id, once_key)
);
CREATE INDEX inbox_item_unread ON inbox_item (member_id, id) WHERE read_at IS NULL;
CREATE TABLE task_trash (
    task_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    deleted_at BIGINT NOT NULL,
    deleted_by TEXT COLLATE "C" NOT NULL,
    task_count BIGINT NOT NULL,
    comment_count BIGINT NOT NULL,
    rows TEXT COLLATE "C" NOT NULL
);
CREATE INDEX task_trash_project ON task_trash (project_id, deleted_at);
CREATE INDEX task_trash_deleted ON task_trash (deleted_at);
CREATE TABLE comment_trash (
    comment_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    deleted_at BIGINT NOT NULL,
    deleted_by TEXT COLLATE "C" NOT NULL,
    row TEXT COLLATE "C" NOT NULL
);
CREATE INDEX comment_trash_deleted ON comment_trash (deleted_at);
CREATE TABLE task_archive (
    task_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    archived_at BIGINT NOT NULL,
    archived_by TEXT COLLATE "C" NOT NULL,
    sprint_id TEXT COLLATE "C" REFERENCES sprint (id) ON DELETE SET NULL
);
CREATE INDEX task_archive_project ON task_archive (project_id, archived_at);
CREATE TABLE sprint_archive (
    sprint_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES sprint (id) ON DELETE CASCADE,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    archived_at BIGINT NOT NULL,
    archived_by TEXT COLLATE "C" NOT NULL
);
CREATE INDEX sprint_archive_project ON sprint_archive (project_id);
CREATE TABLE project_trash (
    project_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    deleted_at BIGINT NOT NULL,
    deleted_by TEXT COLLATE "C" NOT NULL
);
CREATE INDEX project_trash_deleted ON project_trash (deleted_at);
CREATE TABLE search_doc (
    doc BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    entity_id TEXT COLLATE "C" NOT NULL UNIQUE,
    kind TEXT COLLATE "C" NOT NULL,
    task_id TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    title TEXT COLLATE "C" NOT NULL DEFAULT '',
    body TEXT COLLATE "C" NOT NULL DEFAULT '',
    words tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', tandem_fold(title)), 'A')
        || setweight(to_tsvector('simple', tandem_fold(body)), 'B')
    ) STORED
);
CREATE INDEX search_doc_words ON search_doc USING GIN (words);
CREATE INDEX search_doc_task ON search_doc (task_id);
CREATE TABLE label (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    color TEXT COLLATE "C" NOT NULL
);
CREATE INDEX label_project ON label (project_id);
CREATE TABLE attachment (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    comment_id TEXT COLLATE "C" REFERENCES comment (id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    content_type TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    width BIGINT NOT NULL DEFAULT 0,
    height BIGINT NOT NULL DEFAULT 0,
    author_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachment_task ON attachment (task_id);
CREATE INDEX attachment_project ON attachment (project_id);
CREATE INDEX attachment_sha256 ON attachment (sha256);
CREATE FUNCTION search_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_doc (entity_id, kind, task_id, project_id, title, body)
            VALUES (NEW.id, 'task', NEW.id, NEW.project_id, NEW.title, NEW.description);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_doc SET title = NEW.title, body = NEW.description WHERE entity_id = NEW.id;
    ELSE
        DELETE FROM search_doc WHERE entity_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_task AFTER INSERT OR DELETE OR UPDATE OF title, description ON task
    FOR EACH ROW EXECUTE FUNCTION search_task_changed();
CREATE FUNCTION search_comment_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_doc (entity_id, kind, task_id, project_id, title, body)
            VALUES (NEW.id, 'comment', NEW.task_id, NEW.project_id, '', NEW.body);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_doc SET body = NEW.body WHERE entity_id = NEW.id;
    ELSE
        DELETE FROM search_doc WHERE entity_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_comment AFTER INSERT OR DELETE OR UPDATE OF body ON comment
    FOR EACH ROW EXECUTE FUNCTION search_comment_changed();
"""
)

# V_TRASH_FILES, in PostgreSQL's JSON functions.
PG_V_TRASH_FILES = """
CREATE TABLE trash_file (
    sha256 TEXT COLLATE "C" NOT NULL,
    task_id TEXT COLLATE "C" REFERENCES task_trash (task_id) ON DELETE CASCADE,
    comment_id TEXT COLLATE "C" REFERENCES comment_trash (comment_id) ON DELETE CASCADE,
    CHECK ((task_id IS NULL) <> (comment_id IS NULL))
);
CREATE INDEX trash_file_task ON trash_file (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX trash_file_comment ON trash_file (comment_id) WHERE comment_id IS NOT NULL;
INSERT INTO trash_file (sha256, task_id)
    SELECT a.value ->> 'sha256', t.task_id
    FROM task_trash AS t, json_array_elements(t."rows"::json -> 'attachments') AS a;
INSERT INTO trash_file (sha256, comment_id)
    SELECT a.value ->> 'sha256', c.comment_id
    FROM comment_trash AS c, json_array_elements(c."row"::json -> 'attachments') AS a;
"""

# V_INBOX_CURSOR. (V_APPLIED_REQUEST_ROWID has no twin: PostgreSQL's tables keep rows apart
# from their key's index already.)
PG_V_INBOX_CURSOR = """
CREATE TABLE inbox_cursor (
    project_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL
);
INSERT INTO inbox_cursor (project_id, seq) SELECT project_id, head_seq FROM log_head;
"""

# A team server's attachment content, in the database its instances share (a data folder is
# each instance's own): one row per distinct content, its kind found once, its thumbnail beside.
PG_V_BLOBS = """
CREATE TABLE blob (
    sha256 TEXT COLLATE "C" PRIMARY KEY,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    width BIGINT NOT NULL DEFAULT 0,
    height BIGINT NOT NULL DEFAULT 0,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE blob ALTER COLUMN bytes SET STORAGE EXTERNAL;
CREATE TABLE blob_thumbnail (
    sha256 TEXT COLLATE "C" PRIMARY KEY REFERENCES blob (sha256) ON DELETE CASCADE,
    bytes BYTEA NOT NULL
);
"""

# V_EVENT_KEY: the id column goes, (project_id, seq) becomes the key: one index to write
# per append instead of two (the table's rows are apart from its indexes already).
PG_V_EVENT_KEY = """
ALTER TABLE event DROP COLUMN id, ADD PRIMARY KEY (project_id, seq),
    DROP CONSTRAINT event_project_id_seq_key;
"""

# V_APPLIED_REQUEST_ONE_TIME_INDEX.
PG_V_APPLIED_REQUEST_ONE_TIME_INDEX = """
DROP INDEX applied_request_created;
"""

PG_MIGRATIONS: Sequence[str] = (
    PG_V_BASE,
    PG_V_TRASH_FILES,
    PG_V_INBOX_CURSOR,
    PG_V_BLOBS,
    PG_V_EVENT_KEY,
    PG_V_APPLIED_REQUEST_ONE_TIME_INDEX,
)
PG_LATEST = len(PG_MIGRATIONS)


class DatabaseTooNewError(RuntimeError):
    """The file was written by a newer Tandem; opening it could lose data."""


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def backup_file(conn: sqlite3.Connection, dest: Path) -> Path:
    """An online, consistent copy of the open database (safe while others write)."""
    # A new folder is the owner's only; one the person chose is left as it is, but the
    # copy holds the whole board, so it is readable by the owner only.
    dest.parent.mkdir(parents=True, exist_ok=True, mode=private.PRIVATE_DIR)
    private.private_file(dest)
    target = sqlite3.connect(dest)
    try:
        conn.backup(target)
    finally:
        target.close()
    return dest


def migrate(path: Path, conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the database to the latest version; returns the version it was at."""
    latest = len(migrations)
    # A damaged file never gets here: the store checks every page before opening it
    # (storage/health.py), so nothing is migrated over damage.
    found = user_version(conn)
    if found > latest:
        raise DatabaseTooNewError(
            f"{path} has schema version {found}, but this Tandem understands up to {latest}. "
            "It was written by a newer Tandem: install that version (or newer) to open it. "
            "Nothing was changed."
        )
    if found == latest:
        return found
    if found > 0:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        saved = backup_file(conn, path.with_name(f"{path.name}.v{found}-{stamp}.bak"))
        log.info("backed up %s to %s before migrating to version %d", path, saved, latest)
    conn.create_function("tandem_sha256", 1, _sha256, deterministic=True)
    if found == 0:
        # Set before the first table exists, it costs nothing; later it takes a VACUUM.
        conn.execute(f"PRAGMA auto_vacuum = {AUTO_VACUUM_INCREMENTAL}")
    for version in range(found + 1, latest + 1):
        # executescript commits any open transaction first; wrap each step so it lands whole.
        step = migrations[version - 1]
        conn.executescript(f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version = {version};\nCOMMIT;")
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != AUTO_VACUUM_INCREMENTAL:
        # An older file (backed up above): switching needs one full VACUUM, done once here.
        conn.execute(f"PRAGMA auto_vacuum = {AUTO_VACUUM_INCREMENTAL}")
        conn.execute("VACUUM")
    return found
