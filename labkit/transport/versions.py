"""Engine API versions: comparing them and agreeing on one.

API versions look like decimals but are not: 1.9 is older than 1.10. Both
sides speak a range; the client uses the newest version both understand, which
is what the docker CLI does after its first ``GET /version`` (or ``/_ping``).
"""

from __future__ import annotations

import re

from labkit import API_VERSION_MAX, API_VERSION_MIN

_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


class IncompatibleEngine(ValueError):
    """The engine and labkit share no API version; the message says which side to upgrade."""


def parse_api_version(text: str) -> tuple[int, int]:
    """``"1.41"`` -> ``(1, 41)``, so that versions compare as numbers."""
    match = _VERSION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not an API version; they look like 1.41 (major.minor)")
    return int(match.group(1)), int(match.group(2))


def format_api_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def negotiate(
    server_api: str,
    client_max: str = API_VERSION_MAX,
    *,
    server_min: str | None = None,
    client_min: str = API_VERSION_MIN,
) -> str:
    """The API version to use: the lower of the engine's newest and labkit's newest.

    Raises :class:`IncompatibleEngine` when the ranges do not meet: the engine
    is older than anything labkit speaks, or it dropped every version labkit knows.
    """
    server = parse_api_version(server_api)
    ours = parse_api_version(client_max)
    if server < parse_api_version(client_min):
        raise IncompatibleEngine(
            f"the engine is too old: its newest API version is {server_api}, and labkit needs "
            f"{client_min} or newer. Upgrade the engine, or use labkit's lab engine "
            "(LABKIT_ENGINE=lab)."
        )
    if server_min and parse_api_version(server_min) > ours:
        raise IncompatibleEngine(
            f"labkit is too old for this engine: the engine accepts API {server_min} and newer, "
            f"and labkit speaks up to {client_max}. Upgrade labkit "
            "(python -m pip install -U labkit, or git pull in the lab's folder)."
        )
    return format_api_version(min(server, ours))
