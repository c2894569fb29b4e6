"""A JSON answer two ways: pretty-printed, or as a table a learner can scan.

The Engine API answers most calls with a list of objects (images, containers, networks)
or one object (an inspect). As a table, each object is a row and each key a column;
values that are themselves lists or objects are shown as short JSON.
"""

from __future__ import annotations

import json
from typing import Any

from labkit.lessons.bytes_view import Table


def pretty(value: Any) -> str:
    """JSON indented by two spaces, keys in the engine's order."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def cell(value: Any, limit: int = 48) -> str:
    """One value in a table cell: text as is, anything else as compact JSON, cut short."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def columns_of(rows: list[dict[str, Any]], limit: int = 8) -> list[str]:
    """The keys of a list of objects, in order of first appearance, at most ``limit``."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)[:limit]


def plural(count: int, noun: str) -> str:
    """``1 object``, ``3 objects``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def json_table(value: Any, max_columns: int = 8, max_rows: int = 200) -> Table:
    """A list of objects as rows and columns; one object as key and value; else one column."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = columns_of(value, max_columns)
        rows = [[cell(item.get(c)) for c in columns] for item in value[:max_rows]]
        hidden = len(columns_of(value, 10_000)) - len(columns)
        caption = plural(len(value), "object")
        if hidden > 0:
            caption += f" ({plural(hidden, 'more key')} not shown: see the pretty JSON)"
        return Table(columns, rows, caption)
    if isinstance(value, dict):
        return Table(["key", "value"], [(k, cell(v, 80)) for k, v in value.items()])
    if value == []:
        return Table(["value"], [], "an empty list")
    if isinstance(value, list):
        return Table(["#", "value"], [(i, cell(v, 80)) for i, v in enumerate(value[:max_rows])])
    return Table(["value"], [(cell(value, 200),)])
