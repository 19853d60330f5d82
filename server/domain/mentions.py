"""``@name`` in comments and descriptions: which members a text mentions.

A member is mentioned by ``@`` followed by their display name in full, its first word, or
the name without spaces (what the web's completion inserts), in any case; ``ann@host`` and
``@Annabel`` do not mention Ann. Pure: the members are handed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tandem.v1 import entities_pb2


def aliases(display_name: str) -> list[str]:
    """The ways people write ``@name`` for a display name: full, first word, no spaces."""
    name = display_name.strip()
    if not name:
        return []
    found = {name, name.split()[0], name.replace(" ", "")}
    # Longest first, so "@Ann Lee" is matched as a whole before "@Ann".
    return sorted(found, key=len, reverse=True)


def mentions(body: str, display_name: str) -> bool:
    """Whether ``body`` mentions someone called ``display_name``."""
    if "@" not in body:
        return False
    for alias in aliases(display_name):
        if re.search(rf"(?<![\w@])@{re.escape(alias)}(?![\w-])", body, re.IGNORECASE):
            return True
    return False


def mentioned(body: str, people: Iterable[entities_pb2.Member]) -> list[str]:
    """The ids of the members ``body`` mentions, in the order given."""
    if "@" not in body:
        return []
    return [m.id for m in people if not m.rest_caller and mentions(body, m.display_name)]
