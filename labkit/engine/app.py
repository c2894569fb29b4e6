"""The lab engine's application: routes from ``api/`` modules, the model, and dispatch.

The server (``server.py``) hands over a parsed request; this module finds its
route, checks the API version in its ``/vX.Y`` prefix the way dockerd does,
builds a :class:`~labkit.engine.replies.Request` and calls the handler.

Startup is split so the first ``/_ping`` is fast: the ``system`` routes are ready
at once, while the other API modules and the model load in the background. A
request for one of those waits until they are ready rather than getting a 404.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, unquote

from labkit.engine import identity
from labkit.engine.replies import (
    ApiError,
    Headers,
    JSONReply,
    RawReply,
    Reply,
    Request,
)
from labkit.engine.router import Router, compare_versions, split_version, version_error
from labkit.engine.server import Incoming

log = logging.getLogger("labkit.engine.app")

# Imported in this order; a module that does not exist yet is skipped with a log line.
API_MODULES = (
    "system",
    "info",
    "images",
    "image_builds",
    "containers",
    "archive",
    "stats",
    "exec",
    "networks",
    "volumes",
    "swarm",
)
# Routes from these modules never wait for the model: /_ping must answer at once.
LIGHT_MODULES = frozenset({"system"})

# dockerd writes errors for API versions before this one as plain text.
PLAIN_ERRORS_BELOW = "1.24"

# dockerd's router answers a path (or method) it has no route for before its API middleware
# runs, so its 404 lacks Api-Version, Server, Ostype and Docker-Experimental. The lab engine
# sends them on every API response, this one included (docs/differential.md).
_NOT_FOUND = JSONReply({"message": "page not found"}, 404)
# API version -> the 400 that refuses it, or None when it is served.
_verdicts: dict[str, Reply | None] = {}


class App:
    """Routes plus the model; ``respond()`` is what the server calls for each request."""

    def __init__(self, router: Router | None = None, engine: Any = None) -> None:
        self.router = router or Router()
        self.engine = engine
        self.loaded: list[str] = []
        self.skipped: list[str] = []
        self._ready: asyncio.Event | None = None  # created on the loop by start()
        self._opening: asyncio.Task[None] | None = None
        self._clock_start: float | None = None  # LABKIT_CLOCK, until the model has opened
        # (method, unversioned path as bytes) -> the fixed reply of a route without
        # parameters: the server sends these without asking (HttpProtocol._answer_fixed).
        self.fixed_replies: dict[tuple[str, bytes], RawReply] = {}
        # Why the model did not open (every request that needs it is told); and who to tell
        # when that is because the state on disk is damaged (the engine process stops).
        self.open_error: str | None = None
        self.on_damage: Any = None

    # ------------------------------------------------------------ assembly
    def add_module(self, name: str, routes: Iterable[tuple[str, str, Any]]) -> int:
        """Register one module's ``ROUTES`` (tests use this for dummy modules)."""
        routes = list(routes)
        count = self.router.add_all(routes, module=name)
        for method, pattern, handler in routes:
            if isinstance(handler, RawReply) and "{" not in pattern:
                self.fixed_replies.setdefault((method.upper(), pattern.encode("latin-1")), handler)
        self.loaded.append(name)
        return count

    def load_modules(self, names: Sequence[str]) -> None:
        """Import each API module and register its routes; skip (and log) what is missing."""
        for name, routes in import_modules(names, self.skipped):
            self.add_module(name, routes)

    def start(
        self,
        home: Path | None,
        *,
        modules: Sequence[str] = API_MODULES,
        clock: str | None = None,
        seed: int | str | None = None,
        open_model: bool = True,
    ) -> None:
        """Register the light modules now; load the rest and open the model in the background.

        Must be called on the running loop.
        """
        self._ready = asyncio.Event()
        self._clock_start = fixed_start(clock)
        light = [m for m in modules if m in LIGHT_MODULES]
        heavy = [m for m in modules if m not in LIGHT_MODULES]
        self.load_modules(light)
        self._opening = asyncio.get_running_loop().create_task(
            self._open_rest(heavy, home, clock, seed, open_model)
        )

    async def _open_rest(
        self,
        modules: Sequence[str],
        home: Path | None,
        clock: str | None,
        seed: int | str | None,
        open_model: bool,
    ) -> None:
        assert self._ready is not None
        try:
            skipped: list[str] = []
            # Importing in a thread lets the loop answer /_ping meanwhile.
            found = await asyncio.to_thread(import_modules, modules, skipped)
            self.skipped.extend(skipped)
            for name, routes in found:
                self.add_module(name, routes)
            if open_model and home is not None and self.engine is None:
                self.engine = await open_engine(home, clock=clock, seed=seed)
        except Exception as exc:
            if type(exc).__module__ == "sqlite3":  # the state on disk cannot be read
                self.open_error = (
                    f"the lab engine's state in {home} is damaged ({exc}): stop the engine "
                    "(labkit engine stop) and start it again, which keeps the damaged file "
                    "aside and says how to go on"
                )
                log.error("%s", self.open_error)
                if self.on_damage is not None:
                    self.on_damage(str(exc))
            else:
                self.open_error = (
                    f"the lab engine could not open its model ({exc}); its log says more: "
                    "labkit engine logs"
                )
                log.exception("the lab engine could not finish starting")
        finally:
            self._ready.set()
            log.info(
                "routes ready: %s%s; model: %s",
                ", ".join(self.loaded) or "none",
                f" (not yet written: {', '.join(self.skipped)})" if self.skipped else "",
                "open" if self.engine is not None else "none",
            )

    def http_time(self) -> float | None:
        """The time for the Date header: the model's fixed clock (without moving it on),
        or None for real time. With ``LABKIT_CLOCK`` set, every time the engine shows comes
        from its clock, so that notebook outputs are the same on every run."""
        clock = getattr(self.engine, "clock", None)
        if clock is None:
            return self._clock_start
        peek = getattr(clock, "peek_ns", None)
        ns = peek() if peek is not None else None
        return None if ns is None else ns / 1e9

    async def wait_ready(self) -> None:
        if self._ready is not None:
            await self._ready.wait()

    async def close(self) -> None:
        if self._opening is not None and not self._opening.done():
            await asyncio.wait([self._opening], timeout=10)
        engine, self.engine = self.engine, None
        if engine is not None:
            try:
                await engine.close()
            except Exception:
                log.exception("closing the model failed")

    # ------------------------------------------------------------ dispatch
    async def respond(self, incoming: Incoming) -> Reply:
        path, query_text = _split_target(incoming.target)
        version, path = split_version(path)
        match = self.router.match(incoming.method, path)
        ready = self._ready
        if match is None and ready is not None and not ready.is_set():
            await ready.wait()
            match = self.router.match(incoming.method, path)
        if match is None:
            return _NOT_FOUND
        if version is not None:
            try:
                refused = _verdicts[version]
            except KeyError:  # clients use one or two versions: decide each once
                refused = version_refused(version)
                if len(_verdicts) < 256:
                    _verdicts[version] = refused
            if refused is not None:
                return refused
        route = match.route
        if ready is not None and not ready.is_set() and route.module not in LIGHT_MODULES:
            await ready.wait()
        if (
            self.open_error is not None
            and self.engine is None
            and route.module not in (LIGHT_MODULES)
        ):
            return JSONReply({"message": self.open_error}, 500)
        request = Request(
            method=incoming.method,
            path=path,
            api_version=version,
            query=parse_query(query_text) if query_text else {},
            headers=Headers(incoming.headers),
            body=incoming.body,
            engine=self.engine,
            raw_target=incoming.target,
        )
        try:
            handler = route.handler
            if isinstance(handler, RawReply):
                return handler
            return await handler(request, **match.params)
        except ApiError as exc:
            if exc.status >= 500 and exc.status not in (501, 503):  # 503: no swarm here
                log.error("%s %s: %s %s", incoming.method, incoming.target, exc.status, exc)
            return JSONReply({"message": exc.message}, exc.status)
        except Exception as exc:
            if type(exc).__module__ == "sqlite3":  # the state file went bad while serving
                log.error(
                    "%s %s: the state cannot be read: %s", incoming.method, route.pattern, exc
                )
                return JSONReply(
                    {
                        "message": f"the lab engine's state cannot be read ({exc}): stop the "
                        "engine (labkit engine stop) and start it again, which checks the state, "
                        "keeps a damaged file aside and says how to go on"
                    },
                    500,
                )
            log.exception("handler for %s %s failed", incoming.method, route.pattern)
            return JSONReply({"message": f"internal error in the lab engine: {exc}"}, 500)


@functools.lru_cache(maxsize=256)
def parse_query(text: str) -> Mapping[str, tuple[str, ...]]:
    """A query string's values, parsed once per distinct string: clients repeat the same
    few (``all=1``, ``filters=…``), and parsing is a third of a short request's cost.
    Requests share the result, so it is read-only."""
    parsed = parse_qs(text, keep_blank_values=True)
    return MappingProxyType({name: tuple(values) for name, values in parsed.items()})


def _split_target(target: str) -> tuple[str, str]:
    """The decoded path and the raw query string of a request target."""
    if not target.startswith("/"):
        # absolute-form ("http://docker/_ping"), which HTTP/1.1 servers must accept
        _scheme, sep, rest = target.partition("://")
        if sep:
            slash = rest.find("/")
            target = rest[slash:] if slash >= 0 else "/"
    path, _, query = target.partition("?")
    path, _, _fragment = path.partition("#")
    if "%" in path:
        path = unquote(path)
    return path, query


def version_refused(version: str) -> Reply | None:
    """dockerd's 400 for a version it does not serve, or None to go on."""
    message = version_error(version, identity.MIN_API_VERSION, identity.API_VERSION)
    if message is None:
        return None
    if compare_versions(version, PLAIN_ERRORS_BELOW) < 0:
        # dockerd answers clients older than 1.24 in plain text: they cannot read JSON errors.
        return RawReply(
            (message + "\n").encode(),
            "text/plain; charset=utf-8",
            400,
            {"X-Content-Type-Options": "nosniff"},
        )
    return JSONReply({"message": message}, 400)


def import_modules(
    names: Sequence[str], skipped: list[str]
) -> list[tuple[str, list[tuple[str, str, Any]]]]:
    """The ROUTES of each ``labkit.engine.api.<name>`` that exists; the rest go in ``skipped``."""
    found = []
    for name in names:
        full = f"labkit.engine.api.{name}"
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name == full:
                log.info("API module %s is not written yet: skipped", full)
            else:
                log.exception("API module %s needs a module that is missing: skipped", full)
            skipped.append(name)
            continue
        except Exception:
            log.exception("API module %s failed to import: skipped", full)
            skipped.append(name)
            continue
        routes = getattr(module, "ROUTES", None)
        if not isinstance(routes, list) or not all(
            isinstance(r, tuple) and len(r) == 3 for r in routes
        ):
            log.error("API module %s has no ROUTES list of (method, pattern, handler)", full)
            skipped.append(name)
            continue
        found.append((name, routes))
    return found


async def open_engine(
    home: Path, *, clock: str | None = None, seed: int | str | None = None
) -> Any:
    """The model (``labkit.engine.model.Engine``), or None while it is not written yet."""
    try:
        model = await asyncio.to_thread(importlib.import_module, "labkit.engine.model")
    except ModuleNotFoundError as exc:
        if exc.name == "labkit.engine.model":
            log.warning("the model (labkit.engine.model) is not written yet: running without one")
            return None
        raise
    engine_class = getattr(model, "Engine", None)
    if engine_class is None:
        log.warning("labkit.engine.model has no Engine yet: running without a model")
        return None
    engine = await engine_class.open(home, clock=clock, seed=seed)
    log.info("model open in %s", home)
    return engine


def fixed_start(clock: str | None) -> float | None:
    """``LABKIT_CLOCK`` in seconds, for the Date header while the model (whose clock parses
    it properly) is still opening; None when unset or not read here."""
    if not clock:
        return None
    text = clock.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None  # the model will say what is wrong with it
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def settings_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The model's knobs: ``LABKIT_CLOCK`` (passed as given) and ``LABKIT_SEED`` (an integer)."""
    env = dict(os.environ) if env is None else env
    clock = env.get("LABKIT_CLOCK") or None
    seed_text = env.get("LABKIT_SEED") or None
    seed: int | str | None = seed_text
    if seed_text is not None:
        try:
            seed = int(seed_text)
        except ValueError:
            seed = seed_text
    return {"clock": clock, "seed": seed}
