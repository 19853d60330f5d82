"""Search everywhere: tasks of every project whose title, description or comments hold
every word asked for, best first, over the full-text index the V_SEARCH migration keeps
(SQLite FTS5; in PostgreSQL, PG_V_BASE's tsvector, in step with the rows by triggers).

In SQLite, inserts and deletes reach the index by triggers in their own transaction, but a
changed title, description or comment body is only noted (search_dirty, V_SEARCH_DEFERRED)
and reindexed by ``reindex``: in batches after the commits (see ``upkeep``), and before every
search, so a search always finds what was acknowledged before it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tandem.v1 import api_pb2

from server.domain import convert
from server.domain.errors import invalid
from server.domain.rows import execute
from server.storage import dialect, migrations
from server.storage.models import ProjectRow, TaskRow

#: Longest query, in characters, and most words in one.
MAX_QUERY = 200
MAX_WORDS = 12
MAX_PAGE = 100
MAX_OFFSET = 10_000

# A word is a run of letters and digits (what the index's unicode61 tokenizer keeps).
_WORD = re.compile(r"\w+", re.UNICODE)
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9]{1,9})-(\d{1,9})$")
# Where a match is marked in a snippet: control characters no task text can hold as markup.
MARK_START, MARK_END = "\x02", "\x03"
SNIPPET_WORDS = 16


@dataclass(frozen=True)
class SearchQuery:
    text: str
    page_size: int = 20
    page_token: str = ""


def fts_query(text: str) -> str:
    """The FTS5 query for a person's words: each word, quoted, as a prefix; all must match."""
    if len(text) > MAX_QUERY:
        raise invalid("q", f"q is longer than {MAX_QUERY} characters")
    words = _WORD.findall(text)
    if not words:
        raise invalid("q", "q must hold at least one letter or digit")
    if len(words) > MAX_WORDS:
        raise invalid("q", f"q holds more than {MAX_WORDS} words")
    return " ".join(f'"{word}"*' for word in words)


# Each matching task once, by its best match (title weighs more than the text), a page of
# them, with how many match in all: SQLite's bare columns of a min() come from the row holding
# the minimum, and the window's count runs over the groups before LIMIT cuts them.
_PAGE = """
WITH m AS MATERIALIZED (
    SELECT d.task_id AS task_id, d.doc AS doc, bm25(search_text, 4.0, 1.0) AS score
    FROM search_text JOIN search_doc AS d ON d.doc = search_text.rowid
    WHERE search_text MATCH ?1
)
SELECT task_id, doc, min(score) AS best, count(*) OVER () AS total FROM m
GROUP BY task_id ORDER BY best, task_id LIMIT ?2 OFFSET ?3
"""
# Where each of the page's best matches is, and a piece of its text: only for that page.
_SNIPPETS = """
SELECT search_text.rowid, d.kind, d.entity_id,
       instr(highlight(search_text, 0, ?2, ?3), ?2) > 0,
       snippet(search_text, -1, ?2, ?3, '…', ?4)
FROM search_text JOIN search_doc AS d ON d.doc = search_text.rowid
WHERE search_text MATCH ?1 AND search_text.rowid IN (SELECT value FROM json_each(?5))
"""


#: Noted rows (search_dirty) an upkeep reindexes at most in one transaction: a big backlog
#: (a bulk edit of many titles) is worked off a batch at a time between other work. A
#: search reindexes every noted row before it reads, however many.
REINDEX_BATCH = 256

# The noted rows of one batch (all of them: LIMIT -1), the same in each statement of one
# transaction: the first by their key.
_NOTED = "SELECT entity_id FROM search_dirty ORDER BY entity_id LIMIT ?1"
# The noted rows' text into the index, in one statement per kind, then the notes cleared
# (a noted row deleted since has no search_doc: nothing to reindex).
_REINDEX_TASKS = f"""
UPDATE search_text SET (title, body) = (
    SELECT t.title, t.description FROM search_doc AS d JOIN task AS t ON t.id = d.entity_id
    WHERE d.doc = search_text.rowid
)
WHERE rowid IN (
    SELECT d.doc FROM ({_NOTED}) AS s JOIN search_doc AS d ON d.entity_id = s.entity_id
    WHERE d.kind = 'task'
)
"""
_REINDEX_COMMENTS = f"""
UPDATE search_text SET body = (
    SELECT c.body FROM search_doc AS d JOIN comment AS c ON c.id = d.entity_id
    WHERE d.doc = search_text.rowid
)
WHERE rowid IN (
    SELECT d.doc FROM ({_NOTED}) AS s JOIN search_doc AS d ON d.entity_id = s.entity_id
    WHERE d.kind = 'comment'
)
"""
_ANY_DIRTY = "SELECT EXISTS (SELECT 1 FROM search_dirty)"
_CLEAR_DIRTY = f"DELETE FROM search_dirty WHERE entity_id IN ({_NOTED})"


def reindex(limit: int | None = None) -> bool:
    """In the current transaction: reindex the rows whose text changed since the last time,
    at most ``limit`` of them (None: all), in SQLite (PostgreSQL's triggers keep its index
    in step). True when noted rows are left for another time."""
    if not dialect.current().file_backed or not execute(_ANY_DIRTY).fetchone()[0]:
        return False
    batch = (-1 if limit is None else limit,)
    execute(_REINDEX_TASKS, batch)
    execute(_REINDEX_COMMENTS, batch)
    cleared = execute(_CLEAR_DIRTY, batch).rowcount
    return limit is not None and cleared >= limit and bool(execute(_ANY_DIRTY).fetchone()[0])


def _offset(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit() or int(token) > MAX_OFFSET:
        raise invalid("pageToken", "pageToken is not one this server gave")
    return int(token)


def _by_key(text: str, projects: dict[str, ProjectRow]) -> TaskRow | None:
    found = _KEY.match(text.strip())
    if found is None:
        return None
    key = found.group(1).upper()
    project = next((p for p in projects.values() if p.key == key), None)
    if project is None:
        return None
    return TaskRow.get_or_none(
        (TaskRow.project_id == project.id) & (TaskRow.number == int(found.group(2)))
    )


# The same two statements over PostgreSQL's index (search_doc's own tsvector, see the
# PG_V_BASE migration): ts_rank with the title weighing four times the text (higher is
# better), and ts_headline marking the words, as highlight() and snippet() do.
_PG_RANK_WEIGHTS = "{0, 0, 0.25, 1.0}"
_PG_PAGE = f"""
WITH m AS MATERIALIZED (
    SELECT d.task_id AS task_id, d.doc AS doc, ts_rank('{_PG_RANK_WEIGHTS}', d.words, q) AS score
    FROM search_doc AS d, to_tsquery('simple', ?) AS q
    WHERE d.words @@ q
), best AS (
    SELECT DISTINCT ON (task_id) task_id, doc, score FROM m ORDER BY task_id, score DESC, doc
)
SELECT task_id, doc, score, count(*) OVER () AS total FROM best
ORDER BY score DESC, task_id LIMIT ? OFFSET ?
"""
_PG_SNIPPETS = """
SELECT doc, kind, entity_id, strpos(in_title, ?) > 0,
       CASE WHEN strpos(in_body, ?) > 0 THEN in_body ELSE in_title END
FROM (
    SELECT d.doc, d.kind, d.entity_id,
           ts_headline('simple', d.title, q, ?) AS in_title,
           ts_headline('simple', d.body, q, ?) AS in_body
    FROM search_doc AS d, to_tsquery('simple', ?) AS q
    WHERE d.doc = ANY(?)
) AS h
"""
_FOLD = str.maketrans(migrations.FOLD_FROM, migrations.FOLD_TO)


def _pg_query(text: str) -> str:
    """The tsquery for a person's words: each word (folded as the index folds it) a prefix."""
    fts_query(text)  # the same limits and refusals
    return " & ".join(f"'{word}':*" for word in _WORD.findall(text.translate(_FOLD)))


def _pg_headline(words: int) -> str:
    return (
        f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords={words}, "
        f"MinWords={max(1, words // 2)}, ShortWord=0, HighlightAll={'false' if words else 'true'}"
    )


def _page(words_query: str, limit: int, offset: int) -> list[Any]:
    if dialect.current().file_backed:
        return list(execute(_PAGE, (words_query, limit, offset)).fetchall())
    return list(execute(_PG_PAGE, (words_query, limit, offset)).fetchall())


def _snippets(words_query: str, docs: list[int]) -> list[Any]:
    if dialect.current().file_backed:
        params = (words_query, MARK_START, MARK_END, SNIPPET_WORDS, json.dumps(docs))
        return list(execute(_SNIPPETS, params).fetchall())
    options = (_pg_headline(0), _pg_headline(SNIPPET_WORDS))
    return list(
        execute(_PG_SNIPPETS, (MARK_START, MARK_START, *options, words_query, docs)).fetchall()
    )


def search(query: SearchQuery) -> api_pb2.SearchResponse:
    """One page of matches over every project (everyone who may read sees every project)."""
    if not query.text.strip():
        raise invalid("q", "q must not be empty")
    if not 1 <= query.page_size <= MAX_PAGE:
        raise invalid("pageSize", f"pageSize must be between 1 and {MAX_PAGE}")
    offset = _offset(query.page_token)
    reindex()  # what was changed since the last commit's reindex, so the search sees it
    projects = {p.id: p for p in ProjectRow.select()}
    # A task key ("WEB-42") is found by its key, first, whatever its text says.
    keyed = _by_key(query.text, projects)
    words_query = None
    if keyed is None:
        pg = not dialect.current().file_backed
        words_query = _pg_query(query.text) if pg else fts_query(query.text)
    hits: list[api_pb2.SearchHit] = []
    total = read = 0
    if keyed is not None:
        total = 1
        if offset == 0:
            hits.append(_hit(keyed, projects, "title", "", keyed.title))
            read = 1
    else:
        assert words_query is not None
        page = _page(words_query, query.page_size, offset)
        total = int(page[0][3]) if page else 0
        if offset > 0 and not page:
            first = _page(words_query, 1, 0)
            total = int(first[0][3]) if first else 0
            raise invalid("pageToken", f"pageToken is past the last match ({total} in all)")
        read = len(page)
        docs = [int(row[1]) for row in page]
        found = _snippets(words_query, docs)
        where = {int(r[0]): r[1:] for r in found}
        tasks = {r.id: r for r in TaskRow.select().where(TaskRow.id.in_([r[0] for r in page]))}
        for task_id, doc, _score, _total in page:
            task = tasks.get(task_id)
            if task is None or int(doc) not in where:
                continue
            kind, entity_id, in_title, snip = where[int(doc)]
            matched_in = "comment" if kind == "comment" else "title" if in_title else "description"
            comment_id = entity_id if kind == "comment" else ""
            hits.append(_hit(task, projects, matched_in, comment_id, snip))
    next_offset = offset + read
    more = read > 0 and next_offset < total
    return api_pb2.SearchResponse(
        hits=hits, next_page_token=str(next_offset) if more else "", total_size=total
    )


def _hit(
    task: TaskRow, projects: dict[str, ProjectRow], matched_in: str, comment_id: str, snip: str
) -> api_pb2.SearchHit:
    project = projects[task.project_id]
    return api_pb2.SearchHit(
        task=convert.task(task, project.key),
        project_name=project.name,
        matched_in=matched_in,
        comment_id=comment_id,
        snippet=snip,
    )
