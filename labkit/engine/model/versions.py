"""API version checks: fields come and go between Engine API versions."""

from __future__ import annotations


def older_than(api_version: str | None, version: str) -> bool:
    """True when the client asked for an API older than ``version`` (no prefix: the newest)."""
    if not api_version:
        return False
    try:
        mine = tuple(int(x) for x in api_version.split("."))
        theirs = tuple(int(x) for x in version.split("."))
    except ValueError:
        return False
    return mine < theirs
