"""Which @mentions name the person at the desktop."""

from __future__ import annotations

import pytest

from app.notify import mentions

pytestmark = pytest.mark.desktop


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("@Ann Lee please review", True),
        ("thanks @ann!", True),
        ("ping @AnnLee", True),
        ("@Annabel can you?", False),
        ("mail ann@Ann.example", False),
        ("no mention of Ann here", False),
    ],
)
def test_mentions(body: str, expected: bool) -> None:
    assert mentions(body, "Ann Lee") is expected
