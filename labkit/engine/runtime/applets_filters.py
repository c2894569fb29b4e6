"""The filters a learner's script reaches for: tr, cut, uniq, sed, xargs, and top.

Busybox's behaviour for common use, and its messages; ``awk`` is in :mod:`applets_awk`.
"""

from __future__ import annotations

import re

from labkit.engine.runtime.applets_text import file_error, posix_regex, read_operand
from labkit.engine.runtime.context import Ctx, UsageError, decode, encode, parse_opts, to_int

# ----- tr --------------------------------------------------------------------------------

_TR_CLASSES = {
    "alpha": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "lower": "abcdefghijklmnopqrstuvwxyz",
    "digit": "0123456789",
    "alnum": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "space": " \t\n\r\f\v",
    "blank": " \t",
    "punct": "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()),
    "xdigit": "0123456789ABCDEFabcdef",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def tr_set(spec: str) -> list[str]:
    """A tr SET: ranges ``a-z``, classes ``[:upper:]``, escapes ``\\n``."""
    chars: list[str] = []
    i = 0
    while i < len(spec):
        if spec.startswith("[:", i) and (end := spec.find(":]", i + 2)) > 0:
            name = spec[i + 2 : end]
            if name in _TR_CLASSES:
                chars.extend(_TR_CLASSES[name])
                i = end + 2
                continue
        c = spec[i]
        if c == "\\" and i + 1 < len(spec):
            nxt = spec[i + 1]
            if nxt.isdigit():
                m = re.match(r"[0-7]{1,3}", spec[i + 1 :])
                assert m is not None
                c = chr(int(m.group(0), 8))
                i += 1 + len(m.group(0))
            else:
                c = _ESCAPES.get(nxt, nxt)
                i += 2
        else:
            i += 1
        if i + 1 < len(spec) and spec[i] == "-":
            end_char = spec[i + 1]
            if ord(end_char) >= ord(c):
                chars.extend(chr(x) for x in range(ord(c), ord(end_char) + 1))
                i += 2
                continue
        chars.append(c)
    return chars


async def tr(ctx: Ctx, argv: list[str]) -> int:
    """tr [-cds] STRING1 [STRING2]: translate, squeeze or delete characters."""
    opts, args = parse_opts(argv, "cdsC")
    if not args or (len(args) < 2 and not (opts.get("d") or opts.get("s"))):
        raise UsageError("usage: tr [-cds] STRING1 [STRING2]")
    set1 = tr_set(args[0])
    set2 = tr_set(args[1]) if len(args) > 1 else []
    complement = bool(opts.get("c") or opts.get("C"))
    in1 = set(set1)
    data = decode(await read_operand(ctx, "-"))

    def member(ch: str) -> bool:
        return (ch not in in1) if complement else (ch in in1)

    out: list[str] = []
    if opts.get("d"):
        squeeze = set(set2)
        for ch in data:
            if member(ch):
                continue
            if opts.get("s") and out and out[-1] == ch and ch in squeeze:
                continue
            out.append(ch)
    else:
        mapping: dict[str, str] = {}
        if set2 and not complement:
            for n, ch in enumerate(set1):
                mapping[ch] = set2[min(n, len(set2) - 1)]
        squeeze = set(set2) if set2 else in1
        for ch in data:
            new = ch
            if set2:
                new = set2[-1] if complement and member(ch) else mapping.get(ch, ch)
            if (
                opts.get("s")
                and out
                and out[-1] == new
                and (new in squeeze if set2 else member(ch))
            ):
                continue
            out.append(new)
    ctx.out(encode("".join(out)))
    return 0


# ----- cut -------------------------------------------------------------------------------


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        if not part:
            raise UsageError("invalid byte, character or field list")
        lo, dash, hi = part.partition("-")
        try:
            start = int(lo) if lo else 1
            end = (int(hi) if hi else 1 << 30) if dash else start
        except ValueError:
            raise UsageError(f"invalid number '{part}'") from None
        if start < 1:
            raise UsageError("invalid byte, character or field list")
        out.append((start, end))
    return out


def _picked(n: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= n <= hi for lo, hi in ranges)


async def cut(ctx: Ctx, argv: list[str]) -> int:
    """cut -f LIST [-d DELIM] [-s] | -c LIST | -b LIST [FILE]..."""
    opts, names = parse_opts(argv, "sn", "bcfdDO")
    lists = [k for k in "bcf" if k in opts]
    if len(lists) != 1:
        raise UsageError("expected a list of bytes, characters, or fields")
    kind = lists[0]
    ranges = _ranges(str(opts[kind]))
    delim = str(opts.get("d", "\t"))
    if kind == "f" and len(delim) != 1:
        raise UsageError("the delimiter must be a single character")
    status = 0
    for name in names or ["-"]:
        try:
            data = decode(await read_operand(ctx, name))
        except OSError as exc:
            file_error(ctx, "cut", name, exc)
            status = 1
            continue
        for line in data.splitlines():
            if kind in "bc":
                ctx.out(
                    encode("".join(ch for n, ch in enumerate(line, 1) if _picked(n, ranges)) + "\n")
                )
                continue
            if delim not in line:
                if not opts.get("s"):
                    ctx.out(encode(line + "\n"))
                continue
            fields = line.split(delim)
            chosen = [f for n, f in enumerate(fields, 1) if _picked(n, ranges)]
            ctx.out(encode(delim.join(chosen) + "\n"))
        await ctx.pause()
    return status


# ----- uniq ------------------------------------------------------------------------------


async def uniq(ctx: Ctx, argv: list[str]) -> int:
    """uniq [-cdui] [-f N] [-s N] [INPUT [OUTPUT]]: drop repeated adjacent lines."""
    opts, names = parse_opts(argv, "cdui", "fsw")
    source = names[0] if names else "-"
    try:
        data = decode(await read_operand(ctx, source))
    except OSError as exc:
        file_error(ctx, "uniq", source, exc)
        return 1
    skip_fields = to_int(str(opts.get("f", "0")))
    skip_chars = to_int(str(opts.get("s", "0")))

    def key(line: str) -> str:
        rest = line
        for _ in range(skip_fields):
            rest = re.sub(r"^\s*\S+", "", rest, count=1)
        rest = rest[skip_chars:]
        if "w" in opts:
            rest = rest[: to_int(str(opts["w"]))]
        return rest.lower() if opts.get("i") else rest

    groups: list[list] = []
    for line in data.splitlines():
        if groups and key(groups[-1][0]) == key(line):
            groups[-1][1] += 1
        else:
            groups.append([line, 1])
    out = []
    for line, count in groups:
        if opts.get("d") and count < 2:
            continue
        if opts.get("u") and count > 1:
            continue
        out.append(f"{count:7d} {line}\n" if opts.get("c") else f"{line}\n")
    text = encode("".join(out))
    if len(names) > 1:
        ctx.fs.write(ctx.path(names[1]), text)
    else:
        ctx.out(text)
    return 0


# ----- xargs -----------------------------------------------------------------------------


def _xargs_words(text: str) -> list[str]:
    words: list[str] = []
    cur = ""
    quote = ""
    had = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            else:
                cur += ch
        elif ch in "\"'":
            quote, had = ch, True
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            cur += text[i]
        elif ch.isspace():
            if cur or had:
                words.append(cur)
            cur, had = "", False
        else:
            cur += ch
        i += 1
    if quote:
        kind = "double" if quote == '"' else "single"
        raise UsageError(f"unmatched {kind} quote")
    if cur or had:
        words.append(cur)
    return words


async def xargs(ctx: Ctx, argv: list[str]) -> int:
    """xargs [-0rt] [-n N] [-I STR] [-d DELIM] [COMMAND [ARG]...]: COMMAND with stdin's words."""
    # Options end at the first word that is not one (the command's own options follow).
    i = 1
    opts: dict[str, str | bool] = {}
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        flag = arg[1]
        if flag in "nIdsLP" and flag != "":
            value = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None:
                raise UsageError(f"option requires an argument -- '{flag}'")
            opts[flag] = value
            i += 1 if arg[2:] else 2
            continue
        if flag == "i":
            opts["I"] = arg[2:] or "{}"
            i += 1
            continue
        for ch in arg[1:]:
            if ch not in "0rtpxe":
                raise UsageError(f"invalid option -- '{ch}'")
            opts[ch] = True
        i += 1
    command = argv[i:] or ["echo"]
    data = decode(await read_operand(ctx, "-"))
    if opts.get("0"):
        items = [w for w in data.split("\0") if w]
    elif "d" in opts:
        delim = str(opts["d"]).replace("\\n", "\n").replace("\\t", "\t")
        items = [w for w in data.split(delim[:1] or "\n")]
        if items and items[-1] in ("", "\n"):
            items.pop()
    elif "I" in opts:
        items = [line.strip() for line in data.splitlines() if line.strip()]
    else:
        items = _xargs_words(data)
    if ctx.run is None:
        raise UsageError("cannot run commands here")
    batches: list[list[str]]
    if "I" in opts:
        marker = str(opts["I"])
        batches = [[part.replace(marker, item) for part in command] for item in items]
    else:
        size = (
            to_int(str(opts["n"]))
            if "n" in opts
            else (to_int(str(opts["L"])) if "L" in opts else 0)
        )
        if size < 0:
            raise UsageError(f"invalid number '{size}'")
        if not items:
            batches = [] if opts.get("r") else [list(command)]
        elif size:
            batches = [command + items[n : n + size] for n in range(0, len(items), size)]
        else:
            batches = [command + items]
    status = 0
    for batch in batches:
        if opts.get("t") or opts.get("p"):
            ctx.err(encode(" ".join(batch) + "\n"))
        code = await ctx.run(ctx, batch)
        if code == 127:
            return 127
        if code == 255:
            ctx.err(encode(f"xargs: {batch[0]}: exited with status 255; aborting\n"))
            return 124
        if code >= 128:
            return 125
        if code:
            status = 123
        await ctx.pause()
    return status


# ----- sed -------------------------------------------------------------------------------


class _SedCommand:
    __slots__ = ("a1", "a2", "arg", "cmd", "extra", "in_range", "negate")

    def __init__(self) -> None:
        self.a1: object = None
        self.a2: object = None
        self.negate = False
        self.cmd = ""
        self.arg: object = None
        self.extra: object = None
        self.in_range = False


def _sed_delimited(script: str, i: int, delim: str) -> tuple[str, int]:
    out = ""
    while i < len(script):
        ch = script[i]
        if ch == "\\" and i + 1 < len(script):
            nxt = script[i + 1]
            out += nxt if nxt == delim else ("\n" if nxt == "n" else "\\" + nxt)
            i += 2
            continue
        if ch == delim:
            return out, i + 1
        out += ch
        i += 1
    raise UsageError(f"unmatched '{delim}'")


def _sed_regex(text: str, extended: bool, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(posix_regex(text, extended), flags)
    except re.error as exc:
        raise UsageError(f"bad regex '{text}': {exc}") from None


def _sed_address(script: str, i: int, extended: bool) -> tuple[object, int]:
    if i < len(script) and script[i].isdigit():
        m = re.match(r"\d+", script[i:])
        assert m is not None
        return int(m.group(0)), i + len(m.group(0))
    if i < len(script) and script[i] == "$":
        return "$", i + 1
    if i < len(script) and script[i] in "/\\":
        delim = "/"
        if script[i] == "\\":
            delim = script[i + 1]
            i += 1
        text, i = _sed_delimited(script, i + 1, delim)
        flags = 0
        if i < len(script) and script[i] == "I":
            flags, i = re.I, i + 1
        return _sed_regex(text, extended, flags), i
    return None, i


def parse_sed(script: str, extended: bool) -> list[_SedCommand]:
    cmds: list[_SedCommand] = []
    i = 0
    while i < len(script):
        while i < len(script) and script[i] in " \t\n;":
            i += 1
        if i >= len(script):
            break
        if script[i] == "#":
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        c = _SedCommand()
        c.a1, i = _sed_address(script, i, extended)
        if c.a1 is not None and i < len(script) and script[i] == ",":
            c.a2, i = _sed_address(script, i + 1, extended)
        while i < len(script) and script[i] in " \t":
            i += 1
        if i < len(script) and script[i] == "!":
            c.negate = True
            i += 1
            while i < len(script) and script[i] in " \t":
                i += 1
        if i >= len(script):
            raise UsageError("missing command")
        c.cmd = script[i]
        i += 1
        if c.cmd == "s":
            delim = script[i]
            pattern, i = _sed_delimited(script, i + 1, delim)
            repl, i = _sed_delimited(script, i, delim)
            flags = ""
            while i < len(script) and script[i] not in ";\n}":
                flags += script[i]
                i += 1
            wflags = re.I if ("i" in flags or "I" in flags) else 0
            c.arg = (_sed_regex(pattern, extended, wflags), repl)
            c.extra = flags.strip()
        elif c.cmd == "y":
            delim = script[i]
            src, i = _sed_delimited(script, i + 1, delim)
            dst, i = _sed_delimited(script, i, delim)
            if len(src) != len(dst):
                raise UsageError("strings for y command are different lengths")
            c.arg = str.maketrans(src, dst)
        elif c.cmd in "aic":
            rest = script[i:]
            end = rest.find("\n")
            text = rest if end < 0 else rest[:end]
            i += len(text)
            text = text.lstrip()
            if text.startswith("\\"):
                text = text[1:].lstrip("\n")
            c.arg = text.replace("\\n", "\n")
        elif c.cmd in "dpPqQ=nNhHgGxl{}":
            if c.cmd in "qQ":
                m = re.match(r"\s*(\d+)", script[i:])
                if m:
                    c.arg = int(m.group(1))
                    i += len(m.group(0))
        elif c.cmd in "wr":
            rest = script[i:]
            end = rest.find("\n")
            name = (rest if end < 0 else rest[:end]).strip()
            i += len(rest) if end < 0 else end
            c.arg = name
        else:
            raise UsageError(f"unsupported command {c.cmd}")
        cmds.append(c)
    return cmds


def _sed_replacement(repl: str, m: re.Match[str]) -> str:
    out = []
    i = 0
    while i < len(repl):
        ch = repl[i]
        if ch == "\\" and i + 1 < len(repl):
            nxt = repl[i + 1]
            if nxt.isdigit():
                out.append(m.group(int(nxt)) or "")
            elif nxt == "n":
                out.append("\n")
            elif nxt == "t":
                out.append("\t")
            else:
                out.append(nxt)
            i += 2
            continue
        out.append(m.group(0) if ch == "&" else ch)
        i += 1
    return "".join(out)


def _substitute(c: _SedCommand, space: str) -> tuple[str, bool]:
    """One ``s`` command on the pattern space: (new space, whether it replaced anything)."""
    pattern, repl = c.arg  # type: ignore[misc]
    flags = str(c.extra)
    count_m = re.search(r"\d+", flags)
    nth = max(int(count_m.group(0)) if count_m else 1, 1)
    every = "g" in flags
    seen = 0
    done = False

    def sub(m: re.Match[str]) -> str:
        nonlocal seen, done
        seen += 1
        if seen == nth or (every and seen > nth):
            done = True
            return _sed_replacement(repl, m)
        return m.group(0)

    new = pattern.sub(sub, space, count=0 if (every or nth > 1) else 1)
    return (new, True) if done else (space, False)


def _matches(addr: object, n: int, last: bool, line: str) -> bool:
    if isinstance(addr, int):
        return n == addr
    if addr == "$":
        return last
    if isinstance(addr, re.Pattern):
        return addr.search(line) is not None
    return False


def _selected(c: _SedCommand, n: int, last: bool, line: str) -> bool:
    if c.a1 is None:
        hit = True
    elif c.a2 is None:
        hit = _matches(c.a1, n, last, line)
    elif c.in_range:
        hit = True
        if (isinstance(c.a2, int) and n >= c.a2) or _matches(c.a2, n, last, line):
            c.in_range = False
    elif _matches(c.a1, n, last, line):
        hit = True
        c.in_range = not (isinstance(c.a2, int) and c.a2 <= n)
    else:
        hit = False
    return hit != c.negate


def run_sed(cmds: list[_SedCommand], lines: list[str], quiet: bool) -> tuple[str, int | None]:
    """The output of a sed script over the lines (newlines removed); the q exit code."""
    out: list[str] = []
    hold = ""
    n = 0
    depth_skip: list[bool] = []
    index = 0
    while index < len(lines):
        space = lines[index]
        n += 1
        index += 1
        last = index == len(lines)
        appended: list[str] = []
        deleted = False
        quit_code: int | None = None
        pc = 0
        depth_skip.clear()
        while pc < len(cmds):
            c = cmds[pc]
            pc += 1
            if c.cmd == "}":
                continue
            if not _selected(c, n, last, space):
                if c.cmd == "{":  # skip to the matching }
                    depth = 1
                    while pc < len(cmds) and depth:
                        depth += {"{": 1, "}": -1}.get(cmds[pc].cmd, 0)
                        pc += 1
                continue
            cmd = c.cmd
            if cmd == "{":
                continue
            if cmd == "s":
                space, changed = _substitute(c, space)
                if changed and "p" in str(c.extra):
                    out.append(space + "\n")
            elif cmd == "d":
                deleted = True
                break
            elif cmd == "p":
                out.append(space + "\n")
            elif cmd == "=":
                out.append(f"{n}\n")
            elif cmd == "a":
                appended.append(str(c.arg) + "\n")
            elif cmd == "i":
                out.append(str(c.arg) + "\n")
            elif cmd == "c":
                if c.a2 is None or not c.in_range:
                    out.append(str(c.arg) + "\n")
                deleted = True
                break
            elif cmd == "y":
                space = space.translate(c.arg)  # type: ignore[arg-type]
            elif cmd == "h":
                hold = space
            elif cmd == "H":
                hold = hold + "\n" + space
            elif cmd == "g":
                space = hold
            elif cmd == "G":
                space = space + "\n" + hold
            elif cmd == "x":
                space, hold = hold, space
            elif cmd == "n":
                if not quiet:
                    out.append(space + "\n")
                if index < len(lines):
                    space = lines[index]
                    index += 1
                    n += 1
                    last = index == len(lines)
                else:
                    deleted = True  # no next line: the cycle ends without printing again
                    break
            elif cmd == "N":
                if index < len(lines):
                    space = space + "\n" + lines[index]
                    index += 1
                    n += 1
                    last = index == len(lines)
                else:
                    break
            elif cmd in "qQ":
                quit_code = int(c.arg) if c.arg is not None else 0  # type: ignore[arg-type]
                if cmd == "Q":
                    deleted = True
                break
            elif cmd == "l":
                out.append(space.encode("unicode_escape").decode() + "$\n")
        if not deleted and not quiet:
            out.append(space + "\n")
        out.extend(appended)
        if quit_code is not None:
            return "".join(out), quit_code
    return "".join(out), None


async def sed(ctx: Ctx, argv: list[str]) -> int:
    """sed [-inrE] [-e SCRIPT]... [SCRIPT] [FILE]...: edit lines as they pass."""
    scripts: list[str] = []
    quiet = in_place = extended = False
    rest: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i + 1 :])
            break
        if arg.startswith("-") and len(arg) > 1 and not rest:
            j = 1
            while j < len(arg):
                ch = arg[j]
                if ch == "n":
                    quiet = True
                elif ch == "i":
                    in_place = True
                    break  # -i.bak: a suffix, not kept
                elif ch in "rE":
                    extended = True
                elif ch in "ef":
                    value = arg[j + 1 :] or (argv[i + 1] if i + 1 < len(argv) else None)
                    if value is None:
                        raise UsageError(f"option requires an argument -- '{ch}'")
                    if not arg[j + 1 :]:
                        i += 1
                    if ch == "f":
                        value = decode(ctx.fs.read(ctx.path(value))).rstrip("\n")
                    scripts.append(value)
                    break
                elif ch == "s":
                    pass
                else:
                    raise UsageError(f"invalid option -- '{ch}'")
                j += 1
            i += 1
            continue
        rest.append(arg)
        i += 1
    if not scripts:
        if not rest:
            raise UsageError("usage: sed [-inrE] [-e SCRIPT]... [SCRIPT] [FILE]...")
        scripts.append(rest.pop(0))
    cmds = parse_sed("\n".join(scripts), extended)
    status = 0
    names = rest or ["-"]
    if in_place:
        for name in names:
            try:
                data = decode(await read_operand(ctx, name))
            except OSError as exc:
                file_error(ctx, "sed", name, exc)
                status = 1
                continue
            text, _ = run_sed(cmds, data.splitlines(), quiet)
            ctx.fs.write(ctx.path(name), encode(text))
        return status
    lines: list[str] = []
    for name in names:
        try:
            lines.extend(decode(await read_operand(ctx, name)).splitlines())
        except OSError as exc:
            file_error(ctx, "sed", name, exc)
            status = 2
    text, code = run_sed(cmds, lines, quiet)
    ctx.out(encode(text))
    return code if code is not None else status


# ----- top -------------------------------------------------------------------------------


def _top_screen(ctx: Ctx, argv: list[str]) -> str:
    rows = ctx.sys.process_rows()
    lines = [
        "Mem: 1024000K used, 7168000K free, 0K shrd, 0K buff, 512000K cached",
        "CPU:   0% usr   0% sys   0% nic 100% idle   0% io   0% irq   0% sirq",
        f"Load average: 0.00 0.00 0.00 1/{len(rows)} {max((r[0] for r in rows), default=1)}",
        "  PID  PPID USER     STAT   VSZ %VSZ %CPU COMMAND",
    ]
    me = " ".join(argv)
    mine = max((pid for pid, _user, command in rows if command == me), default=ctx.pid)
    for pid, user, command in rows:
        state = "R" if pid == mine else "S"
        ppid = 0 if pid == 1 else 1
        lines.append(f"{pid:5d} {ppid:5d} {user[:8]:<8} {state:<4} {2268:5d}   0%   0% {command}")
    return "\n".join(lines) + "\n"


async def top(ctx: Ctx, argv: list[str]) -> int:
    """top [-b] [-n COUNT] [-d SECONDS]: the container's processes, again every few seconds."""
    opts, _ = parse_opts(argv, "bHmS", "ndp")
    count = to_int(str(opts["n"])) if "n" in opts else 0
    try:
        delay = float(str(opts.get("d", "5")))
    except ValueError:
        raise UsageError(f"invalid number '{opts.get('d')}'") from None
    shown = 0
    while True:
        screen = _top_screen(ctx, argv)
        if not opts.get("b"):
            screen = "\x1b[H\x1b[J" + screen
        ctx.out(encode(screen + ("\n" if opts.get("b") else "")))
        shown += 1
        if count and shown >= count:
            return 0
        await ctx.sys.sleep(max(delay, 0.1))


APPLETS = {
    "tr": tr,
    "cut": cut,
    "uniq": uniq,
    "xargs": xargs,
    "sed": sed,
    "top": top,
}
