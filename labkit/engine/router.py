"""The route table: which handler answers which method and path.

Patterns use ``{name}`` for one path segment and ``{name*}`` for a value that may
hold slashes (image names such as ``library/busybox:latest``). Every route also
answers under a ``/vX.Y`` prefix, which is checked against the versions the
engine supports, the way dockerd's version middleware does it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from labkit.engine.replies import Handler

_VERSION_CHARS = "0123456789."
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    module: str = ""
    regex: re.Pattern[str] | None = None  # None for a pattern without parameters
    names: tuple[str, ...] = ()


@dataclass
class Match:
    route: Route
    params: dict[str, str] = field(default_factory=dict)


class RouteError(ValueError):
    """A route pattern that cannot be compiled."""


def compile_pattern(pattern: str) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """A regex for ``pattern`` and its parameter names (None when it has none)."""
    if not pattern.startswith("/"):
        raise RouteError(f"route pattern {pattern!r} must start with '/'")
    names: list[str] = []
    parts: list[str] = []
    pos = 0
    for m in _PARAM.finditer(pattern):
        parts.append(re.escape(pattern[pos : m.start()]))
        name, greedy = m.group(1), m.group(2)
        if name in names:
            raise RouteError(f"route pattern {pattern!r} names {{{name}}} twice")
        names.append(name)
        parts.append("(.+)" if greedy else "([^/]+)")
        pos = m.end()
    rest = pattern[pos:]
    if "{" in rest or "}" in rest:
        raise RouteError(f"route pattern {pattern!r} has a brace that is not a {{name}} parameter")
    if not names:
        return None, ()
    parts.append(re.escape(rest))
    return re.compile("^" + "".join(parts) + "$"), tuple(names)


class Router:
    """Static paths in a dict (fast), patterns tried in the order they were added."""

    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._patterns: dict[str, list[Route]] = {}
        self._routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, module: str = "") -> Route:
        regex, names = compile_pattern(pattern)
        route = Route(method.upper(), pattern, handler, module, regex, names)
        if regex is None:
            # The first module to claim a path keeps it, as in dockerd's mux.
            self._static.setdefault((route.method, pattern), route)
        else:
            self._patterns.setdefault(route.method, []).append(route)
        self._routes.append(route)
        return route

    def add_all(self, routes: Iterable[tuple[str, str, Handler]], module: str = "") -> int:
        count = 0
        for method, pattern, handler in routes:
            self.add(method, pattern, handler, module)
            count += 1
        return count

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def match(self, method: str, path: str) -> Match | None:
        """The route for ``method`` and a decoded, unversioned ``path``, or None (404)."""
        route = self._static.get((method, path))
        if route is not None:
            return Match(route)
        for route in self._patterns.get(method, ()):
            assert route.regex is not None
            m = route.regex.match(path)
            if m:
                return Match(route, dict(zip(route.names, m.groups(), strict=False)))
        return None


def split_version(path: str) -> tuple[str | None, str]:
    """``/vX.Y/containers/json`` -> ``("X.Y", "/containers/json")``; unversioned paths pass."""
    if path.startswith("/v"):
        slash = path.find("/", 2)
        # the same test as dockerd's "/v{version:[0-9.]+}", without a regex: it runs on every call
        if slash > 2 and not path[2:slash].strip(_VERSION_CHARS) and "\n" not in path:
            return path[2:slash], path[slash:]
    return None, path


def _version_parts(version: str) -> list[int]:
    out = []
    for part in version.split("."):
        try:
            out.append(int(part))
        except ValueError:  # Go's comparison reads what is not a number as 0
            out.append(0)
    return out


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1, comparing dotted versions number by number like dockerd does."""
    pa, pb = _version_parts(a), _version_parts(b)
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else 0
        y = pb[i] if i < len(pb) else 0
        if x != y:
            return -1 if x < y else 1
    return 0


def version_error(version: str, minimum: str, maximum: str) -> str | None:
    """dockerd's message for an API version it does not serve, or None when it is fine."""
    if compare_versions(version, minimum) < 0:
        return (
            f"client version {version} is too old. Minimum supported API version is "
            f"{minimum}, please upgrade your client to a newer version"
        )
    if compare_versions(version, maximum) > 0:
        return f"client version {version} is too new. Maximum supported API version is {maximum}"
    return None
