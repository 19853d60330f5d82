"""``@name`` in comments and descriptions: which members a text mentions.

A member is mentioned by ``@`` followed by their display name in full, its first word, or
the name without spaces (what the web's completion inserts), in any case; ``ann@host`` and
``@Annabel`` do not mention Ann. Pure: the members are handed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


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


def mentioned(body: str, people: Iterable[tuple[str, str]]) -> list[str]:
    """The ids of the people (id, display name) ``body`` mentions, in the order given."""
    if "@" not in body:
        return []
    folded = body.casefold()
    found = []
    for member_id, name in people:
        # Every alias starts with the name's first word: most people are ruled out cheaply.
        first = name.strip().split()[0].casefold() if name.strip() else ""
        if first and f"@{first}" in folded and mentions(body, name):
            found.append(member_id)
    return found
