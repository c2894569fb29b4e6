"""Applets that digest or reshape a file's bytes: md5sum, sha1sum, sha256sum, base64, rev,
nl and tac, with busybox's output, messages and exit statuses."""

from __future__ import annotations

import base64 as b64
import binascii
import hashlib
import re

from labkit.engine.runtime.applets_text import read_operand
from labkit.engine.runtime.context import (
    Applet,
    Ctx,
    UsageError,
    decode,
    encode,
    parse_opts,
    to_int,
)

_WRAP = 76


def _summer(algorithm: str) -> Applet:
    """An ``md5sum``-style applet for one hash algorithm."""
    name = f"{algorithm}sum"
    hex_length = hashlib.new(algorithm).digest_size * 2

    async def summer(ctx: Ctx, argv: list[str]) -> int:
        opts, names = parse_opts(argv, "cswb")
        if opts.get("c"):
            return await _check(ctx, names, opts)
        status = 0
        for operand in names or ["-"]:
            try:
                data = await read_operand(ctx, operand)
            except OSError as exc:
                ctx.err(f"{name}: can't open '{operand}': {exc.strerror}\n")
                status = 1
                continue
            ctx.out(f"{hashlib.new(algorithm, data).hexdigest()}  {operand}\n")
        return status

    async def _check(ctx: Ctx, names: list[str], opts: dict) -> int:
        status = failed = total = 0
        for operand in names or ["-"]:
            try:
                text = decode(await read_operand(ctx, operand))
            except OSError as exc:
                ctx.err(f"{name}: {operand}: {exc.strerror}\n")
                return 1
            for line in text.splitlines():
                found = re.fullmatch(rf"([0-9a-fA-F]{{{hex_length}}}) [ *](.+)", line)
                if found is None:
                    continue
                want, target = found.group(1).lower(), found.group(2)
                try:
                    got = hashlib.new(algorithm, await read_operand(ctx, target)).hexdigest()
                except OSError as exc:
                    ctx.err(f"{name}: can't open '{target}': {exc.strerror}\n")
                    got = ""
                ok = got == want
                total += 1
                if not ok:
                    failed += 1
                if not opts.get("s"):
                    ctx.out(f"{target}: {'OK' if ok else 'FAILED'}\n")
        if failed and not opts.get("s"):
            ctx.err(f"{name}: WARNING: {failed} of {total} computed checksums did NOT match\n")
        return 1 if failed else status

    summer.__doc__ = f"{name} [-c [-sw]] [FILE]...: print or check {algorithm} checksums."
    return summer


async def base64(ctx: Ctx, argv: list[str]) -> int:
    """base64 [-d] [-w COL] [FILE]: encode (lines of 76) or decode."""
    opts, names = parse_opts(argv, "di", "w")
    if len(names) > 1:
        raise UsageError(f"extra operand '{names[1]}'")
    try:
        data = await read_operand(ctx, names[0] if names else "-")
    except OSError as exc:
        ctx.err(f"base64: {names[0]}: {exc.strerror}\n")
        return 1
    if opts.get("d"):
        text = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
        try:
            ctx.out(b64.b64decode(text + b"=" * (-len(text) % 4)))
        except binascii.Error:
            ctx.err("base64: invalid input\n")
            return 1
        return 0
    encoded = b64.b64encode(data)
    width = int(str(opts.get("w", _WRAP))) if str(opts.get("w", _WRAP)).isdigit() else _WRAP
    if width:
        lines = [encoded[n : n + width] for n in range(0, len(encoded), width)]
        ctx.out(b"".join(line + b"\n" for line in lines))
    elif encoded:
        ctx.out(encoded + b"\n")
    return 0


async def rev(ctx: Ctx, argv: list[str]) -> int:
    """rev [FILE]...: each line's characters in reverse order."""
    _, names = parse_opts(argv, "")
    status = 0
    for operand in names or ["-"]:
        try:
            text = decode(await read_operand(ctx, operand))
        except OSError as exc:
            ctx.err(f"rev: {operand}: {exc.strerror}\n")
            status = 1
            continue
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\n")
            ctx.out(encode(body[::-1] + line[len(body) :]))
    return status


async def nl(ctx: Ctx, argv: list[str]) -> int:
    """nl [-b STYLE] [-i N] [-s SEP] [-v N] [-w N] [FILE]...: number the lines."""
    opts, names = parse_opts(argv, "p", "bisvwnlh")
    style = str(opts.get("b", "t"))
    step = to_int(str(opts.get("i", 1)))
    number = to_int(str(opts.get("v", 1)))
    sep = str(opts.get("s", "\t"))
    width = to_int(str(opts.get("w", 6)))
    status = 0
    for operand in names or ["-"]:
        try:
            text = decode(await read_operand(ctx, operand))
        except OSError as exc:
            ctx.err(f"nl: {operand}: {exc.strerror}\n")
            status = 1
            continue
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\n")
            if style == "a" or (style == "t" and body):
                ctx.out(encode(f"{number:>{width}}{sep}{line}"))
                number += step
            else:
                ctx.out(encode(" " * (width + len(sep)) + line))
    return status


async def tac(ctx: Ctx, argv: list[str]) -> int:
    """tac [FILE]...: the lines in reverse order (a last line without newline stays bare)."""
    _, names = parse_opts(argv, "")
    lines: list[bytes] = []
    status = 0
    for operand in names or ["-"]:
        try:
            lines += (await read_operand(ctx, operand)).splitlines(keepends=True)
        except OSError as exc:
            ctx.err(f"tac: {operand}: {exc.strerror}\n")
            status = 1
    ctx.out(b"".join(reversed(lines)))
    return status


APPLETS = {
    "md5sum": _summer("md5"),
    "sha1sum": _summer("sha1"),
    "sha256sum": _summer("sha256"),
    "sha512sum": _summer("sha512"),
    "base64": base64,
    "rev": rev,
    "nl": nl,
    "tac": tac,
}
