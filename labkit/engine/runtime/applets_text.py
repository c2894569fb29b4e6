"""Applets that print or filter text: echo, printf, cat, head, tail, wc, grep, seq, sort.

Each reads stdin as it arrives (``cat``, ``grep`` and ``head`` print a line as soon as it is
complete), so they behave in a pipeline or on an attached terminal the way the real ones do.
Messages follow busybox's wording.
"""

from __future__ import annotations

import asyncio
import errno
import math
import re
from collections.abc import AsyncIterator

from labkit.engine.runtime import devices
from labkit.engine.runtime.context import Ctx, UsageError, decode, encode, parse_opts, to_int
from labkit.engine.runtime.vfs import DEV_NULL

# Lines of a file handed out between scheduling points (a long file must not stall the engine).
_LINES_STEP = 1000

# ----- shared helpers ---------------------------------------------------------------------


async def lines_of(ctx: Ctx, name: str) -> AsyncIterator[bytes]:
    """The lines of a file operand (``-`` is stdin, read as it arrives), newlines kept.

    Raises OSError for a file that cannot be read.
    """
    if name == "-":
        while line := await ctx.stdin.readline():
            yield line
        return
    data = await read_operand(ctx, name)
    for n, line in enumerate(data.splitlines(keepends=True)):
        if n % _LINES_STEP == _LINES_STEP - 1:
            await ctx.pause()
        yield line


async def read_operand(ctx: Ctx, name: str) -> bytes:
    """A file operand's bytes (``-``: all of stdin). An endless device is read until the
    container's memory runs out, as in a real container."""
    if name == "-":
        return await ctx.stdin.read_all()
    path = ctx.path(name)
    device = devices.endless(path)
    if device is not None:
        memory = ctx.sys.memory
        if memory is None:
            raise OSError(errno.EFBIG, f"{name}: cannot read an endless device to its end")
        held = memory.hold()
        while True:  # ends with OutOfMemory
            held.grow(devices.PIECE)
            await ctx.pause()
    return ctx.fs.read(path)


def file_error(ctx: Ctx, cmd: str, name: str, exc: OSError) -> None:
    ctx.err(f"{cmd}: {name}: {exc.strerror}\n")


_ESCAPES = {
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_ESCAPE_RE = re.compile(r"\\(0[0-7]{0,3}|[1-7][0-7]{0,2}|x[0-9a-fA-F]{1,2}|c|.)", re.S)


def unescape(text: str, octal_needs_zero: bool) -> tuple[str, bool]:
    """Backslash escapes as echo -e (``\\0NNN``) or printf (``\\NNN``) read them.

    Returns the text and whether ``\\c`` asked to stop all further output.
    """
    stop = False
    out: list[str] = []
    pos = 0
    for m in _ESCAPE_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        seq = m.group(1)
        if seq == "c":
            stop = True
            break
        if seq[0] == "x":
            out.append(chr(int(seq[1:], 16)))
        elif seq[0] == "0" and octal_needs_zero:
            out.append(chr(int(seq[1:] or "0", 8) & 0xFF))
        elif seq[0] in "01234567" and not octal_needs_zero:
            out.append(chr(int(seq[:3], 8) & 0xFF) + seq[3:])
        elif seq[0] in "1234567":
            out.append("\\" + seq)
        else:
            out.append(_ESCAPES.get(seq, "\\" + seq))
    else:
        out.append(text[pos:])
    return "".join(out), stop


# ----- echo, printf -----------------------------------------------------------------------


async def echo(ctx: Ctx, argv: list[str]) -> int:
    """echo [-neE] ARG...: -n no newline, -e interpret backslash escapes."""
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args.pop(0)[1:]:
            if flag == "n":
                newline = False
            else:
                escapes = flag == "e"
    text = " ".join(args)
    stop = False
    if escapes:
        text, stop = unescape(text, octal_needs_zero=True)
    ctx.out(text + ("\n" if newline and not stop else ""))
    return 0


_SPEC = re.compile(r"%([-+ #0]*)(\*|-?\d+)?(?:\.(\*|-?\d*))?([diouxXeEfgGcsb%])")
# A width or precision past this is produced in pieces (printf '%0400000000d' 1 prints
# 400 MB, which must stream out, not be built in memory first).
_BIG = 4096
# Bytes of padding written at a time, with a scheduling point between pieces.
_PIECE = 64 << 10
# Digits past this many in %f/%e of a double are zeros: made by the padder, not by Python.
_FLOAT_DIGITS = 1100


class Fill:
    """``count`` copies of ``char``: padding too long to build in memory."""

    __slots__ = ("char", "count")

    def __init__(self, char: str, count: int) -> None:
        self.char = char
        self.count = count


Pieces = list  # list[str | Fill]


async def printf(ctx: Ctx, argv: list[str]) -> int:
    """printf FORMAT [ARG]...: %s %d %i %x %o %c %f %e %g %b %%, widths, escapes; reuses FORMAT."""
    if len(argv) < 2:
        raise UsageError("usage: printf FORMAT [ARGUMENT]...")
    fmt, args = argv[1], argv[2:]
    state = {"status": 0}
    while True:
        before = len(args)
        pieces, stop = _format(fmt, args, ctx, state)
        await write_pieces(ctx, pieces)
        if stop or not args or len(args) == before:
            return state["status"]


async def write_pieces(ctx: Ctx, pieces: Pieces) -> None:
    """Write text and long padding, the padding a piece at a time: a huge width streams
    out as a real printf's does, and waits while its reader is behind."""
    text: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            text.append(piece)
            continue
        if text:
            ctx.out("".join(text))
            text = []
        left = piece.count
        block = piece.char * min(left, _PIECE)
        while left > 0:
            n = min(left, _PIECE)
            ctx.out(block if n == len(block) else block[:n])
            left -= n
            await ctx.pause()
    if text:
        ctx.out("".join(text))


def _format(fmt: str, args: list[str], ctx: Ctx, state: dict) -> tuple[Pieces, bool]:
    out: Pieces = []
    pos = 0
    while pos < len(fmt):
        m = _SPEC.search(fmt, pos)
        literal = fmt[pos : m.start()] if m else fmt[pos:]
        text, stop = unescape(literal, octal_needs_zero=False)
        out.append(text)
        if stop or not m:
            return out, stop
        pos = m.end()
        flags, width, precision, conv = m.groups()
        if conv == "%":
            out.append("%")
            continue
        if width == "*":
            width = str(_number(args.pop(0) if args else "0", ctx, state))
        if precision == "*":
            precision = str(_number(args.pop(0) if args else "0", ctx, state))
        if width and width.startswith("-"):  # a negative width means left-justified
            flags, width = flags + "-", width[1:]
        if precision and precision.startswith("-"):  # a negative precision is none at all
            precision = None
        arg = args.pop(0) if args else None
        value: object
        if conv == "b":
            text, stop = unescape(arg or "", octal_needs_zero=True)
            conv, value = "s", text
        elif conv == "s":
            value = arg or ""
        elif conv == "c":
            conv, value = "s", (arg or "")[:1]
        elif conv in "eEfgG":
            value = _float(arg or "0", ctx, state)
        else:
            value = _number(arg or "0", ctx, state)
            if conv == "u":
                conv = "d"
                value = value % (1 << 64) if value < 0 else value
            elif conv == "i":
                conv = "d"
        if _big(width) or _big(precision):
            out.extend(_padded(flags, int(width or 0), precision, conv, value))
        else:
            spec = "%" + flags + (width or "") + (f".{precision}" if precision is not None else "")
            out.append((spec + conv) % value)
        if stop:
            return out, True
    return out, False


def _big(number: str | None) -> bool:
    return bool(number) and int(number) > _BIG  # type: ignore[arg-type]


def _padded(flags: str, width: int, precision: str | None, conv: str, value: object) -> Pieces:
    """One conversion with a huge width or precision, as text and :class:`Fill` pieces,
    laid out as Python's ``%`` would lay it out (which is what the small ones use)."""
    plain = "%" + flags.replace("-", "").replace("0", "")
    prec = None if precision is None else int(precision or 0)
    head, body, tail = "", "", ""  # sign and 0x prefix; digits; an exponent
    zeros = 0  # zeros between head and body (integer precision) or inside body (float)
    numeric = True
    if conv == "s":
        numeric = False
        body = str(value) if prec is None else str(value)[:prec]
    elif conv in "eEfgG":
        digits = 6 if prec is None else prec
        shown = min(digits, _FLOAT_DIGITS)
        text = (plain + f".{shown}" + conv) % value
        finite = text.strip("+- ").lower() not in ("inf", "nan")
        numeric = finite
        if conv in "eE" and finite:
            mark = text.lower().rindex("e")
            text, tail = text[:mark], text[mark:]
        if conv in "eEfF" and finite and digits > shown:
            zeros = digits - shown
        head, body = "", text
    else:
        text = (plain + conv) % value
        m = re.match(r"[-+ ]?(?:0[xXo])?", text)
        cut = m.end() if m else 0
        head, body = text[:cut], text[cut:]
        if prec is not None and prec > len(body):
            zeros = prec - len(body)
    size = len(head) + zeros + len(body) + len(tail)
    pad = max(width - size, 0)
    is_float = conv in "eEfgG"
    if is_float:
        core: Pieces = [head, body, Fill("0", zeros), tail]
    else:
        core = [head, Fill("0", zeros), body, tail]
    if "-" in flags:
        pieces = [*core, Fill(" ", pad)]
    elif "0" in flags and numeric:
        if is_float:
            sign = body[:1] if body[:1] in "+- " else ""
            pieces = [sign, Fill("0", pad), body[len(sign) :], Fill("0", zeros), tail]
        else:
            pieces = [head, Fill("0", pad + zeros), body, tail]
    else:
        pieces = [Fill(" ", pad), *core]
    return [p for p in pieces if (p.count if isinstance(p, Fill) else p)]


def _number(text: str, ctx: Ctx, state: dict) -> int:
    text = text.strip()
    if text[:1] in ("'", '"') and len(text) > 1:
        return ord(text[1])
    try:
        return int(text, 0) if not re.fullmatch(r"[-+]?0\d+", text) else int(text, 8)
    except ValueError:
        ctx.err(f"printf: invalid number '{text}'\n")
        state["status"] = 1
        return 0


def _float(text: str, ctx: Ctx, state: dict) -> float:
    try:
        return float(text)
    except ValueError:
        ctx.err(f"printf: invalid number '{text}'\n")
        state["status"] = 1
        return 0.0


# ----- cat, head, tail --------------------------------------------------------------------


async def cat(ctx: Ctx, argv: list[str]) -> int:
    """cat [FILE]...: copy files (``-`` or none: stdin, as it arrives) to stdout."""
    _, names = parse_opts(argv, "uvetAn")
    status = 0
    for name in names or ["-"]:
        if name == "-":
            while chunk := await ctx.stdin.read():
                ctx.out(chunk)
                await ctx.pause()
            continue
        device = devices.endless(ctx.path(name))
        if device is not None:
            while True:  # until killed, or until its reader goes (SIGPIPE)
                ctx.out(device())
                await ctx.pause()
        try:
            ctx.out(ctx.fs.read(ctx.path(name)))
        except IsADirectoryError:
            ctx.err("cat: read error: Is a directory\n")
            status = 1
        except OSError as exc:
            ctx.err(f"cat: can't open '{name}': {exc.strerror}\n")
            status = 1
    return status


def _legacy_count(argv: list[str]) -> list[str]:
    """``head -5`` / ``tail -5`` / ``tail +5`` mean ``-n 5`` / ``-n +5``."""
    if len(argv) > 1 and re.fullmatch(r"[-+]\d+", argv[1]):
        sign = "+" if argv[1][0] == "+" else ""
        return [argv[0], "-n", sign + argv[1][1:], *argv[2:]]
    return argv


async def head(ctx: Ctx, argv: list[str]) -> int:
    """head [-n N] [-c N] [FILE]...: the first N lines (10) or bytes."""
    opts, names = parse_opts(_legacy_count(argv), "qv", "nc")
    count = to_int(str(opts.get("n", "10")))
    nbytes = to_int(str(opts["c"])) if "c" in opts else None
    names = names or ["-"]
    status = 0
    for n, name in enumerate(names):
        if (len(names) > 1 and not opts.get("q")) or opts.get("v"):
            ctx.out(("\n" if n else "") + f"==> {'standard input' if name == '-' else name} <==\n")
        try:
            device = devices.endless(ctx.path(name)) if name != "-" else None
            if nbytes is not None and device is not None:
                left = nbytes
                while left > 0:
                    piece = device()[:left]
                    ctx.out(piece)
                    left -= len(piece)
                    await ctx.pause()
                continue
            if nbytes is not None and name == "-":  # only as much of stdin as it needs
                left = nbytes
                while left > 0 and (chunk := await ctx.stdin.read()):
                    ctx.out(chunk[:left])
                    left -= len(chunk)
                continue
            if nbytes is not None:
                ctx.out((await read_operand(ctx, name))[:nbytes])
                continue
            if count <= 0:
                continue
            seen = 0
            async for line in lines_of(ctx, name):
                ctx.out(line)
                seen += 1
                if seen >= count:
                    break
        except OSError as exc:
            file_error(ctx, "head", name, exc)
            status = 1
    return status


async def tail(ctx: Ctx, argv: list[str]) -> int:
    """tail [-n [+]N] [-c N] [-f] [FILE]...: the last N lines (10), or from line +N; -f follows."""
    opts, names = parse_opts(_legacy_count(argv), "qvfF", "nc")
    spec = str(opts.get("n", "10"))
    from_start = spec.startswith("+")
    count = to_int(spec.lstrip("+"))
    names = names or ["-"]
    status = 0
    for n, name in enumerate(names):
        if (len(names) > 1 and not opts.get("q")) or opts.get("v"):
            ctx.out(("\n" if n else "") + f"==> {'standard input' if name == '-' else name} <==\n")
        try:
            data = await read_operand(ctx, name)
        except OSError as exc:
            file_error(ctx, "tail", name, exc)
            status = 1
            continue
        if "c" in opts:
            ctx.out(data[-to_int(str(opts["c"])) :] if to_int(str(opts["c"])) else b"")
            continue
        lines = data.splitlines(keepends=True)
        if from_start:
            ctx.out(b"".join(lines[max(count - 1, 0) :]))
        elif count:
            ctx.out(b"".join(lines[-count:]))
    if (opts.get("f") or opts.get("F")) and names != ["-"]:
        await _follow(ctx, names[-1])
    return status


async def _follow(ctx: Ctx, name: str) -> None:
    """tail -f: print what is appended to the file, checking once a second until stopped."""
    path = ctx.path(name)
    if path == DEV_NULL:  # `tail -f /dev/null` keeps a container up: nothing will ever come
        await asyncio.get_running_loop().create_future()
    try:
        size = len(ctx.fs.read(path))
    except OSError:
        size = 0
    while True:
        await ctx.sys.sleep(1.0)
        try:
            data = ctx.fs.read(path)
        except OSError:
            continue
        if len(data) < size:
            ctx.err(f"tail: {name}: file truncated\n")
            size = 0
        if len(data) > size:
            ctx.out(data[size:])
            size = len(data)


# ----- wc, grep, seq, sort ----------------------------------------------------------------


async def wc(ctx: Ctx, argv: list[str]) -> int:
    """wc [-lwc] [FILE]...: lines, words and bytes."""
    opts, names = parse_opts(argv, "lwcmL")
    cols = [c for c in "lwc" if opts.get(c) or (c == "c" and opts.get("m"))] or ["l", "w", "c"]
    rows: list[tuple[list[int], str | None]] = []
    status = 0
    for name in names or ["-"]:
        try:
            if name == "-":
                counts = await _count_stream(ctx)
            else:
                data = await read_operand(ctx, name)
                counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        except OSError as exc:
            file_error(ctx, "wc", name, exc)
            status = 1
            continue
        rows.append(([counts[c] for c in cols], None if name == "-" and not names else name))
    if len(rows) > 1:
        rows.append(([sum(r[0][i] for r in rows) for i in range(len(cols))], "total"))
    pad = len(cols) > 1 or len(rows) > 1
    for numbers, label in rows:
        text = " ".join(f"{n:9d}" if pad else str(n) for n in numbers)
        ctx.out(text + (f" {label}" if label else "") + "\n")
    return status


async def _count_stream(ctx: Ctx) -> dict[str, int]:
    """Lines, words and bytes of stdin, counted as it arrives (never held whole)."""
    lines = words = size = 0
    in_word = False  # the last chunk ended inside a word
    while chunk := await ctx.stdin.read():
        lines += chunk.count(b"\n")
        size += len(chunk)
        words += len(chunk.split())
        if in_word and not chunk[:1].isspace():
            words -= 1  # a word cut between two chunks was counted twice
        in_word = not chunk[-1:].isspace()
        await ctx.pause()
    return {"l": lines, "w": words, "c": size}


_CLASSES = {
    "[:digit:]": "0-9",
    "[:alpha:]": "a-zA-Z",
    "[:alnum:]": "a-zA-Z0-9",
    "[:upper:]": "A-Z",
    "[:lower:]": "a-z",
    "[:space:]": r" \t\n\r\f\v",
    "[:blank:]": r" \t",
    "[:punct:]": r"!-/:-@\[-`{-~",
    "[:xdigit:]": "0-9A-Fa-f",
}


def posix_regex(pattern: str, extended: bool) -> str:
    """A POSIX basic (or extended) regular expression as a Python one."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if not extended and nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        if c == "[" and (end := _bracket_end(pattern, i)) > 0:
            out.append("[" + _bracket_body(pattern[i + 1 : end]) + "]")
            i = end + 1
            continue
        if not extended and c in "(){}|+?":
            out.append("\\" + c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _bracket_body(body: str) -> str:
    """A bracket expression's inside, POSIX classes expanded, for Python's re."""
    out: list[str] = []
    j = 0
    while j < len(body):
        k = body.find(":]", j + 2) if body.startswith("[:", j) else -1
        if k > 0 and body[j : k + 2] in _CLASSES:
            out.append(_CLASSES[body[j : k + 2]])
            j = k + 2
            continue
        out.append("\\" + body[j] if body[j] in "\\[" else body[j])
        j += 1
    return "".join(out)


def _bracket_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the bracket expression at ``start``, or -1."""
    j = start + 1
    if pattern[j : j + 1] == "^":
        j += 1
    if pattern[j : j + 1] == "]":
        j += 1
    while j < len(pattern):
        if pattern.startswith("[:", j) and (k := pattern.find(":]", j + 2)) > 0:
            j = k + 2
            continue
        if pattern[j] == "]":
            return j
        j += 1
    return -1


async def grep(ctx: Ctx, argv: list[str]) -> int:
    """grep [-ivcnqlhHsFEwx] [-e PATTERN]... PATTERN [FILE]...: print matching lines."""
    patterns: list[str] = []
    rest = [argv[0]]
    i = 1
    while i < len(argv):  # pull out every -e PATTERN before the usual option parsing
        if argv[i] == "-e" and i + 1 < len(argv):
            patterns.append(argv[i + 1])
            i += 2
        elif argv[i].startswith("-e") and len(argv[i]) > 2:
            patterns.append(argv[i][2:])
            i += 1
        else:
            rest.append(argv[i])
            i += 1
    opts, names = parse_opts(rest, "ivcnqlhHsFEwxr")
    if not patterns:
        if not names:
            raise UsageError("usage: grep [-ivcnqlhHsFEwx] PATTERN [FILE]...", 2)
        patterns = [names.pop(0)]
    matcher = _matcher(patterns, opts)
    names = names or ["-"]
    show_name = (len(names) > 1 or opts.get("H")) and not opts.get("h")
    found, status = False, 0
    for name in names:
        count = 0
        label = "(standard input)" if name == "-" else name
        try:
            number = 0
            async for raw in lines_of(ctx, name):
                number += 1
                line = decode(raw.rstrip(b"\n"))
                if bool(matcher(line)) == bool(opts.get("v")):
                    continue
                count += 1
                found = True
                if opts.get("q"):
                    return 0
                if opts.get("l") or opts.get("c"):
                    continue
                prefix = (f"{label}:" if show_name else "") + (
                    f"{number}:" if opts.get("n") else ""
                )
                ctx.out(encode(prefix + line) + b"\n")
        except OSError as exc:
            if not opts.get("s"):
                file_error(ctx, "grep", name, exc)
            status = 2
            continue
        if opts.get("c"):
            ctx.out((f"{label}:" if show_name else "") + f"{count}\n")
        elif opts.get("l") and count:
            ctx.out(f"{label}\n")
    return 0 if found else (status or 1)


def _matcher(patterns: list[str], opts: dict):
    flags = re.IGNORECASE if opts.get("i") else 0
    exprs = []
    for p in patterns:
        expr = re.escape(p) if opts.get("F") else posix_regex(p, bool(opts.get("E")))
        if opts.get("w"):
            expr = rf"(?<!\w)(?:{expr})(?!\w)"
        if opts.get("x"):
            expr = rf"(?:{expr})\Z"
        exprs.append(expr)
    try:
        rx = re.compile("|".join(f"(?:{e})" for e in exprs), flags)
    except re.error as exc:
        raise UsageError(f"bad regex '{patterns[0]}': {exc}", 2) from None
    return rx.match if opts.get("x") else rx.search


async def seq(ctx: Ctx, argv: list[str]) -> int:
    """seq [-s SEP] [-w] [FIRST [INCREMENT]] LAST: print a sequence of numbers."""
    opts, nums = parse_opts(_numbers_first(argv), "w", "s")
    if not 1 <= len(nums) <= 3:
        raise UsageError("usage: seq [-s SEP] [FIRST [INCREMENT]] LAST")
    try:
        values = [float(n) for n in nums]
    except ValueError:
        bad = next(n for n in nums if not _is_float(n))
        raise UsageError(f"invalid number '{bad}'") from None
    first, step, last = 1.0, 1.0, values[-1]
    if len(values) >= 2:
        first = values[0]
    if len(values) == 3:
        step = values[1]
    if step == 0:
        raise UsageError("invalid increment '0'")
    decimals = max((len(n.split(".")[1]) if "." in n else 0) for n in nums)
    sep = str(opts.get("s", "\n"))
    width = 0
    if opts.get("w"):  # as wide as the widest number printed: the first or the last
        count = math.floor((last - first) / step + 1e-9)
        if count >= 0:
            ends = (first, first + count * step)
            width = max(len(f"{v:.{decimals}f}") for v in ends)
    out: list[str] = []
    value, n, started = first, 0, False
    while (step > 0 and value <= last + 1e-9) or (step < 0 and value >= last - 1e-9):
        out.append(f"{value:.{decimals}f}".zfill(width))
        n += 1
        value = first + n * step
        if n % 1000 == 0:  # a long sequence streams out, a thousand numbers at a time
            ctx.out((sep if started else "") + sep.join(out))
            out, started = [], True
            await ctx.pause()
    if out:
        ctx.out((sep if started else "") + sep.join(out))
    if out or started:
        ctx.out("\n")
    return 0


def _numbers_first(argv: list[str]) -> list[str]:
    """Options, then ``--``, then the numbers, so that ``seq 3 -1 1`` is not read as options."""
    opts, nums = [], []
    args = iter(argv[1:])
    for arg in args:
        if arg == "-s":
            opts += [arg, next(args, "")]
        elif arg.startswith("-") and not re.fullmatch(r"-\d+(\.\d*)?", arg):
            opts.append(arg)
        else:
            nums.append(arg)
    return [argv[0], *opts, "--", *nums]


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def sort(ctx: Ctx, argv: list[str]) -> int:
    """sort [-rnu] [FILE]...: sort lines."""
    opts, names = parse_opts(argv, "rnuf")
    lines: list[bytes] = []
    status = 0
    for name in names or ["-"]:
        try:
            data = await read_operand(ctx, name)
        except OSError as exc:
            file_error(ctx, "sort", name, exc)
            status = 2
            continue
        lines.extend(line.rstrip(b"\n") for line in data.splitlines(keepends=True))
    if opts.get("n"):

        def key(line: bytes):
            m = re.match(rb"\s*(-?\d+(?:\.\d*)?)", line)
            return (float(m.group(1)) if m else 0.0, line)

        lines.sort(key=key, reverse=bool(opts.get("r")))
    else:
        fold = bytes.lower if opts.get("f") else (lambda b: b)
        lines.sort(key=fold, reverse=bool(opts.get("r")))
    if opts.get("u"):
        lines = [line for n, line in enumerate(lines) if n == 0 or line != lines[n - 1]]
    ctx.out(b"".join(line + b"\n" for line in lines))
    return status


async def yes(ctx: Ctx, argv: list[str]) -> int:
    """yes [STRING]...: print the line (y) for ever, until killed or its reader goes."""
    line = encode((" ".join(argv[1:]) if len(argv) > 1 else "y") + "\n")
    block = line * max(1, devices.PIECE // len(line))
    while True:
        ctx.out(block)
        await ctx.pause()


APPLETS = {
    "yes": yes,
    "echo": echo,
    "printf": printf,
    "cat": cat,
    "head": head,
    "tail": tail,
    "wc": wc,
    "grep": grep,
    "seq": seq,
    "sort": sort,
}
