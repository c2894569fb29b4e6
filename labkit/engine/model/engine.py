"""The lab engine's model: containers, images, volumes, networks, execs and events.

Handlers in ``engine/api`` call these methods; each method checks its inputs,
changes state in one SQLite transaction, records the event and, for
containers, drives the simulated process from ``engine/runtime``.

What the API shows is what is on disk. A change that cannot be saved (a full disk) is
refused with a 500 (``StateNotSaved``) and leaves no trace: the store rolls back and
:meth:`Engine._reload` puts the records it touched back as they are on disk; events reach
listeners only once saved; a process starts (or freezes) only after its new state is saved.
The one change that cannot be refused is a process ending: it is shown at once, and saved
as soon as the store can take it (:meth:`Engine._save_later`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit import paths
from labkit.engine import goparse
from labkit.engine.model import catalogue, endpoints, health, hostconfig, links, refs
from labkit.engine.model.clock import Clock, parse_instant
from labkit.engine.model.containers import VALID_NAME, Container, new_state
from labkit.engine.model.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ExecStartFailed,
    Forbidden,
    NotFound,
    NotModified,
    ServerError,
    StateNotSaved,
)
from labkit.engine.model.events import EventBus
from labkit.engine.model.execs import Exec
from labkit.engine.model.ids import IdSource
from labkit.engine.model.images import Image, ImageStore, conflict_in_use
from labkit.engine.model.limits import EngineLimits
from labkit.engine.model.local_images import TreeCache
from labkit.engine.model.mounts import resolve_mounts, vfs_binds, volume_mount
from labkit.engine.model.networks import NetworkStore
from labkit.engine.model.output import OutputQueue
from labkit.engine.model.signals import SIGKILL, SIGTERM, parse_signal
from labkit.engine.model.store import LOG_ROW, Store
from labkit.engine.model.validate import check_container_body, check_update_body, strslice
from labkit.engine.model.versions import older_than
from labkit.engine.model.volumes import VolumeStore

DEFAULT_PATH = catalogue.DEFAULT_PATH
EXIT_ENGINE_DIED = 255  # what a container that was running when the engine died reports
NOT_FOUND_EXIT = 127
EXEC_FAILED_EXIT = 126  # dockerd's exit code for an exec whose command cannot start
SYSTEM_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
# Output is written to the store this long after it was made (or at once, past FLUSH_BYTES):
# a crash loses at most that much of it, and a chatty container costs a write per batch.
FLUSH_DELAY = 0.05
FLUSH_BYTES = 256 << 10
# Seconds a killed process has to end before the engine gives up on it and records the
# container as exited anyway (a process always ends at its next scheduling point).
KILL_GRACE = 5.0
# Seconds between steps of giving deleted output's space back to the file system.
RECLAIM_EVERY = 0.5
SAVE_RETRY_SECONDS = 1.0  # how often a state the store refused is offered to it again

log = logging.getLogger("labkit.engine.model")


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _merge_env(image_env: list[str], user_env: list[str]) -> list[str]:
    """Image env first, the user's entries replacing those with the same name (dockerd's order)."""
    merged = {item.partition("=")[0]: item for item in image_env}
    for item in user_env:
        merged[item.partition("=")[0]] = item
    return list(merged.values())


class Engine:
    """Everything the API handlers need. Open with ``await Engine.open(home)``."""

    def __init__(
        self,
        home: Path,
        store: Store,
        clock: Clock,
        seed: str | None,
        limits: EngineLimits | None = None,
    ) -> None:
        self.home = home
        self.limits = limits or EngineLimits()
        self._memory: Any = None
        self.store = store
        self.clock = clock
        self.ids = IdSource(seed, int(store.get_meta("id_counter", "0") or 0))
        self.events = EventBus(store, clock)
        self.images = ImageStore(store)
        self.trees = TreeCache()  # file trees of images made here (model/local_images.py)
        self.volumes = VolumeStore(store, home / "volumes")
        self.networks = NetworkStore(store, clock.now_ns())
        self.containers: dict[str, Container] = {}
        self.execs: dict[str, Exec] = {}
        self._by_name: dict[str, str] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._flush_soon = False  # the flush is due on the next turn, not after FLUSH_DELAY
        self._reclaim_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.closing = False  # close() has begun: what ends now is not restarted
        self._process_class: Any = None
        store.on_flush = self._logs_stored
        # Objects dropped from memory in the current transaction, to put back on a rollback.
        self._journal: dict[tuple[str, str], Any] = {}
        # Ended processes whose new state the store refused: saved again until it takes it.
        self._unsaved: dict[str, Container] = {}
        self._unsaved_execs: dict[str, Exec] = {}
        self._retry_handle: asyncio.TimerHandle | None = None
        store.on_rollback = self._reload

    # ------------------------------------------------------------------ saving, or not
    def _reload(self, touched: set[tuple[str, str]]) -> None:
        """After a rollback: the records a refused change touched, back as they are on disk."""
        for table, key in touched:
            if table in ("containers", "upper") and key in self._unsaved:
                c = self._unsaved[key]  # an ended process: memory is the truth, saved later
                c.removed = False
                self.containers[key] = c
            elif table == "execs" and key in self._unsaved_execs:
                self.execs[key] = self._unsaved_execs[key]
            elif table in ("containers", "upper"):
                self._reload_container(key)
            elif table == "execs":
                doc = self.store.get_doc("execs", key)
                exec_ = self.execs.get(key) or self._journal.get((table, key))
                if doc is None:
                    self.execs.pop(key, None)
                elif exec_ is None:
                    self.execs[key] = Exec(doc)
                else:
                    exec_.doc.clear()
                    exec_.doc.update(doc)
                    self.execs[key] = exec_
            elif table in ("images", "volumes", "networks"):
                self._reload_record(table, key)
            elif table == "meta" and key == "id_counter":
                self.ids.counter = int(self.store.get_meta("id_counter", "0") or 0)
        self._journal.clear()
        self._by_name = {c.name: c.id for c in self.containers.values()}

    def _reload_container(self, cid: str) -> None:
        doc = self.store.get_doc("containers", cid)
        c = self.containers.get(cid) or self._journal.get(("containers", cid))
        if doc is None:
            self.containers.pop(cid, None)
            if c is not None:
                c.removed = True
            return
        if c is None:
            c = Container(doc)
        else:
            c.doc.clear()
            c.doc.update(doc)
            c.removed = False
        self.containers[cid] = c

    def _reload_record(self, table: str, key: str) -> None:
        from labkit.engine.model.networks import Network
        from labkit.engine.model.volumes import Volume

        kinds = {
            "images": (self.images.images, Image),
            "volumes": (self.volumes.volumes, Volume),
            "networks": (self.networks.networks, Network),
        }
        memory, kind = kinds[table]
        doc = self.store.get_doc(table, key)
        if doc is None:
            memory.pop(key, None)
        else:
            memory[key] = kind(**doc)

    def note(self, type_: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        """An event about something that happens whether or not it can be recorded (a kill,
        a stop, a look at a container): recorded if the store can take it, else logged."""
        try:
            self.events.emit(type_, action, actor, attributes)
        except StateNotSaved as exc:
            log.warning("event %s %s not recorded: %s", type_, action, exc.message)

    def _save_later(self, c: Container | None = None, exec_: Exec | None = None) -> None:
        """A state that already happened (a process ended) but could not be saved: keep
        showing it (a rollback does not reload it), and offer it to the store again until
        it is on disk. Call before the transaction that tries to save it."""
        if c is not None:
            self._unsaved[c.id] = c
        if exec_ is not None:
            self._unsaved_execs[exec_.id] = exec_

    def _saved(self, c: Container | None = None, exec_: Exec | None = None) -> None:
        if c is not None:
            self._unsaved.pop(c.id, None)
        if exec_ is not None:
            self._unsaved_execs.pop(exec_.id, None)

    def _retry_later(self) -> None:
        if self._retry_handle is None and not self.closed:
            loop = asyncio.get_running_loop()
            self._retry_handle = loop.call_later(SAVE_RETRY_SECONDS, self._retry_saves)

    def _retry_saves(self) -> None:
        self._retry_handle = None
        if self.closed or not (self._unsaved or self._unsaved_execs):
            return
        try:
            with self.store.tx():
                for exec_ in self._unsaved_execs.values():
                    if exec_.id in self.execs:
                        self.store.put_exec(exec_.id, exec_.cid, exec_.doc)
                for c in self._unsaved.values():
                    if not c.removed:
                        self.store.put("containers", c.id, c.doc)
        except StateNotSaved:
            self._retry_later()
            return
        log.info("saved the state of %d ended processes the store had refused", len(self._unsaved))
        self._unsaved.clear()
        self._unsaved_execs.clear()

    # ------------------------------------------------------------------ open / close
    @classmethod
    async def open(
        cls,
        home: Path,
        *,
        clock: Clock | str | None = None,
        seed: int | str | None = None,
        limits: EngineLimits | None = None,
    ) -> Engine:
        """Open (or create) ``<home>/state.db``; ``LABKIT_CLOCK``/``LABKIT_SEED`` and the
        ``LABKIT_ENGINE_*`` bounds (model/limits.py) from the environment if not given."""
        home = paths.make_private_dirs(Path(home))
        if clock is None:
            clock = Clock.from_env()
        elif isinstance(clock, str):
            clock = Clock(parse_instant(clock))
        if seed is None:
            seed = os.environ.get("LABKIT_SEED") or None
        if limits is None:
            limits = EngineLimits.from_env()
        store = Store(
            home / "state.db",
            max_log_bytes=limits.log_max,
            max_total_log_bytes=limits.logs_total,
        )
        clock.advance_past(store.latest_time())
        engine = cls(home, store, clock, None if seed is None else str(seed), limits)
        engine._load()
        engine._start_by_policy()
        return engine

    def _load(self) -> None:
        """Load records; what was running when the engine stopped is now exited (255).

        That news is saved if the store can take it, and else shown anyway and saved later
        (a full disk must not stop the engine from opening)."""
        try:
            self._load_records()
        except StateNotSaved as exc:
            log.warning("could not record what ended while the engine was down: %s", exc.message)
            self._retry_later()

    def _load_records(self) -> None:
        for doc in self.store.all("execs"):
            exec_ = Exec(doc)
            if exec_.doc["running"]:
                exec_.doc["running"] = False
                exec_.doc["exit_code"] = EXIT_ENGINE_DIED
                self._save_later(exec_=exec_)
                self.store.put_exec(exec_.id, exec_.cid, exec_.doc)
                self._saved(exec_=exec_)
            self.execs[exec_.id] = exec_
        stale: list[Container] = []
        for doc in self.store.all("containers"):
            c = Container(doc)
            self.containers[c.id] = c
            self._by_name[c.name] = c.id
            if c.status in ("running", "paused", "restarting", "removing"):
                c.state.update(
                    Status="exited",
                    Pid=0,
                    ExitCode=EXIT_ENGINE_DIED,
                    FinishedAt=self.clock.now_ns(),
                )
                self._save_later(c)
                self._save(c)
                self._saved(c)
                if c.auto_remove:
                    stale.append(c)
        for c in stale:
            self._destroy_now(c)

    def _start_by_policy(self) -> None:
        """What dockerd does as it starts: containers whose restart policy says so run again.

        As moby's restore: one that was started before, with ``always`` (even if the user
        stopped it), ``unless-stopped`` (unless the user did), or ``on-failure`` after a
        non-zero exit within its retry count; the start resets the count. One that cannot
        start keeps the error, and the engine opens anyway."""
        for c in list(self.containers.values()):
            if c.running or c.removed or not self._restarts_on_open(c):
                continue
            try:
                self.start_container(c)
            except (ApiError, StateNotSaved) as exc:
                log.warning("restarting container %s as the engine opened: %s", c.short, exc)

    def _restarts_on_open(self, c: Container) -> bool:
        if not c.state.get("StartedAt"):
            return False  # created and never started: no policy applies yet
        return hostconfig.policy_restarts(
            c.doc["host_config"],
            c.state["ExitCode"],
            c.manually_stopped,
            c.doc.get("restart_count", 0),
        )

    async def close(self) -> None:
        """Stop what runs and close the db.

        dockerd's shutdown stops each container as ``docker stop`` does: SIGTERM, and SIGKILL
        after its stop timeout (10 s) if it still runs, as a pid 1 without a handler for
        SIGTERM does (``sleep``: exit 137). The lab engine records the same exit codes without
        the wait: what SIGTERM ends (a program under docker-init) exits 143, and SIGKILL
        follows at once for the rest, which dockerd would have given their timeout (a shell
        that traps TERM ends 137 here, its own way there: docs/differential.md)."""
        if self.closed:
            return
        self.closing = True
        for c in list(self.containers.values()):
            self._cancel_restart(c)
            health.stop(c)
            if c.process is not None and c.running:
                with contextlib.suppress(Exception):
                    c.process.signal(SIGTERM)
                    c.process.signal(SIGKILL)  # a no-op where SIGTERM already ends it
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2)
        for t in pending:
            t.cancel()
        self._retry_saves()  # a last try for what ended while the disk was full
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        self.closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._reclaim_handle is not None:
            self._reclaim_handle.cancel()
        try:
            self.store.close()
        except StateNotSaved as exc:  # the last output could not be stored
            log.warning("closing the store: %s", exc.message)
            self.store.db.close()

    @property
    def memory(self) -> Any:
        """All containers' memory together (runtime.memory.MemoryAccount; each container's
        account is a child of it), made on first use: the runtime loads with the first run."""
        if self._memory is None:
            from labkit.engine.runtime.memory import MemoryAccount

            self._memory = MemoryAccount(self.limits.memory_total, name="engine")
        return self._memory

    @property
    def process_class(self) -> Any:
        """``runtime.process.Process``, imported on first use (tests may set another)."""
        if self._process_class is None:
            from labkit.engine.runtime.process import Process

            self._process_class = Process
        return self._process_class

    @process_class.setter
    def process_class(self, value: Any) -> None:
        self._process_class = value

    def _spawn(
        self, coro: Any, what: str, on_failure: Callable[[BaseException], None] | None = None
    ) -> asyncio.Task[Any]:
        """A background task of the engine's, watched: if it fails, the failure goes to the
        engine's log with its traceback, and ``on_failure`` puts what it served in a state
        the API can report (no task may die unnoticed)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def ended(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                if self.closed:
                    return
                exc: BaseException | None = asyncio.CancelledError(f"{what} was cancelled")
                log.warning("%s was cancelled", what)
            else:
                exc = task.exception()
                if exc is None:
                    return
                log.error("%s failed", what, exc_info=exc)
            if on_failure is not None:
                try:
                    on_failure(exc)
                except Exception:
                    log.exception("recovering from the failure of %s failed too", what)

        task.add_done_callback(ended)
        return task

    def now(self) -> int:
        return self.clock.now_ns()

    def _new_id(self) -> str:
        value = self.ids.new_id()
        if self.ids.seed is not None:
            self.store.set_meta("id_counter", str(self.ids.counter))
        return value

    # ------------------------------------------------------------------ images
    def image_event(self, action: str, image: Image, name: str, actor: str | None = None) -> None:
        attrs = image.labels()
        attrs["name"] = name
        self.events.emit("image", action, actor or image.id, attrs)

    def pull_target(
        self, from_image: str, tag: str | None
    ) -> tuple[catalogue.ImageSpec, refs.Reference]:
        """What ``POST /images/create?fromImage=…`` pulls, or dockerd's 404 before any stream."""
        ref = refs.parse(from_image, default_tag=False)
        if tag:
            if tag.startswith("sha256:"):
                ref = refs.Reference(ref.repo, None, tag)
            else:
                ref = refs.parse(f"{ref.repo}:{tag}")
        elif ref.tag is None and ref.digest is None:
            ref = refs.Reference(ref.repo, refs.DEFAULT_TAG, None)
        spec = catalogue.find(ref.repo)
        if spec is None:
            shown = ref.repo
            raise NotFound(
                f"pull access denied for {shown}, repository does not exist or may require "
                "'docker login': denied: requested access to the resource is denied"
            )
        if ref.digest is not None:
            if ref.digest != spec.digest:
                raise NotFound(
                    f"manifest for {ref.repo}@{ref.digest} not found: manifest unknown: "
                    "manifest unknown"
                )
        elif ref.tag not in spec.tags:
            raise NotFound(
                f"manifest for {ref.repo}:{ref.tag} not found: manifest unknown: manifest unknown"
            )
        return spec, ref

    def has_pulled(self, spec: catalogue.ImageSpec, ref: refs.Reference) -> tuple[bool, bool]:
        """(the image's content is here, this very reference already points at it)."""
        image = self.images.images.get(spec.id)
        if image is None:
            return False, False
        key = str(ref) if ref.digest else ref.tagged()
        return True, key in image.tags or key in image.digests

    def record_pull(self, spec: catalogue.ImageSpec, ref: refs.Reference) -> Image:
        with self.store.tx():
            before = self.images.find_tag(ref.tagged()) if ref.digest is None else None
            image, _changed = self.images.add(spec, ref, self.now())
            if before is not None and before is not image:
                self.image_event("untag", before, before.id)
            shown = str(ref) if ref.digest else ref.tagged()
            self.image_event("pull", image, ref.repo, actor=shown)
        return image

    def tag_image(self, name: str, repo: str, tag: str | None) -> None:
        image = self.images.resolve(name)
        if not repo:
            raise BadRequest("repository name must have at least one component")
        ref = refs.parse(f"{repo}:{tag}" if tag else repo)
        if ref.digest:
            raise BadRequest("refusing to create a tag with a digest reference")
        with self.store.tx():
            self.images.tag(image, ref, self.now())
            self.image_event("tag", image, ref.tagged())

    def containers_using(self, image: Image) -> list[Container]:
        return [c for c in self.containers.values() if c.doc["image_id"] == image.id]

    def delete_image(self, name: str, force: bool = False) -> list[dict[str, str]]:
        """``DELETE /images/{name}``: untag, and delete once no tag is left (dockerd's rules)."""
        image = self.images.resolve(name)
        by_id = self._named_by_id(name, image)
        users = self.containers_using(image)
        children = any(i.parent == image.id for i in self.images.images.values())
        result: list[dict[str, str]] = []
        with self.store.tx():
            if by_id and children:
                raise Conflict(
                    f"conflict: unable to delete {image.short} (cannot be forced) - image has "
                    "dependent child images"
                )
            if not by_id:
                ref = refs.parse(name)
                tagged = str(ref) if ref.digest else ref.tagged()
                others = [t for t in image.tags if t != tagged]
                if others or force or not users:
                    if tagged in image.tags:
                        self.images.untag(image, tagged)
                    elif tagged in image.digests:
                        image.digests.remove(tagged)
                        self.images.save(image)
                    result.append({"Untagged": tagged})
                    self.image_event("untag", image, image.id)
                    if others or (users and force) or children:
                        return result  # a parent of built images stays, untagged
                else:
                    raise conflict_in_use(name, users[0].short, image)
            else:
                running = [c for c in users if c.running]
                if running:
                    raise Conflict(
                        f"conflict: unable to delete {image.short} (cannot be forced) - image is "
                        f"being used by running container {running[0].short}"
                    )
                if users and not force:
                    raise Conflict(
                        f"conflict: unable to delete {image.short} (must be forced) - image is "
                        f"being used by stopped container {users[0].short}"
                    )
                if len(image.tags) > 1 and not force:
                    raise Conflict(
                        f"conflict: unable to delete {image.short} (must be forced) - image is "
                        "referenced in multiple repositories"
                    )
                for tagged in list(image.tags):
                    self.images.untag(image, tagged)
                    result.append({"Untagged": tagged})
                    self.image_event("untag", image, image.id)
            for digest in list(image.digests):
                result.append({"Untagged": digest})
            self.images.remove(image)
            result.append({"Deleted": image.id})
            if image.local is None:
                for layer in image.spec.layers:
                    result.append({"Deleted": layer.diff_id})
            self.image_event("delete", image, image.id)
            result.extend(self._delete_unused_parents(image))
        if image.local is not None:
            from labkit.engine.model.image_making import forget_unused_layers

            forget_unused_layers(self)
        return result

    def _delete_unused_parents(self, image: Image) -> list[dict[str, str]]:
        """A deleted image's build parents that nothing else needs go with it (dockerd's
        intermediate images)."""
        result = []
        parent = self.images.images.get(image.parent)
        while parent is not None and parent.local is not None and not parent.tags:
            if self.containers_using(parent) or any(
                i.parent == parent.id for i in self.images.images.values()
            ):
                break
            self.images.remove(parent)
            result.append({"Deleted": parent.id})
            self.image_event("delete", parent, parent.id)
            parent = self.images.images.get(parent.parent)
        return result

    @staticmethod
    def _named_by_id(name: str, image: Image) -> bool:
        if refs.is_full_id(name):
            return True
        bare = name[7:] if name.startswith("sha256:") else name
        return (
            image.id[7:].startswith(bare)
            and not any(t == refs.parse(name).tagged() for t in image.tags)
            if all(c in "0123456789abcdef" for c in bare)
            else False
        )

    def prune_images(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        dangling_only = (filters.get("dangling") or ["true"])[-1].lower() in ("true", "1")
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        for image in list(self.images.images.values()):
            if image.id not in self.images.images:  # gone with the image built from it
                continue
            if self.containers_using(image) or (dangling_only and image.tags):
                continue
            if any(i.parent == image.id for i in self.images.images.values()):
                continue  # a build's intermediate image goes with the image made from it
            if not _labels_match(image.labels(), filters):
                continue
            reclaimed += image.size
            with self.store.tx():
                for tagged in list(image.tags):
                    self.images.untag(image, tagged)
                    deleted.append({"Untagged": tagged})
                    self.image_event("untag", image, image.id)
                self.images.remove(image)
                deleted.append({"Deleted": image.id})
                self.image_event("delete", image, image.id)
                deleted.extend(self._delete_unused_parents(image))
        if deleted:
            from labkit.engine.model.image_making import forget_unused_layers

            forget_unused_layers(self)
            self.events.emit("image", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # ------------------------------------------------------------------ container lookup
    def container(self, ref: str) -> Container:
        """By full id, name (with or without ``/``), then unique id prefix; 404 otherwise."""
        if ref in self.containers:
            return self.containers[ref]
        name = ref[1:] if ref.startswith("/") else ref
        cid = self._by_name.get(name)
        if cid is not None:
            return self.containers[cid]
        if ref:
            found = [c for cid, c in self.containers.items() if cid.startswith(ref)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise BadRequest(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def _save(self, c: Container) -> None:
        if not c.removed:
            self.store.put("containers", c.id, c.doc)

    def _check_name(self, name: str, cid: str | None = None) -> str:
        if not VALID_NAME.fullmatch(name):
            raise BadRequest(
                f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        name = name.lstrip("/")
        owner = self._by_name.get(name)
        if owner is not None and owner != cid:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{owner}". You have to remove (or rename) that container to be able to reuse '
                "that name."
            )
        return name

    # ------------------------------------------------------------------ create
    def create_container(self, name: str | None, body: Any) -> Container:
        """``POST /containers/create``: a container in state ``created``."""
        body = check_container_body(body)
        image_name = body.get("Image") or ""
        if not image_name:
            raise BadRequest("No image specified: set Image to the image to run, e.g. busybox")
        image = self.images.resolve(image_name)
        if name:
            name = self._check_name(name)
        spec_cfg = image.config()
        user_entry = strslice(body.get("Entrypoint"))
        user_cmd = strslice(body.get("Cmd"))
        if user_entry is not None:
            entrypoint = [] if user_entry == [""] else user_entry
            cmd = user_cmd or []
        else:
            entrypoint = list(spec_cfg["Entrypoint"] or [])
            cmd = user_cmd if user_cmd else list(spec_cfg["Cmd"] or [])
        argv = entrypoint + cmd
        if not argv:
            raise BadRequest("No command specified")
        host_in = body.get("HostConfig") or {}
        endpoint_names = list((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
        health = hostconfig.healthcheck(body.get("Healthcheck"), spec_cfg.get("Healthcheck"))
        hostconfig.check_healthcheck(health)
        warnings = hostconfig.check(host_in, body, endpoint_names)
        children = links.resolve(host_in.get("Links"), self.container)
        cid = self._new_id()
        with self.store.tx():
            if not name:
                name = self.ids.new_name(lambda n: n in self._by_name)
                if self.ids.seed is not None:
                    self.store.set_meta("id_counter", str(self.ids.counter))
            mounts = resolve_mounts(host_in, self._volume_source, self._new_id)
            volumes = dict(spec_cfg.get("Volumes") or {})
            volumes.update(body.get("Volumes") or {})
            mounts += self._anonymous_volumes(volumes, mounts)
            labels = dict(spec_cfg["Labels"] or {})
            labels.update(body.get("Labels") or {})
            exposed = dict(spec_cfg.get("ExposedPorts") or {})
            exposed.update(body.get("ExposedPorts") or {})
            config = {
                "Hostname": body.get("Hostname") or cid[:12],
                "Domainname": body.get("Domainname") or "",
                "User": body.get("User") or spec_cfg.get("User") or "",
                "AttachStdin": bool(body.get("AttachStdin")),
                "AttachStdout": bool(body.get("AttachStdout")),
                "AttachStderr": bool(body.get("AttachStderr")),
                "ExposedPorts": exposed or None,
                "Tty": bool(body.get("Tty")),
                "OpenStdin": bool(body.get("OpenStdin")),
                "StdinOnce": bool(body.get("StdinOnce")),
                "Env": _merge_env(list(spec_cfg["Env"] or []), list(body.get("Env") or [])),
                "Cmd": cmd or None,
                "Healthcheck": health,
                "ArgsEscaped": bool(body.get("ArgsEscaped")),
                "Image": image_name,
                "Volumes": body.get("Volumes"),
                "WorkingDir": body.get("WorkingDir") or spec_cfg["WorkingDir"] or "",
                "Entrypoint": entrypoint or None,
                "NetworkDisabled": bool(body.get("NetworkDisabled")),
                "MacAddress": body.get("MacAddress") or "",
                "OnBuild": body.get("OnBuild") or None,
                "Labels": labels,
                "StopSignal": body.get("StopSignal") or "",
                "StopTimeout": body.get("StopTimeout"),
                "Shell": body.get("Shell") or None,
            }
            # Go leaves these out when empty (``omitempty``); OnBuild only from API 1.44
            # (the views keep it for older versions).
            for key in _CONFIG_OMIT_EMPTY:
                if config[key] is None or (key != "StopTimeout" and not config[key]):
                    del config[key]
            host_config = hostconfig.keep(host_in)
            if children:
                host_config["Links"] = links.stored(children, name)
            doc = {
                "id": cid,
                "name": f"/{name}",
                "created": self.now(),
                "image_id": image.id,
                "rootfs": image.rootfs_key,
                "image_size": image.size,
                "config": config,
                "host_config": host_config,
                "mounts": mounts,
                "path": argv[0],
                "args": argv[1:],
                "state": new_state(),
                "restart_count": 0,
                "exec_ids": [],
                "networks": endpoints.initial(host_config, body.get("NetworkingConfig")),
            }
            c = Container(doc)
            self.store.put("containers", cid, doc)
            self.containers[cid] = c
            self._by_name[name] = cid
            self.events.emit("container", "create", cid, c.event_attributes())
        c.warnings = warnings
        return c

    def _anonymous_volumes(
        self, volumes: dict[str, Any], mounts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A new anonymous volume for each ``Config.Volumes`` path no other mount covers."""
        taken = {m["Destination"].rstrip("/") or "/" for m in mounts}
        out = []
        for path in sorted(volumes):
            dst = "/" + path.strip("/")
            if not path.startswith("/"):
                raise BadRequest(f"invalid mount config: volume path must be absolute: {path}")
            if dst in taken:
                continue
            taken.add(dst)
            name = self._new_id()
            volume, _ = self.volumes.create(name, self.now(), anonymous=True)
            self.events.emit("volume", "create", name, {"driver": "local"})
            source = str(self.volumes.mountpoint(volume.name))
            out.append(volume_mount(name, source, dst, False, ""))
        return out

    def _volume_source(self, name: str) -> str:
        volume, created = self.volumes.create(name, self.now())
        if created:
            self.events.emit("volume", "create", name, {"driver": "local"})
        return str(self.volumes.mountpoint(volume.name))

    # ------------------------------------------------------------------ start / run
    def _make_vfs(self, c: Container) -> Any:
        from labkit.engine.model.image_making import tree
        from labkit.engine.runtime.vfs import VFS

        upper = self.store.get_upper(c.id)
        vfs = VFS(tree(self, c.doc["rootfs"]), upper=upper, binds=vfs_binds(c.doc["mounts"]))
        if c.vfs is None:  # not running: what docker cp puts in is bounded all the same
            account = self._new_memory(c, running=False)
            account.add(vfs.used)
            vfs.quota = account.try_add
        hostname = c.config.get("Hostname") or c.short
        hosts = "".join(self._link_hosts(c))
        with contextlib.suppress(OSError):
            vfs.write("/etc/hostname", f"{hostname}\n".encode())
            vfs.write(
                "/etc/hosts",
                f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                f"{hosts}{links.sim_ip(c.id)}\t{hostname}\n".encode(),
            )
        host_config = c.doc["host_config"]
        for path in host_config.get("Tmpfs") or ():  # dockerd makes a tmpfs's mount point
            with contextlib.suppress(OSError):
                vfs.mkdir(path, parents=True)
        if host_config.get("ReadonlyRootfs"):
            vfs.read_only = True
            vfs.writable = (*(host_config.get("Tmpfs") or ()), "/dev/shm")
        return vfs

    def _linked(self, c: Container) -> list[tuple[Container, str]]:
        """(child, link name ``/parent/alias``) of each of ``c``'s links whose child is here."""
        out = []
        for link in c.doc["host_config"].get("Links") or []:
            child_name, link_name = links.parse_stored(link)
            cid = self._by_name.get(child_name)
            if cid is not None:
                out.append((self.containers[cid], link_name))
        return out

    def _link_hosts(self, c: Container) -> list[str]:
        return [
            links.hosts_line(
                link_name.rsplit("/", 1)[-1],
                links.sim_ip(child.id),
                child.config.get("Hostname") or child.short,
                child.name,
            )
            for child, link_name in self._linked(c)
        ]

    def _link_env(self, c: Container) -> list[str]:
        """The variables of ``c``'s links; dockerd's refusal when a linked container is
        gone or not running."""
        out: list[str] = []
        for link in c.doc["host_config"].get("Links") or []:
            child_name, link_name = links.parse_stored(link)
            cid = self._by_name.get(child_name)
            child = self.containers.get(cid or "")
            if child is None or not child.running:
                raise ServerError(
                    f"Cannot link to a non running container: /{child_name} AS {link_name}"
                )
            config = child.config
            out += links.env(
                link_name,
                links.sim_ip(child.id),
                config.get("ExposedPorts"),
                config.get("Env") or [],
            )
        return out

    def _check_network(self, c: Container) -> None:
        """dockerd's 404 at start for a network mode naming a network or container not here."""
        mode = c.doc["host_config"].get("NetworkMode") or "default"
        if mode.startswith("container:"):
            self.container(mode.partition(":")[2])
        elif mode not in ("default", "bridge", "host", "none"):
            try:
                self.networks.get(mode)
            except NotFound:
                raise NotFound(f"network {mode} not found") from None

    def _groups(self, c: Container, vfs: Any) -> tuple[int, ...]:
        """HostConfig.GroupAdd as group ids, names looked up in the container's /etc/group."""
        wanted = c.doc["host_config"].get("GroupAdd") or []
        if not wanted:
            return ()
        try:
            table = vfs.read("/etc/group").decode("utf-8", "replace")
        except OSError:
            table = ""
        by_name = {}
        for line in table.splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                by_name.setdefault(parts[0], int(parts[2]))
        out = []
        for group in wanted:
            if group.isdigit():
                out.append(int(group))
            elif group in by_name:
                out.append(by_name[group])
            else:
                raise ServerError(
                    f"Unable to find group {group}: no matching entries in group file"
                )
        return tuple(out)

    def _new_memory(self, c: Container, running: bool = True) -> Any:
        """A container's memory account: its --memory (or the engine's default), inside the
        engine's total while it runs; going over it is an OOM kill (see _oom)."""
        from labkit.engine.runtime.memory import MemoryAccount

        limit = self.limits.container_memory(c.doc["host_config"].get("Memory"))
        if not running:
            return MemoryAccount(limit, name=c.id)
        return MemoryAccount(limit, parent=self.memory, on_oom=lambda: self._oom(c), name=c.id)

    def _oom(self, c: Container) -> None:
        """dockerd on the kernel's OOM event: State.OOMKilled, and an ``oom`` event."""
        log.info("container %s went over its memory limit: OOM kill", c.short)
        c.state["OOMKilled"] = True
        try:
            with self.store.tx():
                self._save(c)
                self.events.emit("container", "oom", c.id, c.event_attributes())
        except Exception:
            log.exception("recording the OOM kill of %s failed", c.short)

    async def _throttle(self, c: Container) -> None:
        """Back-pressure on a container's main process, at its scheduling points: wait while
        its output waits for the store, or for an attached client that is not reading."""
        if self.store.pending_bytes >= FLUSH_BYTES:
            self._flush()
        for queue in list(c.listeners):
            if queue.full:
                await queue.room()

    def process_env(
        self, c: Container, extra: list[str] | None = None, linked: list[str] | None = None
    ) -> dict[str, str]:
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": c.config.get("Hostname") or c.short}
        if c.tty:
            env["TERM"] = "xterm"
        env.update(_env_dict(linked or []))
        env.update(_env_dict(c.config.get("Env") or []))
        env.update(_env_dict(extra or []))
        return env  # HOME comes from the user's /etc/passwd entry (the runtime looks)

    @staticmethod
    def missing_executable(argv: list[str]) -> str:
        """dockerd's (runc's) start error for a command that is not there."""
        if "/" in argv[0]:
            reason = f'exec: "{argv[0]}": stat {argv[0]}: no such file or directory'
        else:
            reason = f'exec: "{argv[0]}": executable file not found in $PATH'
        return (
            "failed to create shim task: OCI runtime create failed: runc create failed: "
            f"unable to start container process: {reason}: unknown"
        )

    def start_container(self, c: Container, auto: bool = False) -> None:
        """``POST /containers/{id}/start``; 304 if it runs, 400 if its command is missing.
        ``auto``: a restart policy's start, which keeps the restart count and backoff."""
        process_cls = self.process_class

        if c.running and c.status != "restarting":
            raise NotModified()
        if c.removing or c.removed:
            raise Conflict(f"Container {c.id} is marked for removal and cannot be started.")
        self._cancel_restart(c)
        try:
            self._check_network(c)
            env = self.process_env(c, linked=self._link_env(c))
            vfs = self._make_vfs(c)
            groups = self._groups(c, vfs)
        except ApiError as exc:  # dockerd records a failed start (exit 128 if none yet)
            with self.store.tx():
                c.state.update(Error=exc.message, ExitCode=c.state["ExitCode"] or 128)
                self._save(c)
                if c.auto_remove:
                    self._destroy_now(c)
            raise
        argv = c.argv
        if process_cls.resolve(argv, vfs, env) is None:
            message = self.missing_executable(argv)
            with self.store.tx():
                c.state.update(ExitCode=NOT_FOUND_EXIT, Error=message)
                self._save(c)
                if c.auto_remove:
                    self._destroy_now(c)
            raise BadRequest(message)
        memory = self._new_memory(c)
        vfs.quota = memory.try_add
        memory.add(vfs.used)  # what earlier runs left in its filesystem
        process = process_cls(
            argv,
            fs=vfs,
            env=env,
            cwd=c.config.get("WorkingDir") or "/",
            hostname=c.config.get("Hostname") or c.short,
            user=c.config.get("User") or "root",
            tty=c.tty,
            clock=self.clock.time,
            on_output=lambda stream, data: self._output(c, stream, data),
            ps=lambda: self._ps_rows(c),
            **self._process_extras(
                memory,
                lambda: self._throttle(c),
                groups,
                pid1=not c.doc["host_config"].get("Init"),  # else docker-init is pid 1
            ),
        )
        # Saved first: if the store cannot take "running", nothing runs (a rollback).
        try:
            with self.store.tx():
                c.state.update(
                    Status="running",
                    Pid=process.pid,
                    ExitCode=0,
                    Error="",
                    StartedAt=self.now(),
                    OOMKilled=False,
                )
                c.manually_stopped = False
                if not auto:
                    c.doc["restart_count"], c.backoff = 0, 0.0
                if c.config.get("Healthcheck") and health.probe_argv(c.config, []) is not None:
                    health.reset(c.state)
                self._save(c)
                self._network_events(c, "connect")
                self.events.emit("container", "start", c.id, c.event_attributes())
        except StateNotSaved:
            memory.parent = None  # it never ran: what it counted leaves the engine's total
            self.memory.add(-memory.used)
            raise
        c.process, c.vfs, c.memory = process, vfs, memory
        c.runs += 1
        if not c.config.get("OpenStdin"):
            process.close_stdin()
        else:
            for piece in c.stdin_pending:
                process.feed_stdin(piece)
            c.stdin_pending = []
            if c.stdin_closed:
                process.close_stdin()
        process.start()
        c.supervisor = self._spawn(
            self._supervise(c, process),
            f"the supervisor of container {c.short}",
            lambda exc: self._supervisor_failed(c, exc),
        )
        if c.state.get("Health"):
            c.health = health.start(self, c)

    def _process_extras(
        self, memory: Any, throttle: Any, groups: tuple[int, ...] = (), pid1: bool = False
    ) -> dict[str, Any]:
        """``memory``, ``throttle``, ``groups`` and ``pid1`` for the process class, if it
        takes them (a test's stand-in may not)."""
        import inspect

        params = inspect.signature(self.process_class).parameters
        extras = {"memory": memory, "throttle": throttle, "groups": groups, "pid1": pid1}
        return {name: value for name, value in extras.items() if name in params}

    def _ps_rows(self, c: Container) -> list[tuple[int, str, str]]:
        """Every process of a container as ``ps`` inside it shows them: the main one is pid 1."""
        rows = []
        if c.process is not None:
            user = c.config.get("User") or "root"
            if c.doc["host_config"].get("Init"):  # docker-init is pid 1, the command its child
                rows.append((1, user, "/sbin/docker-init -- " + " ".join(c.argv)))
                rows.append((7, user, " ".join(c.argv)))
            else:
                rows.append((1, user, " ".join(c.argv)))
        for n, exec_ in enumerate(self.execs.values(), start=2):
            if exec_.cid == c.id and exec_.running:
                user = exec_.doc["user"] or c.config.get("User") or "root"
                rows.append((n * 7, user, " ".join(exec_.doc["argv"])))
        return rows

    def resize(self, process: Any, height: int | None, width: int | None) -> None:
        """A terminal's new size, for a process that cares (``ls`` lays out columns)."""
        resize = getattr(process, "resize", None)
        if resize is not None and height and width:
            resize(height, width)

    def _output(self, c: Container, stream: int, data: bytes) -> None:
        """Every piece of output: into the log and to every attached client, in rows of at
        most 16 KiB cut after a line where they can be (a longer line is cut, as dockerd's
        log driver cuts lines into 16 KiB messages). The API gives the lines back one by one."""
        if not data:
            return
        now = self.now()
        start = 0
        size = len(data)
        while start < size:
            end = size
            if size - start > LOG_ROW:
                cut = data.rfind(b"\n", start, start + LOG_ROW)
                end = cut + 1 if cut >= 0 else start + LOG_ROW
            row = data[start:end] if start or end < size else data
            start = end
            self.store.append_log(c.id, now, stream, row)
            for queue in c.listeners:
                queue.put_nowait((now, stream, row))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        """A flush FLUSH_DELAY from now, or on the next turn of the loop when much waits."""
        loop = asyncio.get_running_loop()
        if self.store.pending_bytes >= FLUSH_BYTES:
            if self._flush_handle is not None and not self._flush_soon:
                self._flush_handle.cancel()
                self._flush_handle = None
            if self._flush_handle is None:
                self._flush_handle, self._flush_soon = loop.call_soon(self._flush), True
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(FLUSH_DELAY, self._flush)
            self._flush_soon = False

    def _flush(self) -> None:
        """Write waiting output to the store; a failure is logged and the output dropped
        (the containers go on), never left to grow."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.closed:
            return
        try:
            self.store.flush_logs()
        except StateNotSaved as exc:
            log.warning("container output was not stored: %s", exc.message)
        except Exception:
            log.exception("writing container output to the store failed: that output is lost")
        self._schedule_reclaim()

    def _schedule_reclaim(self) -> None:
        if self._reclaim_handle is None and not self.closed:
            loop = asyncio.get_running_loop()
            self._reclaim_handle = loop.call_later(RECLAIM_EVERY, self._reclaim)

    def _reclaim(self) -> None:
        """One step of giving deleted output's space back; again later while more is left."""
        self._reclaim_handle = None
        if self.closed:
            return
        try:
            more = self.store.reclaim()
        except Exception:
            log.exception("giving freed space back to the file system failed")
            more = False
        if more:
            self._schedule_reclaim()

    def _logs_stored(self, cids: set[str]) -> None:
        """New output is in the store: wake the clients following those containers' logs."""
        for cid in cids:
            c = self.containers.get(cid)
            if c is not None:
                self._wake_followers(c)

    @staticmethod
    def _wake_followers(c: Container) -> None:
        waiters, c.log_waiters = c.log_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def flush_logs(self) -> None:
        """Everything output so far, in the store (before reading logs)."""
        self._flush()

    async def _supervise(self, c: Container, process: Any) -> None:
        """Wait for the main process; then record the exit, tell everyone, maybe auto-remove.

        Whatever goes wrong while recording, the container ends up exited, its waiters are
        told and it can be removed: a failure here must never leave it "running" for ever.
        """
        error = ""
        try:
            code = await process.wait()
        except Exception as exc:
            log.exception("waiting for container %s's process failed", c.short)
            code, error = EXIT_ENGINE_DIED, f"the lab engine lost this container's process: {exc}"
        if self.closed:
            return
        for exec_ in self.execs.values():
            if exec_.cid == c.id and exec_.process is not None and exec_.running:
                with contextlib.suppress(Exception):
                    exec_.process.signal(SIGKILL)
        self._flush()
        self._exited(c, code, error)
        delay = self._restart_delay(c, code)
        if delay is not None:
            c.doc["restart_count"] = c.doc.get("restart_count", 0) + 1
            c.state["Status"] = "restarting"
        self._save_later(c)  # it has ended, whether or not the store takes it now
        try:
            with self.store.tx():
                if c.vfs is not None and not c.removed:
                    try:
                        self.store.put_upper(c.id, c.vfs.upper_state())
                    except StateNotSaved:
                        raise
                    except Exception:
                        log.exception("saving container %s's files failed", c.short)
                self._save(c)
                self.events.emit("container", "die", c.id, c.event_attributes(exitCode=str(code)))
                self._network_events(c, "disconnect")
        except StateNotSaved as exc:
            log.warning("container %s exited (%d); saving that failed, retrying: %s",
                        c.short, code, exc.message)  # fmt: skip
            self._retry_later()
        except Exception as exc:
            log.exception("recording the exit of container %s failed", c.short)
            self._exited(c, code, f"the lab engine could not record this exit: {exc}")
            self._retry_later()
        else:
            self._saved(c)
        self._after_exit(c, code)
        if delay is not None and not c.removed:
            loop = asyncio.get_running_loop()
            c.restart_timer = loop.call_later(delay, self._auto_restart, c)

    def _network_events(self, c: Container, action: str) -> None:
        """dockerd's ``connect`` to each of a container's networks as it starts, and
        ``disconnect`` after it dies (none for a container that shares another's network)."""
        for name in endpoints.attached(c.doc):
            if name.startswith("container:"):
                continue
            try:
                network = self.networks.get(name)
            except NotFound:  # an endpoint an older record named "default"
                continue
            attrs = {"container": c.id, "name": network.name, "type": network.driver}
            self.events.emit("network", action, network.id, attrs)

    def _restart_delay(self, c: Container, code: int) -> float | None:
        """Seconds until a restart policy starts ``c`` again, or None: moby's restart
        manager (100 ms, doubled each time up to a minute, back to 100 ms after a run of
        10 s or more); a container the user stopped or killed is not restarted."""
        if self.closing or c.stopping or c.removing or c.removed or c.manually_stopped:
            return None  # the user's stop or kill cancels the policy until the engine restarts
        count = c.doc.get("restart_count", 0)
        if not hostconfig.policy_restarts(c.doc["host_config"], code, False, count):
            return None
        ran = (self.now() - c.state["StartedAt"]) / 1e9
        if ran >= 10:
            c.backoff = 0.0
        c.backoff = 0.1 if not c.backoff else min(c.backoff * 2, 60.0)
        return c.backoff

    def _auto_restart(self, c: Container) -> None:
        """A restart policy's start; if it fails, the container stays exited with the error."""
        c.restart_timer = None
        if self.closing or c.removed or c.status != "restarting":
            return
        try:
            self.start_container(c, auto=True)
        except ApiError as exc:
            log.info("restarting container %s failed: %s", c.short, exc.message)
            c.state.update(Status="exited", Error=exc.message)
            with contextlib.suppress(StateNotSaved), self.store.tx():
                self._save(c)

    def _cancel_restart(self, c: Container) -> None:
        if c.restart_timer is not None:
            c.restart_timer.cancel()
            c.restart_timer = None

    def _exited(self, c: Container, code: int, error: str = "") -> None:
        c.state.update(Status="exited", Pid=0, ExitCode=code, FinishedAt=self.now())
        if error:
            c.state["Error"] = error

    def _after_exit(self, c: Container, code: int) -> None:
        """What follows an exit, in memory only (it cannot fail on the store)."""
        if c.memory is not None:  # whatever it still holds leaves the engine's total
            c.memory.parent = None
            self.memory.add(-c.memory.used)
        c.process = c.vfs = c.memory = None
        c.stdin_pending, c.stdin_closed = [], False
        health.stop(c)
        for queue in list(c.listeners):
            queue.put_nowait(None)
        c.listeners.clear()
        self._wake_followers(c)
        waiters, c.exit_waiters = c.exit_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(code)
        if c.auto_remove and not c.removing and not c.stopping:
            try:
                self._destroy_now(c)
            except Exception:
                log.exception("removing container %s (--rm) failed", c.short)

    def _supervisor_failed(self, c: Container, exc: BaseException) -> None:
        """The task watching a container died (a bug): end the container, reportably."""
        process = c.process
        if process is not None:
            with contextlib.suppress(Exception):
                process.signal(SIGKILL)
        supervisor = c.supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()  # it may still wait for a process that will never end
        if c.running:
            self._exited(c, EXIT_ENGINE_DIED, f"the lab engine's supervisor failed: {exc}")
            with contextlib.suppress(Exception):
                self._save(c)
            self._after_exit(c, EXIT_ENGINE_DIED)

    async def _wait_exit(self, c: Container, fut: asyncio.Future[int]) -> None:
        """Wait for a killed container's exit; past KILL_GRACE, record it as exited anyway."""
        try:
            await asyncio.wait_for(asyncio.shield(fut), KILL_GRACE)
        except asyncio.TimeoutError:
            log.error(
                "container %s did not end %.0f s after SIGKILL: recorded as exited",
                c.short, KILL_GRACE,
            )  # fmt: skip
            if c.running:
                self._supervisor_failed(c, RuntimeError("its process did not end after SIGKILL"))

    # ------------------------------------------------------------------ stdin
    def feed_stdin(self, c: Container, data: bytes) -> None:
        if c.process is not None:
            c.process.feed_stdin(data)
        elif not c.removed:
            c.stdin_pending.append(data)

    def close_stdin(self, c: Container) -> None:
        if c.process is not None:
            c.process.close_stdin()
        else:
            c.stdin_closed = True

    # ------------------------------------------------------------------ wait
    def waiter(self, c: Container, condition: str = "not-running") -> asyncio.Future[int]:
        """A future for the exit code once ``condition`` holds (dockerd's wait conditions)."""
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise BadRequest(
                f"invalid condition: {condition!r}: use not-running, next-exit or removed"
            )
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if condition == "removed":
            if c.removed:
                fut.set_result(c.state["ExitCode"])
            else:
                c.remove_waiters.append(fut)
        elif condition in ("not-running", "") and not c.running:
            fut.set_result(c.state["ExitCode"])
        else:
            c.exit_waiters.append(fut)
        return fut

    def drop_waiter(self, c: Container, fut: asyncio.Future[int]) -> None:
        for waiters in (c.exit_waiters, c.remove_waiters):
            if fut in waiters:
                waiters.remove(fut)
        if not fut.done():
            fut.cancel()

    # ------------------------------------------------------------------ pause
    def pause_container(self, c: Container) -> None:
        """``docker pause``: the simulated process stops at its next sleep or loop step."""
        if not c.running or c.process is None:
            raise Conflict(f"Container {c.id} is not running")
        if c.status == "paused":
            raise Conflict(f"Container {c.id} is already paused")
        freeze = getattr(c.process, "freeze", None)
        if freeze is None:
            raise Conflict(f"Cannot pause container {c.id}: its process cannot be paused")
        with self.store.tx():  # saved first: if the store cannot take it, nothing freezes
            c.state["Status"] = "paused"
            self._save(c)
            self.events.emit("container", "pause", c.id, c.event_attributes())
        freeze()

    def unpause_container(self, c: Container) -> None:
        if c.status != "paused" or c.process is None:
            raise Conflict(f"Container {c.id} is not paused")
        self._thaw(c)

    def _thaw(self, c: Container) -> None:
        with self.store.tx():
            c.state["Status"] = "running"
            self._save(c)
            self.events.emit("container", "unpause", c.id, c.event_attributes())
        if c.process is not None:
            c.process.thaw()

    # ------------------------------------------------------------------ signals
    def kill_container(self, c: Container, signal_text: str | None = None, *, ref: str = "") -> int:
        signum = parse_signal(signal_text, SIGKILL)
        if not c.running or c.process is None:
            raise Conflict(
                f"Cannot kill container: {ref or c.name}: Container {c.id} is not running"
            )
        self.note("container", "kill", c.id, c.event_attributes(signal=str(signum)))
        c.manually_stopped = True
        c.process.signal(signum)
        if c.supervisor is None or c.supervisor.done():
            # nobody is watching it any more (a failed supervisor): record its end now
            self._supervisor_failed(c, RuntimeError("nobody was watching it"))
        if signum == SIGKILL and c.status == "paused":
            # As dockerd does, a killed paused container is unpaused to die; it dies even if
            # the store cannot take "running" now (its exit is saved when it can be).
            c.process.thaw()
            with contextlib.suppress(StateNotSaved):
                self._thaw(c)
        return signum

    async def stop_container(
        self, c: Container, timeout: int | None = None, signal_text: str | None = None
    ) -> None:
        """SIGTERM (or the stop signal), then SIGKILL after ``timeout`` seconds (the
        container's StopTimeout, else 10)."""
        if c.status == "restarting" and c.process is None:  # between two runs
            c.state["Status"], c.manually_stopped = "exited", True
            try:
                with self.store.tx():
                    self._save(c)
            except StateNotSaved:
                c.state["Status"], c.manually_stopped = "restarting", False
                raise
            self._cancel_restart(c)
            self.note("container", "stop", c.id, c.event_attributes())
            return
        if not c.running or c.process is None:
            raise NotModified()
        signum = parse_signal(signal_text or c.config.get("StopSignal"), SIGTERM)
        if timeout is None:
            timeout = c.config.get("StopTimeout")
        wait_s = 10 if timeout is None else timeout
        c.stopping = True
        try:
            fut = self.waiter(c, "next-exit")
            self.kill_container(c, str(signum))
            if c.status == "paused":  # a frozen process cannot act on it: go on to SIGKILL
                wait_s = 0
            try:
                if wait_s < 0:
                    await asyncio.shield(fut)
                else:
                    await asyncio.wait_for(asyncio.shield(fut), min(max(wait_s, 0.05), 1e9))
            except asyncio.TimeoutError:
                if c.running and c.process is not None:
                    self.kill_container(c, str(SIGKILL))
                await self._wait_exit(c, fut)
            self.note("container", "stop", c.id, c.event_attributes())
        finally:
            c.stopping = False
        if c.auto_remove and not c.removed and not c.removing:
            self._destroy_now(c)

    async def restart_container(self, c: Container, timeout: int | None = None) -> None:
        if c.running:
            await self.stop_container(c, timeout)
        if c.removed:
            raise NotFound(f"No such container: {c.id}")
        self.start_container(c)
        self.note("container", "restart", c.id, c.event_attributes())

    # ------------------------------------------------------------------ remove
    async def remove_container(
        self, c: Container, force: bool = False, volumes: bool = False
    ) -> None:
        if c.running and not force:
            raise Conflict(
                f"You cannot remove a running container {c.id}. Stop the container before "
                "attempting removal or force remove"
            )
        if c.removing:
            raise Conflict(f"removal of container {c.name} is already in progress")
        if c.running and c.process is not None:
            c.removing = True
            try:
                fut = self.waiter(c, "next-exit")
                self.kill_container(c, str(SIGKILL))
                await self._wait_exit(c, fut)
            finally:
                c.removing = False
        self._destroy_now(c, volumes=volumes)

    def _destroy_now(self, c: Container, volumes: bool = False) -> None:
        if c.removed:
            return
        self._cancel_restart(c)
        with self.store.tx():
            self._journal[("containers", c.id)] = c
            self.store.after_commit(self._journal.clear)
            c.removed = True
            self.containers.pop(c.id, None)
            if self._by_name.get(c.name) == c.id:
                del self._by_name[c.name]
            self.store.delete("containers", c.id)
            self.store.delete_logs(c.id)
            for exec_id in c.doc.get("exec_ids") or []:
                dropped = self.execs.pop(exec_id, None)
                if dropped is not None:
                    self._journal[("execs", exec_id)] = dropped
                self.store.delete("execs", exec_id)
            if volumes:
                for m in c.doc.get("mounts", []):
                    vol = self.volumes.volumes.get(m.get("Name") or "")
                    if vol is not None and vol.anonymous and not self._volume_users(vol.name):
                        self.volumes.remove(vol.name)
                        self.events.emit("volume", "destroy", vol.name, {"driver": "local"})
            self.events.emit("container", "destroy", c.id, c.event_attributes())
        waiters, c.remove_waiters = c.remove_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(c.state["ExitCode"])
        self._wake_followers(c)
        self._schedule_reclaim()  # its output's space goes back to the file system

    def prune_containers(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        deleted = []
        reclaimed = 0
        limit = _parse_until(filters["until"][-1], self.now()) if "until" in filters else None
        for c in list(self.containers.values()):
            if c.running or not _labels_match(c.config.get("Labels") or {}, filters):
                continue
            if limit is not None and c.doc["created"] > limit:
                continue
            size = self.rw_size(c)
            self._destroy_now(c)
            deleted.append(c.id)
            reclaimed += size
        if deleted:
            self.events.emit("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def rw_size(self, c: Container) -> int:
        """The bytes of a container's own layer (its changes to the image's files; the
        files dockerd mounts in, /etc/hostname and the like, are not in it)."""
        upper = self.store.get_upper(c.id)
        if not upper:
            return 0
        from labkit.engine.runtime.rootfs import image_rootfs
        from labkit.engine.runtime.vfs import VFS

        vfs = VFS(image_rootfs(c.doc["rootfs"]), upper=upper)
        size = vfs.used
        for path in SYSTEM_FILES:  # in the layer only if written there, as the model does
            with contextlib.suppress(OSError):
                if vfs.stat(path).kind == "file" and path in upper.get("entries", {}):
                    size -= vfs.stat(path).size
        return max(size, 0)

    def rename_container(self, c: Container, new_name: str) -> None:
        if not new_name:
            raise BadRequest("Neither old nor new names may be empty")
        if new_name.lstrip("/") == c.name:
            raise BadRequest("Renaming a container with the same name as its current name")
        try:
            name = self._check_name(new_name, c.id)
        except Conflict as exc:
            raise Conflict(f"Error when allocating new name: {exc.message}") from None
        old = c.doc["name"]
        with self.store.tx():
            self._by_name.pop(c.name, None)
            c.doc["name"] = f"/{name}"
            self._by_name[name] = c.id
            self._save(c)
            self.events.emit("container", "rename", c.id, c.event_attributes(oldName=old))

    # ------------------------------------------------------------------ update, links
    def update_container(
        self, c: Container, body: Any, api_version: str | None = None
    ) -> list[str]:
        """``POST /containers/{id}/update``: resources kept as given, a new restart policy;
        dockerd's 400s and 409s ("Cannot update container ..."); the warnings it gives."""
        body = check_update_body(body)
        hostconfig.check_restart_policy(body.get("RestartPolicy") or {})
        hostconfig.check_swap(body, update=True)
        if c.removed or c.removing:
            raise Conflict(f"Cannot update container {c.id}: container is marked for removal")
        host = dict(c.doc["host_config"])
        conflict = hostconfig.update(host, body)
        if conflict:
            raise Conflict(f"Cannot update container {c.id}: {conflict}")
        with self.store.tx():
            c.doc["host_config"] = host
            self._save(c)
            self.events.emit("container", "update", c.id, c.event_attributes())
        if c.memory is not None and body.get("Memory"):
            c.memory.limit = self.limits.container_memory(host.get("Memory"))
        warnings = []
        if body.get("KernelMemory") and older_than(api_version, "1.42"):
            warnings.append(
                "Specifying a kernel memory limit is deprecated and will be removed in a future "
                "release."
            )
        return warnings

    def remove_link(self, parent: Container, alias: str, ref: str) -> None:
        """Drop the link ``/parent/alias`` from the parent's HostConfig.Links."""
        name = f"/{parent.name}/{alias}"
        kept = [
            link
            for link in parent.doc["host_config"].get("Links") or []
            if links.parse_stored(link)[1] != name
        ]
        if len(kept) == len(parent.doc["host_config"].get("Links") or []):
            raise NotFound(f"No such container: {ref}")
        with self.store.tx():
            parent.doc["host_config"]["Links"] = kept or None
            self._save(parent)

    # ------------------------------------------------------------------ inspection
    def inspect_container(self, c: Container, api_version: str | None = None) -> dict[str, Any]:
        return c.inspect(c.doc["image_id"], api_version)

    def top(self, c: Container) -> dict[str, Any]:
        if not c.running or c.process is None:
            raise Conflict(f"Container {c.id} is not running")
        rows = list(c.process.top())
        if rows and c.doc["host_config"].get("Init"):  # docker-init runs the command
            first = rows[0]
            init_pid = str(max(1, int(first[1]) - 1))
            rows[0] = [*first[:2], init_pid, *first[3:]]
            rows.insert(
                0, [first[0], init_pid, first[2], *first[3:7], f"/sbin/docker-init -- {first[7]}"]
            )
        for exec_ in self.execs.values():
            if exec_.cid == c.id and exec_.running and exec_.process is not None:
                rows.extend(exec_.process.top())
        self.note("container", "top", c.id, c.event_attributes())
        return {
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": rows,
        }

    def container_fs(self, c: Container) -> Any:
        """A container's filesystem: the live one while it runs, else one made from its
        image and saved changes (save what you change with :meth:`save_fs`)."""
        return c.vfs if c.vfs is not None else self._make_vfs(c)

    def save_fs(self, c: Container, vfs: Any) -> None:
        if not c.removed:
            with self.store.tx():
                self.store.put_upper(c.id, vfs.upper_state())

    def changes(self, c: Container) -> list[dict[str, Any]] | None:
        vfs = c.vfs if c.vfs is not None else self._make_vfs(c)
        raw = [(k, p) for k, p in vfs.changes() if p not in SYSTEM_FILES]
        others_in_etc = any(p.startswith("/etc/") for _k, p in raw)
        out = [
            {"Path": path, "Kind": kind}
            for kind, path in sorted(raw, key=lambda kp: kp[1])
            if not (path == "/etc" and kind == 0 and not others_in_etc)
        ]
        return out or None

    def list_containers(
        self, all_: bool, limit: int | None, filters: dict[str, list[str]]
    ) -> list[Container]:
        from labkit.engine.model.containers import matches

        image_ids = None
        if "ancestor" in filters:
            image_ids = set()
            for name in filters["ancestor"]:
                with contextlib.suppress(NotFound, BadRequest):
                    image_ids.add(self.images.resolve(name).id)
        items = sorted(self.containers.values(), key=lambda c: c.doc["created"], reverse=True)
        bounds = {}
        for key in ("before", "since"):
            if key in filters:
                bounds[key] = self.container(filters[key][-1]).doc["created"]
        wants_all = all_ or (limit is not None and limit > 0)  # a positive limit implies all
        if not wants_all and "status" not in filters and "exited" not in filters:
            items = [c for c in items if c.running]
        out = []
        for c in items:
            if "before" in bounds and c.doc["created"] >= bounds["before"]:
                continue
            if "since" in bounds and c.doc["created"] <= bounds["since"]:
                continue
            if matches(c, filters, image_ids):
                out.append(c)
        if limit and limit > 0:
            out = out[:limit]
        return out

    # ------------------------------------------------------------------ logs
    def log_rows(self, c: Container) -> Any:
        return self.store.read_logs(c.id)

    def log_waiter(self, c: Container) -> asyncio.Future[None]:
        """A future set when more of ``c``'s output is stored or its run ends."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        c.log_waiters.append(fut)
        return fut

    def listen(self, c: Container) -> OutputQueue:
        """A queue of ``c``'s output for an attached client, bounded (LABKIT_ENGINE_STREAM_BUFFER):
        when it is full, the container's process waits for the client."""
        queue = OutputQueue(self.limits.stream_buffer)
        c.listeners.add(queue)
        return queue

    def unlisten(self, c: Container, queue: OutputQueue) -> None:
        c.listeners.discard(queue)
        queue.close()

    async def stdin_room(self, c: Container) -> None:
        """Wait while the container's process has a lot of its stdin still unread (or, before
        it starts, while a lot waits for it)."""
        limit = self.limits.stream_buffer
        while c.process is None and not c.removed and sum(map(len, c.stdin_pending)) >= limit:
            await asyncio.sleep(0.1)  # rare: a client sending much to a container not started
        room = getattr(getattr(c.process, "stdin", None), "room", None)
        if room is not None:
            await room(self.limits.stream_buffer)

    # ------------------------------------------------------------------ execs
    def exec_(self, exec_id: str) -> Exec:
        exec_ = self.execs.get(exec_id)
        if exec_ is None:
            found = [e for eid, e in self.execs.items() if exec_id and eid.startswith(exec_id)]
            if len(found) != 1:
                raise NotFound(f"No such exec instance: {exec_id}")
            exec_ = found[0]
        return exec_

    def create_exec(self, c: Container, body: dict[str, Any], ref: str = "") -> Exec:
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.status == "paused":
            raise Conflict(
                f"Container {ref or c.name} is paused, unpause the container before exec"
            )
        argv = strslice(body.get("Cmd")) or []
        if not argv:
            raise BadRequest("No exec command specified")
        eid = self._new_id()
        doc = {
            "id": eid,
            "cid": c.id,
            "argv": argv,
            "tty": bool(body.get("Tty")),
            "attach_stdin": bool(body.get("AttachStdin")),
            "attach_stdout": bool(body.get("AttachStdout")),
            "attach_stderr": bool(body.get("AttachStderr")),
            "env": list(body.get("Env") or []),
            "user": body.get("User") or "",
            "workdir": body.get("WorkingDir") or "",
            "privileged": bool(body.get("Privileged")),
            "detach_keys": body.get("DetachKeys") or "",
            "running": False,
            "exit_code": None,
            "pid": 0,
        }
        exec_ = Exec(doc)
        with self.store.tx():
            self.execs[eid] = exec_
            self.store.put_exec(eid, c.id, doc)
            c.doc.setdefault("exec_ids", []).append(eid)
            self._save(c)
            action = f"exec_create: {argv[0]} {' '.join(argv[1:])}"
            self.events.emit("container", action, c.id, c.event_attributes(execID=eid))
        return exec_

    def start_exec(self, exec_: Exec, on_output: Any, throttle: Any = None) -> Any:
        """Run an exec's process in its container's filesystem; returns the Process.

        ``throttle`` is awaited at the process's scheduling points (the API's back-pressure
        while its client is not reading); its memory is the container's.
        """
        process_cls = self.process_class

        c = self.containers.get(exec_.cid)
        if c is None:
            raise NotFound(f"No such container: {exec_.cid}")
        if exec_.running or exec_.doc["exit_code"] is not None:
            raise Conflict(f"Error: Exec command {exec_.id} is already running")
        if not c.running or c.vfs is None:
            raise Conflict(f"Container {c.id} is not running")
        env = self.process_env(c, exec_.doc["env"])
        argv = exec_.doc["argv"]
        if process_cls.resolve(argv, c.vfs, env) is None:
            with self.store.tx():
                exec_.doc.update(exit_code=EXEC_FAILED_EXIT)
                self.store.put_exec(exec_.id, exec_.cid, exec_.doc)
            reason = self.missing_executable(argv).split("unable to start container process: ")[1]
            raise ExecStartFailed(
                f"OCI runtime exec failed: exec failed: unable to start container process: {reason}"
            )
        process = process_cls(
            argv,
            fs=c.vfs,
            env=env,
            cwd=exec_.doc["workdir"] or c.config.get("WorkingDir") or "/",
            hostname=c.config.get("Hostname") or c.short,
            user=exec_.doc["user"] or c.config.get("User") or "root",
            tty=exec_.doc["tty"],
            clock=self.clock.time,
            on_output=on_output,
            ps=lambda: self._ps_rows(c),
            **self._process_extras(c.memory, throttle),
        )
        if not exec_.doc["attach_stdin"]:
            process.close_stdin()
        with self.store.tx():  # saved first: if the store cannot take it, nothing runs
            exec_.doc.update(running=True, pid=process.pid)
            self.store.put_exec(exec_.id, exec_.cid, exec_.doc)
            action = f"exec_start: {argv[0]} {' '.join(argv[1:])}"
            self.events.emit("container", action, c.id, c.event_attributes(execID=exec_.id))
        exec_.process = process
        process.start()
        exec_.done = self._spawn(
            self._supervise_exec(c, exec_, process),
            f"the supervisor of exec {exec_.id[:12]}",
            lambda exc: self._exec_lost(c, exec_, process),
        )
        return process

    async def _supervise_exec(self, c: Container, exec_: Exec, process: Any) -> int:
        try:
            code = await process.wait()
        except Exception:
            log.exception("waiting for exec %s failed", exec_.id[:12])
            code = EXIT_ENGINE_DIED
        if self.closed:
            return code
        self._exec_ended(c, exec_, code)
        return code

    def _exec_lost(self, c: Container, exec_: Exec, process: Any) -> None:
        """The task watching an exec died: end its process and record the end."""
        with contextlib.suppress(Exception):
            process.signal(SIGKILL)
        self._exec_ended(c, exec_, EXIT_ENGINE_DIED)

    def _exec_ended(self, c: Container, exec_: Exec, code: int) -> None:
        """Record an exec's end; in memory at once, on disk as soon as the store takes it."""
        if exec_.forced_exit is not None:
            code = exec_.forced_exit
        exec_.doc.update(running=False, exit_code=code, pid=0)
        exec_.process = None
        self._save_later(exec_=exec_)  # it has ended, whether or not the store takes it now
        try:
            with self.store.tx():
                if exec_.id in self.execs:
                    self.store.put_exec(exec_.id, exec_.cid, exec_.doc)
                if c.vfs is not None and not c.removed:
                    try:
                        self.store.put_upper(c.id, c.vfs.upper_state())
                    except StateNotSaved:
                        raise
                    except Exception:
                        log.exception("saving container %s's files failed", c.short)
                self.events.emit(
                    "container",
                    "exec_die",
                    c.id,
                    c.event_attributes(execID=exec_.id, exitCode=str(code)),
                )
        except StateNotSaved as exc:
            log.warning("exec %s ended (%d); saving that failed, retrying: %s",
                        exec_.id[:12], code, exc.message)  # fmt: skip
            self._retry_later()
        except Exception:
            log.exception("recording the end of exec %s failed", exec_.id[:12])
            self._retry_later()
        else:
            self._saved(exec_=exec_)

    # ------------------------------------------------------------------ volumes & networks
    def _volume_users(self, name: str) -> list[Container]:
        return [
            c
            for c in self.containers.values()
            if any(m.get("Name") == name for m in c.doc.get("mounts", []))
        ]

    def create_volume(self, name: str, labels: dict[str, str] | None) -> dict[str, Any]:
        anonymous = not name
        with self.store.tx():
            volume, created = self.volumes.create(
                name or self._new_id(), self.now(), labels, anonymous=anonymous
            )
            del created  # dockerd reports a create even for a volume that already exists
            self.events.emit("volume", "create", volume.name, {"driver": "local"})
        return self.volumes.view(volume)

    def remove_volume(self, name: str, force: bool = False) -> None:
        try:
            volume = self.volumes.get(name)
        except NotFound:
            if force:
                return
            raise
        users = self._volume_users(volume.name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(c.id for c in users)}]")
        with self.store.tx():
            self.volumes.remove(volume.name)
            self.events.emit("volume", "destroy", volume.name, {"driver": "local"})

    def prune_volumes(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        everything = (filters.get("all") or ["false"])[-1].lower() in ("true", "1")
        deleted = []
        reclaimed = 0
        for volume in list(self.volumes.volumes.values()):
            if self._volume_users(volume.name) or not (everything or volume.anonymous):
                continue
            if not _labels_match(volume.labels, filters):
                continue
            size = self.volumes.size(volume.name)
            self.remove_volume(volume.name)
            deleted.append(volume.name)
            reclaimed += size
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def create_network(self, body: dict[str, Any]) -> str:
        from labkit.engine.model.ipam import ipam_config
        from labkit.engine.model.networks import Network

        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise BadRequest("network name is required: set Name")
        self.networks.check_new_name(name)
        driver = body.get("Driver") or "bridge"
        if driver not in ("bridge", "null", "host"):
            raise NotFound(f'plugin "{driver}" not found')
        enable_ipv6 = bool(body.get("EnableIPv6"))
        ipam = ipam_config(body.get("IPAM"), enable_ipv6, self.networks.subnets())
        nid = self._new_id()
        network = Network(
            id=nid,
            name=name,
            driver=driver,
            created=self.now(),
            labels=dict(body.get("Labels") or {}),
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            options=dict(body.get("Options") or {}),
            enable_ipv6=enable_ipv6,
            ipam=ipam,
        )
        with self.store.tx():
            self.networks.add(network)
            self.events.emit("network", "create", nid, {"name": name, "type": driver})
        return nid

    def remove_network(self, ref: str) -> None:
        network = self.networks.get(ref)
        users = [
            c for c in self.containers.values() if c.running and network.name in c.networks_view()
        ]
        if users and not network.predefined:
            raise Forbidden(
                f"error while removing network: network {network.name} id {network.id} has "
                "active endpoints"
            )
        with self.store.tx():
            self.networks.remove(network)
            self.events.emit(
                "network", "destroy", network.id, {"name": network.name, "type": network.driver}
            )

    def connect_network(self, ref: str, container: str, settings: dict[str, Any]) -> None:
        """``POST /networks/{id}/connect`` (``docker network connect``): the rules are
        dockerd's (model/endpoints.py); a running container's connect is an event."""
        c = self.container(container)  # dockerd looks the container up first
        network = self.networks.get(ref)
        attached = endpoints.attached(c.doc)
        mode = endpoints.mode_network(c.doc["host_config"])
        endpoints.check_settings(network.name, settings)
        if not endpoints.check_connect(attached, mode, network, c.running, c.name):
            return
        with self.store.tx():
            c.doc["networks"] = {**attached, network.name: endpoints.kept(settings)}
            self._save(c)
            if c.running:
                attrs = {"container": c.id, "name": network.name, "type": network.driver}
                self.events.emit("network", "connect", network.id, attrs)

    def disconnect_network(self, ref: str, container: str, force: bool = False) -> None:
        """``POST /networks/{id}/disconnect``."""
        try:
            c = self.container(container)
        except NotFound:
            if force:  # dockerd then removes the endpoint by that name, which it cannot find
                self.networks.get(ref)
                raise NotFound(f"endpoint {container} not found") from None
            raise
        network = self.networks.get(ref)
        attached = endpoints.attached(c.doc)
        mode = endpoints.mode_network(c.doc["host_config"])
        endpoints.check_disconnect(attached, network, c.running, c.id, mode)
        with self.store.tx():
            c.doc["networks"] = {k: v for k, v in attached.items() if k != network.name}
            self._save(c)
            if c.running:
                attrs = {"container": c.id, "name": network.name, "type": network.driver}
                self.events.emit("network", "disconnect", network.id, attrs)

    def prune_networks(self) -> dict[str, Any]:
        deleted = []
        for network in list(self.networks.networks.values()):
            if network.predefined:
                continue
            if any(network.name in c.networks_view() for c in self.containers.values()):
                continue
            self.remove_network(network.id)
            deleted.append(network.name)
        return {"NetworksDeleted": deleted or None}


# Config fields dockerd leaves out of inspect when they are empty.
_CONFIG_OMIT_EMPTY = (
    "ExposedPorts",
    "Healthcheck",
    "ArgsEscaped",
    "NetworkDisabled",
    "MacAddress",
    "StopSignal",
    "StopTimeout",
    "Shell",
)


def _labels_match(labels: dict[str, str], filters: dict[str, list[str]]) -> bool:
    for label in filters.get("label", []):
        key, eq, value = label.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    for label in filters.get("label!", []):
        key, eq, value = label.partition("=")
        if key in labels and (not eq or labels[key] == value):
            return False
    return True


def _parse_until(value: str, now: int) -> int:
    from labkit.engine.model.clock import parse_api_time

    try:
        return parse_api_time(value, now)
    except ValueError:  # dockerd's words (GetTimestamp), as a 400
        raise BadRequest(
            f"failed to parse value as time or duration: {goparse.quote(value)}"
        ) from None
