"""How much of the machine one lab engine may use: the ``LABKIT_ENGINE_*`` bounds.

On a workshop's hub a hundred engines share one machine and learners run what they like,
so nothing a container or a client does may grow the engine without bound. Each bound
here has a setting (read once, when the engine starts) and a default that no lesson
comes near.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("labkit.engine.model")

MIB = 1 << 20
# dockerd's smallest --memory (linuxMinMemory): "Minimum memory limit allowed is 6MB".
MIN_CONTAINER_MEMORY = 6 * MIB


@dataclass
class EngineLimits:
    # A container's memory when it sets no --memory (HostConfig.Memory 0), and the most it
    # gets when it sets more.
    memory: int = 64 * MIB
    # All containers' memory together: past it, the container asking for more is OOM-killed.
    memory_total: int = 256 * MIB
    # Output kept per container, and by all containers together; past them, the oldest goes.
    log_max: int = 16 * MIB
    logs_total: int = 256 * MIB
    # Output queued for one attached client (attach, exec) before its process must wait, as
    # dockerd's 1 MiB stream buffer does.
    stream_buffer: int = 1 * MIB
    # Bytes a compressed archive sent to the engine (docker cp) may expand to.
    unpack_max: int = 256 * MIB

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineLimits:
        env = os.environ if env is None else env
        limits = cls()
        for name, attr, least in _SETTINGS:
            text = env.get(name, "")
            if not text:
                continue
            try:
                value = int(text)
            except ValueError:
                value = -1
            if value < least:
                log.warning(
                    "%s=%r is not a whole number of bytes of at least %d: using %d",
                    name, text, least, getattr(limits, attr),
                )  # fmt: skip
                continue
            setattr(limits, attr, value)
        return limits

    def container_memory(self, requested: int | None) -> int:
        """A container's limit: its --memory when set and smaller, else :attr:`memory`."""
        if requested and 0 < requested < self.memory:
            return requested
        return self.memory


_SETTINGS = (
    ("LABKIT_ENGINE_MEMORY", "memory", MIN_CONTAINER_MEMORY),
    ("LABKIT_ENGINE_MEMORY_TOTAL", "memory_total", MIN_CONTAINER_MEMORY),
    ("LABKIT_ENGINE_LOG_MAX", "log_max", 64 << 10),
    ("LABKIT_ENGINE_LOGS_TOTAL", "logs_total", 64 << 10),
    ("LABKIT_ENGINE_STREAM_BUFFER", "stream_buffer", 64 << 10),
    ("LABKIT_ENGINE_UNPACK_MAX", "unpack_max", 1 << 20),
)
