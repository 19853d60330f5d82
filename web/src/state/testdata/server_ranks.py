"""Ranks as the server makes them, for the web's rank test (rank.test.ts).

The server ranks tasks with the fractional_indexing library: generate_key_between(last, None) for a
new task at the end of its column, and generate_key_between(after, before) for a move between two
neighbours (None for an open end). This plays those on one column - appends, moves to the top,
many moves just after the first card (deep keys such as a0V, a0G), then moves to random places -
and prints every call as [after, before, key] with "" for None. server-ranks.json is its output.
"""

import json
import random

from fractional_indexing import generate_key_between  # type: ignore[import-untyped]

rnd = random.Random(11)
board: list[str] = []
made: list[list[str]] = []


def insert(i: int) -> None:
    after = board[i - 1] if i > 0 else None
    before = board[i] if i < len(board) else None
    key = generate_key_between(after, before)
    board.insert(i, key)
    made.append([after or "", before or "", key])


for _ in range(20):
    insert(len(board))
for _ in range(12):
    insert(0)
for _ in range(30):
    insert(board.index("a0") + 1)
for _ in range(80):
    insert(rnd.randrange(len(board) + 1))
print(json.dumps(made, indent=0))
