"""Applets about the container itself: hostname, id, whoami, uname, date, sleep, ps, kill,
which, test/[, true, false.

``date`` and ``sleep`` use the process's injected clock and sleep, so tests are deterministic
and a stopped container's ``sleep`` ends at once (the task is cancelled).
"""

from __future__ import annotations

import asyncio
import math
import os
import posixpath
import re
import time

from labkit.engine.runtime.context import Ctx, UsageError, parse_opts, to_int
from labkit.engine.runtime.programs import find_executable
from labkit.engine.runtime.signals import SIGTERM
from labkit.engine.runtime.signals import number as signal_number

KERNEL_RELEASE_FALLBACK = "6.6.0-labkit"


async def true(ctx: Ctx, argv: list[str]) -> int:
    return 0


async def false(ctx: Ctx, argv: list[str]) -> int:
    return 1


async def hostname(ctx: Ctx, argv: list[str]) -> int:
    """hostname: the container's name (from /etc/hostname, as docker writes it)."""
    opts, args = parse_opts(argv, "sfdi")
    if args:
        ctx.err("hostname: sethostname: Operation not permitted\n")
        return 1
    name = container_hostname(ctx)
    if opts.get("i"):  # the name's addresses, looked up in /etc/hosts, as busybox prints them
        found = [row[0] for row in _hosts(ctx) if name in row[1:]]
        if not found:
            ctx.err(f"hostname: {name}: Host name lookup failure\n")
            return 1
        ctx.out(" ".join(found) + "\n")
        return 0
    ctx.out(name + "\n")
    return 0


def _hosts(ctx: Ctx) -> list[list[str]]:
    try:
        text = ctx.fs.read("/etc/hosts").decode("utf-8", "replace")
    except OSError:
        return []
    return [line.split("#")[0].split() for line in text.splitlines() if line.split("#")[0].split()]


def container_hostname(ctx: Ctx) -> str:
    try:
        text = ctx.fs.read("/etc/hostname").decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else ctx.sys.hostname


def _table(ctx: Ctx, path: str) -> list[list[str]]:
    try:
        text = ctx.fs.read(path).decode("utf-8", "replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line.count(":") >= 2]


def identity(ctx: Ctx) -> tuple[int, str | None, int, str | None]:
    """(uid, user name, gid, group name) for the process's user ("root", "1000", "1000:100")."""
    user, _, group = ctx.sys.user.partition(":")
    users = _table(ctx, "/etc/passwd")
    groups = _table(ctx, "/etc/group")
    uid, name, gid = 0, None, 0
    for row in users:
        if row[0] == user or (user.isdigit() and row[2] == user):
            uid, name = int(row[2]), row[0]
            gid = int(row[3]) if len(row) > 3 and row[3].isdigit() else 0
            break
    else:
        uid = int(user) if user.isdigit() else 0
    if group:
        gid = (
            int(group)
            if group.isdigit()
            else next((int(r[2]) for r in groups if r[0] == group and r[2].isdigit()), 0)
        )
    group_name = next((r[0] for r in groups if r[2] == str(gid)), None)
    return uid, name, gid, group_name


def _named(number: int, name: str | None) -> str:
    return f"{number}({name})" if name else str(number)


async def id_(ctx: Ctx, argv: list[str]) -> int:
    """id [-u|-g] [-n]: the process's user and group."""
    opts, _ = parse_opts(argv, "ugGnr")
    uid, user, gid, group = identity(ctx)
    names = {r[2]: r[0] for r in reversed(_table(ctx, "/etc/group"))}
    extra = [g for g in dict.fromkeys(ctx.sys.groups) if g != gid]  # from --group-add
    if opts.get("u"):
        ctx.out(f"{user if opts.get('n') and user else uid}\n")
    elif opts.get("G"):
        words = [group if opts.get("n") and group else str(gid)]
        words += [names.get(str(g), str(g)) if opts.get("n") else str(g) for g in extra]
        ctx.out(" ".join(words) + "\n")
    elif opts.get("g"):
        ctx.out(f"{group if opts.get('n') and group else gid}\n")
    else:
        groups = ",".join([_named(gid, group)] + [_named(g, names.get(str(g))) for g in extra])
        ctx.out(f"uid={_named(uid, user)} gid={_named(gid, group)} groups={groups}\n")
    return 0


async def whoami(ctx: Ctx, argv: list[str]) -> int:
    uid, user, _, _ = identity(ctx)
    if user is None:
        ctx.err(f"whoami: unknown uid {uid}\n")
        return 1
    ctx.out(user + "\n")
    return 0


def kernel() -> tuple[str, str, str]:
    """(release, version, machine): the host's kernel on Linux, as a real container shows."""
    info = os.uname()
    machine = {"arm64": "aarch64", "AMD64": "x86_64"}.get(info.machine, info.machine)
    if info.sysname == "Linux":
        return info.release, info.version, machine
    return KERNEL_RELEASE_FALLBACK, "#1 SMP PREEMPT_DYNAMIC", machine


async def uname(ctx: Ctx, argv: list[str]) -> int:
    """uname [-asnrvmo]: system information (Linux, the container's hostname)."""
    opts, _ = parse_opts(argv, "asnrvmpio")
    release, version, machine = kernel()
    fields = {
        "s": "Linux",
        "n": container_hostname(ctx),
        "r": release,
        "v": version,
        "m": machine,
        "o": "GNU/Linux",
    }
    wanted = "snrvmo" if opts.get("a") else "".join(c for c in "snrvmo" if opts.get(c)) or "s"
    ctx.out(" ".join(fields[c] for c in wanted) + "\n")
    return 0


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(fmt: str, when: float) -> str:
    """strftime for UTC with the directives busybox's date knows, independent of the host."""
    t = time.gmtime(when)
    values = {
        "a": _DAYS[t.tm_wday],
        "A": time.strftime("%A", t),
        "b": _MONTHS[t.tm_mon - 1],
        "h": _MONTHS[t.tm_mon - 1],
        "B": time.strftime("%B", t),
        "d": f"{t.tm_mday:02d}",
        "e": f"{t.tm_mday:2d}",
        "H": f"{t.tm_hour:02d}",
        "I": f"{(t.tm_hour % 12) or 12:02d}",
        "M": f"{t.tm_min:02d}",
        "S": f"{t.tm_sec:02d}",
        "m": f"{t.tm_mon:02d}",
        "y": f"{t.tm_year % 100:02d}",
        "Y": str(t.tm_year),
        "j": f"{t.tm_yday:03d}",
        "p": "AM" if t.tm_hour < 12 else "PM",
        "s": str(int(when)),
        "N": f"{int((when % 1) * 1e9):09d}",
        "u": str(t.tm_wday + 1),
        "w": str((t.tm_wday + 1) % 7),
        "Z": "UTC",
        "z": "+0000",
        "n": "\n",
        "t": "\t",
        "%": "%",
    }
    values["T"] = f"{values['H']}:{values['M']}:{values['S']}"
    values["R"] = f"{values['H']}:{values['M']}"
    values["D"] = f"{values['m']}/{values['d']}/{values['y']}"
    values["F"] = f"{values['Y']}-{values['m']}-{values['d']}"
    values["c"] = f"{values['a']} {values['b']} {values['e']} {values['T']} {values['Y']}"
    return re.sub(r"%(.)", lambda m: values.get(m.group(1), m.group(0)), fmt)


DATE_FORMAT = "%a %b %e %H:%M:%S %Z %Y"


async def date(ctx: Ctx, argv: list[str]) -> int:
    """date [-uR] [+FORMAT]: the time now, in UTC (``Sat Nov 28 01:40:00 UTC 2026``)."""
    opts, args = parse_opts(argv, "uRI", "d")
    fmt = DATE_FORMAT
    if opts.get("R"):
        fmt = "%a, %d %b %Y %H:%M:%S +0000"
    elif opts.get("I"):
        fmt = "%Y-%m-%d"
    for arg in args:
        if arg.startswith("+"):
            fmt = arg[1:]
        else:
            ctx.err("date: can't set date: Operation not permitted\n")
            return 1
    when = ctx.sys.clock()
    if "d" in opts:
        text = str(opts["d"])
        if not re.fullmatch(r"@-?\d+(\.\d+)?", text):
            raise UsageError(f"invalid date '{text}'")
        when = float(text[1:])
    ctx.out(format_date(fmt, when) + "\n")
    return 0


_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


async def sleep(ctx: Ctx, argv: list[str]) -> int:
    """sleep N[smhd]...: wait (float seconds allowed); ends at once when the process is stopped."""
    if len(argv) < 2:
        raise UsageError("usage: sleep [N]...")
    total = 0.0
    for arg in argv[1:]:
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+|inf|infinity)([smhd]?)", arg)
        if not m:
            raise UsageError(f"invalid number '{arg}'")
        total += float(m.group(1)) * _UNITS[m.group(2)]
    if math.isinf(total):  # `sleep infinity`, the usual way to keep a container up
        await forever()
    await ctx.sys.sleep(total)
    return 0


async def forever() -> None:
    """Wait until cancelled (by a signal), using no timer at all."""
    await asyncio.get_running_loop().create_future()


async def ps(ctx: Ctx, argv: list[str]) -> int:
    """ps: the container's processes (options such as ``aux`` or ``-ef`` are accepted)."""
    lines = ["PID   USER     TIME  COMMAND"]
    for pid, user, command in ctx.sys.process_rows():
        lines.append(f"{pid:5d} {user[:8]:<8} {'0:00':>5} {command}")
    ctx.out("\n".join(lines) + "\n")
    return 0


SIGNALS = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "KILL": 9,
    "USR1": 10,
    "USR2": 12,
    "TERM": 15,
    "CONT": 18,
    "STOP": 19,
}


async def kill(ctx: Ctx, argv: list[str]) -> int:
    """kill [-SIG] PID...: checks the pids exist; only pid 1's handlers (a ``trap`` of the
    container's shell) are run, other signals between simulated processes are not sent.

    (Signalling pid 1 from inside does nothing on a real container either: the kernel protects
    a namespace's init from signals it has no handler for, SIGKILL included.)
    """
    args = argv[1:]
    if args and args[0] == "-l":
        ctx.out(" ".join(SIGNALS) + "\n")
        return 0
    signum: int | None = SIGTERM
    if args and args[0] == "-s" and len(args) > 1:
        signum, args = signal_number(args[1]), args[2:]
    elif args and args[0].startswith("-") and len(args[0]) > 1:
        signum, args = signal_number(args[0][1:]), args[1:]
        if signum is None:
            ctx.err(f"sh: kill: bad signal name '{argv[1][1:]}'\n")
            return 1
    if not args:
        raise UsageError("usage: kill [-SIG] PID...")
    known = {pid for pid, _, _ in ctx.sys.process_rows()}
    status = 0
    for arg in args:
        if not re.fullmatch(r"-?\d+", arg):
            ctx.err(f"sh: invalid number '{arg}'\n")
            status = 1
        elif int(arg) not in known:
            ctx.err(f"sh: can't kill pid {arg}: No such process\n")
            status = 1
        elif int(arg) == 1 and ctx.sys.deliver is not None and signum in ctx.sys.handlers:
            ctx.sys.deliver(signum)
    return status


async def which(ctx: Ctx, argv: list[str]) -> int:
    """which NAME...: where each command would be run from (status 1 if one is missing)."""
    _, names = parse_opts(argv, "a")
    status = 0
    for name in names:
        path = find_executable(ctx.fs, name, ctx.env.get("PATH"), ctx.cwd)
        if path is None:
            status = 1
        else:
            ctx.out(path + "\n")
    return status


# ----- test / [ ---------------------------------------------------------------------------

_UNARY = set("efdsrwxLhzn")
_BINARY = {"=", "==", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "<", ">"}


async def test(ctx: Ctx, argv: list[str]) -> int:
    """test EXPR / [ EXPR ]: file tests (-e -f -d -s -x -L), strings (-z -n = !=), numbers."""
    args = argv[1:]
    name = posixpath.basename(argv[0])
    if name == "[":
        if not args or args[-1] != "]":
            ctx.err("sh: missing ]\n")
            return 2
        args = args[:-1]
    if not args:
        return 1
    try:
        value, pos = _or(ctx, args, 0)
        if pos != len(args):
            raise UsageError(f"{args[pos]}: unexpected operator", 2)
    except UsageError as exc:
        ctx.err(f"sh: {name}: {exc}\n")
        return 2
    return 0 if value else 1


def _or(ctx: Ctx, args: list[str], i: int) -> tuple[bool, int]:
    value, i = _and(ctx, args, i)
    while i < len(args) and args[i] == "-o":
        right, i = _and(ctx, args, i + 1)
        value = value or right
    return value, i


def _and(ctx: Ctx, args: list[str], i: int) -> tuple[bool, int]:
    value, i = _not(ctx, args, i)
    while i < len(args) and args[i] == "-a":
        right, i = _not(ctx, args, i + 1)
        value = value and right
    return value, i


def _not(ctx: Ctx, args: list[str], i: int) -> tuple[bool, int]:
    if i < len(args) and args[i] == "!" and i + 1 < len(args):
        value, i = _not(ctx, args, i + 1)
        return not value, i
    return _primary(ctx, args, i)


def _primary(ctx: Ctx, args: list[str], i: int) -> tuple[bool, int]:
    if i >= len(args):
        raise UsageError("argument expected", 2)
    arg = args[i]
    if arg == "(" and i + 1 < len(args):
        value, j = _or(ctx, args, i + 1)
        if j >= len(args) or args[j] != ")":
            raise UsageError("missing )", 2)
        return value, j + 1
    if i + 2 < len(args) and args[i + 1] in _BINARY:
        return _binary(arg, args[i + 1], args[i + 2]), i + 3
    if len(arg) == 2 and arg[0] == "-" and arg[1] in _UNARY and i + 1 < len(args):
        return _unary(ctx, arg[1], args[i + 1]), i + 2
    return arg != "", i + 1


def _binary(left: str, op: str, right: str) -> bool:
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    a, b = to_int(left), to_int(right)
    return {
        "-eq": a == b,
        "-ne": a != b,
        "-lt": a < b,
        "-le": a <= b,
        "-gt": a > b,
        "-ge": a >= b,
    }[op]


def _unary(ctx: Ctx, op: str, arg: str) -> bool:
    if op == "z":
        return arg == ""
    if op == "n":
        return arg != ""
    path = ctx.path(arg)
    try:
        info = ctx.fs.stat(path, follow_symlinks=op not in "Lh")
    except OSError:
        return False
    return {
        "e": True,
        "f": info.kind == "file",
        "d": info.kind == "dir",
        "s": info.size > 0,
        "r": True,
        "w": True,
        "x": bool(info.mode & 0o111),
        "L": info.kind == "link",
        "h": info.kind == "link",
    }[op]


APPLETS = {
    "true": true,
    "false": false,
    "hostname": hostname,
    "id": id_,
    "whoami": whoami,
    "uname": uname,
    "date": date,
    "sleep": sleep,
    "ps": ps,
    "kill": kill,
    "which": which,
    "test": test,
    "[": test,
}
