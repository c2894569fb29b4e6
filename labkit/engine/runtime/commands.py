"""The table of applets busybox dispatches to, and the two programs that are not applets.

``COMMANDS`` maps an applet name to its coroutine; the shell adds ``sh``, ``ash`` and ``env``
(they need to run other programs). ``REGULAR_BUILTINS`` are the ones ash runs itself, without
a ``$PATH`` search, as the real ash does.
"""

from __future__ import annotations

import logging

from labkit.engine.runtime import (
    applets_awk,
    applets_data,
    applets_disk,
    applets_expr,
    applets_files,
    applets_filters,
    applets_find,
    applets_paths,
    applets_system,
    applets_tar,
    applets_text,
)
from labkit.engine.runtime.context import Applet, Ctx, UsageError
from labkit.engine.runtime.rootfs import BUSYBOX_VERSION
from labkit.engine.runtime.streams import PipeClosed
from labkit.hello import HELLO_TEXT

log = logging.getLogger("labkit.engine.runtime")

COMMANDS: dict[str, Applet] = {
    **applets_text.APPLETS,
    **applets_files.APPLETS,
    **applets_system.APPLETS,
    **applets_filters.APPLETS,
    **applets_awk.APPLETS,
    **applets_paths.APPLETS,
    **applets_find.APPLETS,
    **applets_expr.APPLETS,
    **applets_data.APPLETS,
    **applets_disk.APPLETS,
    **applets_tar.APPLETS,
}

REGULAR_BUILTINS = frozenset({"echo", "printf", "test", "[", "true", "false", "pwd", "kill"})

# The same words as the stand-in image labkit imports into a real engine.
GREETING = HELLO_TEXT


async def hello(ctx: Ctx, argv: list[str]) -> int:
    """The hello-world image's program."""
    ctx.out(GREETING)
    return 0


async def busybox_help(ctx: Ctx, names: list[str]) -> int:
    """What ``busybox`` prints when run without an applet name."""
    listing = ", ".join(sorted(names))
    ctx.out(
        f"BusyBox v{BUSYBOX_VERSION} (labkit stand-in) multi-call binary.\n\n"
        "Usage: busybox [function [arguments]...]\n\n"
        "The applets run inside labkit's lab engine, on a simulated filesystem.\n\n"
        f"Currently defined functions:\n\t{listing}\n"
    )
    return 0


async def call_applet(ctx: Ctx, argv: list[str], applet: Applet) -> int:
    """Run an applet, turning its usage errors into busybox-style messages and statuses."""
    name = argv[0].rsplit("/", 1)[-1]
    try:
        return await applet(ctx, argv)
    except UsageError as exc:
        ctx.err(f"{name}: {exc}\n")
        return exc.status
    except PipeClosed:
        raise  # SIGPIPE ends the whole pipeline stage, not just this applet
    except OSError as exc:
        ctx.err(f"{name}: {exc}\n")
        return 1
    except Exception as exc:  # a bug in the simulation must not take the engine down
        log.exception("the %s applet failed", name)
        ctx.err(f"{name}: internal error in labkit's simulation: {exc!r}\n")
        return 1
