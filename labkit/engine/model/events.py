"""The event bus: every state change becomes an event, recorded and sent to listeners.

``GET /events`` replays the recorded history (``since``/``until``) and then
follows new events; the docs look like dockerd's, including the legacy
``status``/``id``/``from`` fields that old clients read for containers and images.
"""

from __future__ import annotations

import asyncio
from typing import Any

from labkit.engine.model.clock import NS, Clock
from labkit.engine.model.store import Store

LEGACY_TYPES = {"container", "image"}
MAX_QUEUE = 10_000  # a listener this far behind is dropped rather than grow without end


class EventBus:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def emit(
        self, type_: str, action: str, actor_id: str, attributes: dict[str, str]
    ) -> dict[str, Any]:
        """Record one event and hand it to every listener."""
        now = self.clock.now_ns()
        doc: dict[str, Any] = {}
        if type_ in LEGACY_TYPES:
            doc["status"] = action
            doc["id"] = actor_id
            if type_ == "container" and "image" in attributes:
                doc["from"] = attributes["image"]
        doc.update(
            {
                "Type": type_,
                "Action": action,
                "Actor": {"ID": actor_id, "Attributes": dict(sorted(attributes.items()))},
                "scope": "local",
                "time": now // NS,
                "timeNano": now,
            }
        )
        self.store.add_event(now, doc)
        # Listeners hear of a change only once it is on disk: one that could not be saved
        # never happened (Store.tx rolls it back).
        self.store.after_commit(lambda: self._deliver(doc))
        return doc

    def _deliver(self, doc: dict[str, Any]) -> None:
        for queue in list(self._listeners):
            if queue.qsize() >= MAX_QUEUE:
                self._listeners.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(doc)

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._listeners.discard(queue)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def history(self, since: int, until: int | None) -> list[dict[str, Any]]:
        return self.store.events(since, until)


def _action_matches(action: str, wanted: list[str]) -> bool:
    # "exec_create: ls -l" is filtered as "exec_create", as dockerd does
    base = action.split(":", 1)[0]
    return action in wanted or base in wanted


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """dockerd's event filters: type, event, container, image, label, volume, network."""
    type_ = event["Type"]
    actor = event["Actor"]
    attrs = actor.get("Attributes") or {}
    if "type" in filters and type_ not in filters["type"]:
        return False
    if "event" in filters and not _action_matches(event["Action"], filters["event"]):
        return False
    for key, kind in (("container", "container"), ("volume", "volume"), ("network", "network")):
        if key in filters:
            if type_ != kind:
                return False
            names = {actor["ID"], attrs.get("name", "")}
            if not any(
                v in names or (len(v) >= 1 and actor["ID"].startswith(v)) for v in filters[key]
            ):
                return False
    if "image" in filters:
        candidates = {attrs.get("image", ""), attrs.get("name", ""), actor["ID"]}
        candidates |= {c.split(":", 1)[0] for c in candidates if c and not c.startswith("sha256")}
        if not any(v in candidates for v in filters["image"]):
            return False
    if "label" in filters:
        for label in filters["label"]:
            key, eq, value = label.partition("=")
            if key not in attrs or (eq and attrs[key] != value):
                return False
    return True
