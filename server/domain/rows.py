"""Loading one row by its id, or refusing the command with NOT_FOUND."""

from __future__ import annotations

from typing import TypeVar

import peewee as pw

from server.domain.errors import not_found

M = TypeVar("M", bound=pw.Model)


def get_or_not_found(model: type[M], ident: str, what: str) -> M:
    """The ``model`` row whose primary key is ``ident``; ``what`` names it in the refusal."""
    found: M | None = model.get_or_none(model._meta.primary_key == ident)
    if found is None:
        raise not_found(what, ident)
    return found
