"""Exec instances: extra processes run inside a running container (``docker exec``)."""

from __future__ import annotations

import asyncio
from typing import Any


class Exec:
    """``doc`` is persisted; ``process`` and ``done`` exist while it runs."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.process: Any = None
        self.done: asyncio.Task[int] | None = None
        # The exit code to record whatever the process's own (dockerd's 126 for an exec
        # whose attached session failed, as a detach does)
        self.forced_exit: int | None = None

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def cid(self) -> str:
        return self.doc["cid"]

    @property
    def running(self) -> bool:
        return bool(self.doc["running"])

    def inspect(self) -> dict[str, Any]:
        """``GET /exec/{id}/json``, shaped like dockerd's."""
        doc = self.doc
        argv = doc["argv"]
        process_config: dict[str, Any] = {
            "tty": doc["tty"],
            "entrypoint": argv[0],
            "arguments": argv[1:],
            "privileged": doc["privileged"],
        }
        if doc["user"]:  # omitted when empty, as dockerd does
            process_config["user"] = doc["user"]
        return {
            "ID": doc["id"],
            "Running": doc["running"],
            "ExitCode": doc["exit_code"],
            "ProcessConfig": process_config,
            "OpenStdin": doc["attach_stdin"],
            "OpenStderr": doc["attach_stderr"],
            "OpenStdout": doc["attach_stdout"],
            "CanRemove": False,
            "ContainerID": doc["cid"],
            "DetachKeys": doc["detach_keys"],
            "Pid": doc["pid"],
        }
