"""A container's memory, as a cgroup's memory limit (``docker run --memory``) counts it.

The lab engine runs every simulated process inside its own Python process, so a
container that grows without end (``x=a; while true; do x=$x$x; done``) would grow the
engine until the kernel killed it, and every other learner's container with it. The
runtime therefore counts the bytes a simulated process can make grow: shell variables,
command substitutions, here-documents, pipes, input read to its end, and the files the
container writes. Each container has a :class:`MemoryAccount`; going over its limit ends
the process that asked for more with :class:`OutOfMemory`, which the process reports as
dockerd does an OOM kill: exit code 137, ``State.OOMKilled``, an ``oom`` event. A file
write that does not fit fails with ``No space left on device`` instead, as on a full tmpfs.

The count is of the data itself (Python's per-object overhead comes on top), and
copies that live for one step only are checked (:meth:`Memory.check`) but not held.
"""

from __future__ import annotations

from collections.abc import Callable

SIGKILL_EXIT = 137  # 128 + SIGKILL: what an OOM-killed process exits with


class OutOfMemory(BaseException):
    """Raised where a simulated process asked for memory over its container's limit.

    A BaseException, so that no ``except Exception`` in an applet swallows it: it unwinds
    the whole simulated process, which then exits 137.
    """


class MemoryAccount:
    """The bytes held by one container (or, as a parent, by all of them), and the limit.

    ``on_oom(account)`` is called once per refusal, so the model can record the OOM kill.
    """

    def __init__(
        self,
        limit: int,
        parent: MemoryAccount | None = None,
        on_oom: Callable[[], None] | None = None,
        name: str = "",
    ) -> None:
        self.limit = limit
        self.parent = parent
        self.on_oom = on_oom
        self.name = name
        self.used = 0
        self.peak = 0

    def fits(self, n: int) -> bool:
        """Whether ``n`` more bytes fit here and in every parent."""
        account: MemoryAccount | None = self
        while account is not None:
            if account.used + n > account.limit:
                return False
            account = account.parent
        return True

    def add(self, n: int) -> None:
        """Count ``n`` bytes (negative: give them back) here and in every parent, unchecked."""
        account: MemoryAccount | None = self
        while account is not None:
            account.used += n
            if account.used > account.peak:
                account.peak = account.used
            account = account.parent

    def try_add(self, n: int) -> bool:
        """Count ``n`` more bytes if they fit; False (nothing counted) if not."""
        if n > 0 and not self.fits(n):
            return False
        self.add(n)
        return True

    def refused(self) -> None:
        if self.on_oom is not None:
            self.on_oom()


class Memory:
    """One simulated process's view of its container's account.

    ``kill()`` ends the process that went over (the model's OOM kill). Charges held by
    objects (:class:`Held`) go back when those objects are dropped.
    """

    def __init__(self, account: MemoryAccount, kill: Callable[[], None] | None = None) -> None:
        self.account = account
        self.kill = kill

    def _refuse(self, n: int) -> None:
        account = self.account
        self.account.refused()
        if self.kill is not None:
            self.kill()
        raise OutOfMemory(
            f"out of memory: {n} more bytes would pass the container's limit of "
            f"{account.limit} bytes ({account.used} in use)"
        )

    def check(self, n: int) -> None:
        """Refuse (OutOfMemory) unless ``n`` more bytes would fit; counts nothing."""
        if n > 0 and not self.account.fits(n):
            self._refuse(n)

    def charge(self, n: int) -> None:
        """Count ``n`` more bytes, or refuse with OutOfMemory."""
        if not self.account.try_add(n):
            self._refuse(n)

    def release(self, n: int) -> None:
        self.account.add(-n)

    def hold(self) -> Held:
        return Held(self)


class Held:
    """Bytes counted on behalf of one object (a shell's variables, a capture buffer);
    given back when the object goes."""

    __slots__ = ("amount", "memory")

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.amount = 0

    def grow(self, n: int) -> None:
        """Change the amount held by ``n`` (refusing growth over the limit)."""
        if n > 0:
            self.memory.charge(n)
        elif n < 0:
            self.memory.release(-n)
        self.amount += n

    def clear(self) -> None:
        if self.amount:
            self.memory.release(self.amount)
            self.amount = 0

    def __del__(self) -> None:
        if self.amount:
            self.memory.account.add(-self.amount)
