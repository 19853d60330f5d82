"""Reading and writing rows on a command's hot path with statements built once.

peewee stays the models' and the queries' home, but building SQL from its expression trees
costs more than SQLite's own work for a one-row lookup or update. The statements here are
made once per model (or per set of columns), then run through the connection with
parameters; SQLite keeps them prepared. Errors come out as peewee's, like any query's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import peewee as pw

from server.domain.errors import not_found
from server.storage import dialect
from server.storage.models import database

M = TypeVar("M", bound=pw.Model)

# peewee's translation of sqlite3's exceptions into its own (IntegrityError, ...).
_PEEWEE_ERRORS = getattr(pw, "__exception_wrapper__")  # noqa: B009 - a dunder name
_READERS: dict[type[pw.Model], Reader] = {}
# Fields whose conversion gives back a value of this exact type unchanged.
_NATIVE: dict[type[pw.Field], type] = {pw.TextField: str, pw.IntegerField: int}
_UPDATE: dict[tuple[type[pw.Model], tuple[str, ...]], str] = {}


def execute(sql: str, params: Sequence[Any] = ()) -> Any:
    """Run one prepared statement (``?`` parameters, whatever the database: see
    storage/dialect.py) in the current transaction; returns the cursor."""
    with _PEEWEE_ERRORS:
        # The proxied database itself: the proxy's look-up per attribute costs more than this.
        return dialect.current().execute(database.obj.connection(), sql, params)


def execute_many(sql: str, rows: Iterable[Sequence[Any]]) -> None:
    with _PEEWEE_ERRORS:
        dialect.current().execute_many(database.obj.connection(), sql, rows)


# Values one statement of many_at_once takes (more take several statements). Lists are padded
# to a power of two, so that a handful of statement texts serve every size and stay prepared.
AT_ONCE = 256
_MANY: dict[tuple[str, int], str] = {}


def many_at_once(sql: str, values: Sequence[Sequence[Any]]) -> list[Any]:
    """The rows ``sql`` returns for all of ``values`` (each a tuple of parameters), in one
    statement per AT_ONCE of them instead of one each: ``{}`` in ``sql`` stands for the
    tuples' list, ``(?, ?), (?, ?), ...``. The last tuple is repeated to pad the list, so
    ``sql`` must do the same for a value listed twice as for it once (an ``IN`` list, an
    insert that does nothing on a conflict)."""
    found: list[Any] = []
    for start in range(0, len(values), AT_ONCE):
        chunk = list(values[start : start + AT_ONCE])
        size = 1 << (len(chunk) - 1).bit_length()
        chunk += chunk[-1:] * (size - len(chunk))
        text = _MANY.get((sql, size))
        if text is None:
            one = f"({', '.join('?' * len(chunk[0]))})"
            text = _MANY[(sql, size)] = sql.format(", ".join([one] * size))
        found.extend(execute(text, [p for params in chunk for p in params]).fetchall())
    return found


def select_in(sql: str, values: Iterable[Any]) -> list[Any]:
    """The rows of ``sql`` (a SELECT with one ``IN ({})``) for every one of ``values``: one
    statement for a whole batch's keys instead of one per key."""
    return many_at_once(sql, [(v,) for v in dict.fromkeys(values)])


def by_id(model: type[M], ident: str) -> M | None:
    """The ``model`` row whose primary key is ``ident``, or None."""
    reader = _READERS.get(model)
    if reader is None:
        reader = _READERS[model] = Reader(model)
    found = reader.one(ident)
    return found[0] if found is not None else None


class Reader:
    """One model's select-by-id statement and how to read each column it returns.

    ``extra`` columns (from a ``join``ed table) come back beside the row, so that a command
    needing a row and, say, its project's key reads both with one lookup.
    """

    __slots__ = ("_native_rows", "_primary", "columns", "model", "names", "sql", "sql_in")

    def __init__(self, model: type[pw.Model], *, extra: str = "", join: str = "") -> None:
        fields: list[Any] = list(model._meta.sorted_fields)
        table = model._meta.table_name
        self.model = model
        self.columns = [(f.name, f.python_value, _NATIVE.get(type(f))) for f in fields]
        self.names = tuple(f.name for f in fields)
        # The types of the rows seen whose every value needed no conversion.
        self._native_rows: set[tuple[type, ...]] = set()
        selected = ", ".join(f'"{table}"."{f.column_name}"' for f in fields)
        primary: Any = model._meta.primary_key
        self._primary = self.names.index(primary.name)
        select = f'SELECT {selected}{", " + extra if extra else ""} FROM "{table}" {join} '
        self.sql = select + f'WHERE "{table}"."{primary.column_name}" = ?'
        self.sql_in = select + f'WHERE "{table}"."{primary.column_name}" IN ({{}})'

    def one(self, ident: str) -> tuple[Any, tuple[Any, ...]] | None:
        """The row whose primary key is ``ident`` and its extra columns, or None."""
        values = execute(self.sql, (ident,)).fetchone()
        return None if values is None else self._made(values)

    def many(self, idents: Iterable[str]) -> dict[str, tuple[Any, tuple[Any, ...]]]:
        """``one`` of each of ``idents`` with one statement (per AT_ONCE), by primary key;
        those with no row are left out."""
        made = (self._made(values) for values in select_in(self.sql_in, idents))
        return {found.__data__[self.names[self._primary]]: (found, extra) for found, extra in made}

    def _made(self, values: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        # What peewee's own cursor wrapper does for a row, without its per-query set-up.
        found = self.model(__no_default__=True)
        count = len(self.columns)
        own = values[:count]
        kinds = tuple(map(type, own))
        if kinds in self._native_rows:
            # Values of these types are what converting returns: the row as it came.
            found.__data__ = dict(zip(self.names, own, strict=True))
        else:
            found.__data__ = self._converted(own, kinds)
        return found, values[count:]

    def _converted(self, own: tuple[Any, ...], kinds: tuple[type, ...]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        native_row = True
        for (name, convert, native), value in zip(self.columns, own, strict=True):
            # A value SQLite already gives as the field's type is what converting returns.
            if value is None or type(value) is native:
                data[name] = value
            else:
                data[name] = convert(value)
                native_row = False
        if native_row and len(self._native_rows) < _ROW_KINDS:
            self._native_rows.add(kinds)
        return data


# Combinations of value types (NULLs in different columns) a Reader remembers as needing
# no conversion: a handful in practice; the bound only keeps a strange table from growing it.
_ROW_KINDS = 1024


class Savepoint:
    """One command's savepoint, by a fixed name through the connection: a refusal inside
    it rolls back exactly what the command wrote. Nests (SQLite and PostgreSQL release the
    innermost savepoint of a name first)."""

    __slots__ = ()

    def __enter__(self) -> None:
        execute(_SAVEPOINT)

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            execute(_RELEASE)
            return
        try:
            execute(_ROLLBACK_TO)
            execute(_RELEASE)
        except pw.DatabaseError:
            # The transaction itself is gone (disk full, I/O error): the caller's
            # exception says why, and the enclosing transaction rolls back.
            pass


_SAVEPOINT = 'SAVEPOINT "command"'
_RELEASE = 'RELEASE "command"'
_ROLLBACK_TO = 'ROLLBACK TO "command"'


def get_or_not_found(model: type[M], ident: str, what: str) -> M:
    """The ``model`` row whose primary key is ``ident``; ``what`` names it in the refusal."""
    found = by_id(model, ident)
    if found is None:
        raise not_found(what, ident)
    return found


def save_columns(row: pw.Model, names: tuple[str, ...]) -> None:
    """Write only the named fields of ``row`` (``Model.save`` writes every column)."""
    model = type(row)
    meta: Any = model._meta
    sql = _UPDATE.get((model, names))
    if sql is None:
        assignments = ", ".join(f'"{meta.fields[n].column_name}" = ?' for n in names)
        sql = (
            f'UPDATE "{meta.table_name}" SET {assignments} '
            f'WHERE "{meta.primary_key.column_name}" = ?'
        )
        _UPDATE[(model, names)] = sql
    data = row.__data__
    params: list[Any] = []
    for name in names:
        value = data.get(name)
        field = meta.fields[name]
        # A value already of the field's type is what converting it gives.
        params.append(value if type(value) is _NATIVE.get(type(field)) else field.db_value(value))
    params.append(row._pk)  # type: ignore[attr-defined]
    execute(sql, params)
