"""Reading query parameters: whole numbers, seconds and task statuses, each with a clear 400."""

from __future__ import annotations

import math
from collections.abc import Mapping

from tandem.v1 import entities_pb2

from server.api.errors import bad_request


def int_query(query: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise bad_request(f"{name} must be a whole number", field=name) from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}", field=name)
    return value


def float_query(
    query: Mapping[str, str], name: str, default: float, *, low: float, high: float
) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number of seconds", field=name) from None
    if not math.isfinite(value) or value < low:
        raise bad_request(f"{name} must be a number of seconds, at least {low}", field=name)
    return min(value, high)


_STATUS_BY_NAME: dict[str, int] = {}
for _value in entities_pb2.TaskStatus.DESCRIPTOR.values:
    if _value.number == entities_pb2.TASK_STATUS_UNSPECIFIED:
        continue
    _STATUS_BY_NAME[_value.name] = _value.number
    _STATUS_BY_NAME[_value.name.removeprefix("TASK_STATUS_").lower()] = _value.number
#: Every spelling ``status`` accepts: TASK_STATUS_TODO and todo.
STATUS_NAMES = tuple(_STATUS_BY_NAME)


def status_query(query: Mapping[str, str]) -> int:
    raw = query.get("status")
    if raw is None or raw == "":
        return 0
    number = _STATUS_BY_NAME.get(raw) or _STATUS_BY_NAME.get(raw.lower())
    if number is None:
        raise bad_request(f"status must be one of {', '.join(STATUS_NAMES)}", field="status")
    return number
