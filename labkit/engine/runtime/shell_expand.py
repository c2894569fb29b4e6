"""Turning parsed words into argument strings, the way a POSIX shell does it.

Order: tilde, parameters (``$x``, ``${x:-d}``, ``$@``...), command substitution ``$(...)``,
arithmetic ``$((...))``; then the unquoted results are split into fields on ``$IFS`` and
globbed (``*``, ``?``, ``[...]``) against the container's filesystem; quotes are removed last.
Quoted text is never split or globbed, which is why ``"$x"`` and ``$x`` differ.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
from typing import Any, Protocol

from labkit.engine.runtime.shell_parse import Arith, CmdSub, Lit, Param, Word
from labkit.engine.runtime.vfs import VFS

_GLOB_CHARS = re.compile(r"[*?\[]")
_IFS_DEFAULT = " \t\n"
# What one more word costs beyond its characters (a Python str and its list slot), for
# checking that splitting a long value into words fits the container's memory.
_WORD_OVERHEAD = 64
# Pattern trims (${x%pat}) try one cut at a time; they let the engine breathe this often.
_TRIM_STEP = 512
_INT64 = 1 << 64


class ExpansionError(Exception):
    """An expansion that cannot go on (``${x:?}``, bad arithmetic); ``sh: message``, status 2."""


class Expander(Protocol):
    """What expansion needs from the shell."""

    fs: VFS
    cwd: str

    def get_var(self, name: str) -> str | None: ...

    def set_var(self, name: str, value: str) -> None: ...

    def positional(self) -> list[str]: ...

    async def command_output(self, src: str) -> str: ...


def _reserve(sh: Any, size: int) -> None:
    """Check that a new string of ``size`` characters fits the container's memory
    (OutOfMemory if not), before it is built."""
    memory = getattr(sh, "memory", None)
    if memory is not None and size > 4096:
        memory.check(size)


def _field_size(field: Field) -> int:
    return sum(len(text) for text, _ in field)


async def expand_words(words: list[Word], sh: Expander) -> list[str]:
    """Words to arguments: expand, split, glob, unquote."""
    out: list[str] = []
    for word in words:
        for field in await _fields(word, sh):
            out.extend(_glob_field(field, sh))
    return out


async def expand_word(word: Word, sh: Expander) -> str:
    """One word to one string with no splitting or globbing (assignments, redirection targets)."""
    pieces = []
    for field in await _fields(word, sh, split=False):
        _reserve(sh, _field_size(field))
        pieces.append("".join(text for text, _ in field))
    if len(pieces) > 1:
        _reserve(sh, sum(len(p) for p in pieces))
    return " ".join(pieces)


# ----- fields -----------------------------------------------------------------------------

Field = list  # list[tuple[str, bool]]: (text, quoted) segments


class _Fields:
    """Builds the fields of one word as expansions add quoted and unquoted text."""

    def __init__(self, sh: Any = None) -> None:
        self.sh = sh
        self.done: list[Field] = []
        self.cur: Field = []
        self.live = False  # the current field exists (has text or a quoted empty string)
        self.cut = False  # the next text starts a new field

    def add(self, text: str, quoted: bool) -> None:
        if self.cut:
            self.end()
            self.cut = False
        self.cur.append((text, quoted))
        if quoted or text:
            self.live = True

    def end(self) -> None:
        if self.live:
            self.done.append(self.cur)
        self.cur, self.live = [], False

    def add_split(self, value: str, ifs: str) -> None:
        """Unquoted expansion text: split on IFS (a run of IFS whitespace is one separator)."""
        if not value:
            return
        if not ifs:
            self.add(value, False)
            return
        if len(value) > 4096:  # many words from one long value: check they fit first
            _reserve(self.sh, len(value) + _WORD_OVERHEAD * sum(value.count(c) for c in set(ifs)))
        white = "".join(c for c in ifs if c in _IFS_DEFAULT)
        if white == ifs:
            pieces = [p for p in re.split(f"[{re.escape(ifs)}]+", value) if p]
        else:
            pieces = re.split(f"[{re.escape(ifs)}]", value.strip(white))
            if pieces and not pieces[-1]:
                pieces.pop()
        if value[0] in ifs:
            self.cut = True
        for n, piece in enumerate(pieces):
            if n:
                self.cut = True
            self.add(piece, not piece)  # an empty piece between two separators is a field
        if value[-1] in ifs:
            self.cut = True

    def result(self) -> list[Field]:
        self.end()
        return self.done


async def _fields(word: Word, sh: Expander, split: bool = True) -> list[Field]:
    f = _Fields(sh)
    ifs = sh.get_var("IFS")
    ifs = _IFS_DEFAULT if ifs is None else ifs
    for n, part in enumerate(word):
        if isinstance(part, Lit):
            text = part.text
            if n == 0 and not part.quoted and (text == "~" or text.startswith("~/")):
                f.add(sh.get_var("HOME") or "/", True)
                f.add(text[1:], False)
            else:
                f.add(text, part.quoted)
            continue
        if isinstance(part, Param) and part.name in ("@", "*") and not part.op:
            _add_positional(f, part, sh, ifs, split)
            continue
        value = await _value(part, sh)
        if part.quoted or not split:
            f.add(value, True)
        else:
            f.add_split(value, ifs)
    return f.result()


def _add_positional(f: _Fields, part: Param, sh: Expander, ifs: str, split: bool) -> None:
    args = sh.positional()
    if (part.quoted and part.name == "*") or not split:
        _reserve(sh, sum(len(a) + 1 for a in args))
        f.add((ifs[:1] if part.name == "*" else " ").join(args), True)
    elif part.quoted:  # "$@": one field per argument
        for n, arg in enumerate(args):
            if n:
                f.cut = True
            f.add(arg, True)
    else:
        for n, arg in enumerate(args):
            if n:
                f.cut = True
            f.add_split(arg, ifs)


async def _value(part, sh: Expander) -> str:
    if isinstance(part, Param):
        return await _param(part, sh)
    if isinstance(part, CmdSub):
        return (await sh.command_output(part.src)).rstrip("\n")
    if isinstance(part, Arith):
        return str(arith(await expand_word(part.word, sh), sh))
    raise TypeError(f"not a word part: {part!r}")


async def _param(p: Param, sh: Expander) -> str:
    value = sh.get_var(p.name)
    op = p.op
    if op == "":
        return value or ""
    if op == "len":
        return str(len(value or ""))
    unset = value is None or (op.startswith(":") and value == "")
    if op in (":-", "-"):
        return await expand_word(p.arg, sh) if unset else value  # type: ignore[arg-type, return-value]
    if op in (":=", "="):
        if unset:
            value = await expand_word(p.arg, sh)  # type: ignore[arg-type]
            sh.set_var(p.name, value)
        return value  # type: ignore[return-value]
    if op in (":+", "+"):
        return "" if unset else await expand_word(p.arg, sh)  # type: ignore[arg-type]
    if op in (":?", "?"):
        if unset:
            message = await expand_word(p.arg, sh) if p.arg else "parameter not set"  # type: ignore[arg-type]
            raise ExpansionError(f"{p.name}: {message}")
        return value  # type: ignore[return-value]
    return await _trim(value or "", await expand_word_pattern(p.arg or [], sh), op, sh)


async def expand_word_pattern(word: Word, sh: Expander) -> str:
    """A word used as a pattern: expanded, with quoted text matched literally."""
    out = []
    for field in await _fields(word, sh, split=False):
        _reserve(sh, _field_size(field))
        for text, quoted in field:
            out.append(_escape_glob(text) if quoted else text)
    return "".join(out)


async def _trim(value: str, pattern: str, op: str, sh: Any = None) -> str:
    """``${x%pat}`` ``${x%%pat}`` ``${x#pat}`` ``${x##pat}``: drop the shortest/longest match.

    One cut is tried at a time, so a long value takes long; the loop lets the engine serve
    others (and a ``docker kill`` land) as it goes, as a slow real process would.
    """
    rx = re.compile(fnmatch.translate(pattern))
    cuts = range(len(value) + 1)
    prefix = op in ("#", "##")
    if prefix:
        order = cuts if op == "#" else reversed(cuts)
    else:
        order = reversed(cuts) if op == "%" else cuts
    for step, n in enumerate(order):
        if step % _TRIM_STEP == _TRIM_STEP - 1:
            await _breathe(sh)
        if prefix and rx.match(value, 0, n):
            return value[n:]
        if not prefix and rx.match(value, n):
            return value[:n]
    return value


async def _breathe(sh: Any) -> None:
    """A scheduling point inside a long expansion (the shell's own when it has one)."""
    checkpoint = getattr(sh, "checkpoint", None)
    if checkpoint is not None:
        await checkpoint()
    else:
        await asyncio.sleep(0)


# ----- globbing ---------------------------------------------------------------------------


def _escape_glob(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _glob_field(field: Field, sh: Expander) -> list[str]:
    _reserve(sh, _field_size(field))
    plain = "".join(text for text, _ in field)
    if not any(not quoted and _GLOB_CHARS.search(text) for text, quoted in field):
        return [plain]
    pattern = "".join(text if not quoted else _escape_glob(text) for text, quoted in field)
    return glob(sh.fs, pattern, sh.cwd) or [plain]


def glob(fs: VFS, pattern: str, cwd: str = "/") -> list[str]:
    """Paths matching a shell pattern, sorted; relative patterns give relative paths."""
    absolute = pattern.startswith("/")
    parts = [p for p in pattern.split("/") if p]
    found = [""]
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        nxt = []
        for base in found:
            where = _abs(base, cwd, absolute)
            if not _GLOB_CHARS.search(part):
                candidate = _child(base, part)
                target = _abs(candidate, cwd, absolute)
                if _lexists(fs, target) if last else fs.is_dir(target):
                    nxt.append(candidate)
                continue
            try:
                names = fs.listdir(where)
            except OSError:
                continue
            for name in names:
                if name.startswith(".") and not part.startswith("."):
                    continue
                if fnmatch.fnmatchcase(name, part):
                    candidate = _child(base, name)
                    if last or fs.is_dir(_abs(candidate, cwd, absolute)):
                        nxt.append(candidate)
        found = nxt
        if not found:
            return []
    if absolute:
        found = ["/" + p for p in found]
    if pattern.endswith("/"):
        found = [p + "/" for p in found]
    return sorted(found)


def _child(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _abs(rel: str, cwd: str, absolute: bool) -> str:
    if absolute:
        return "/" + rel
    return (cwd.rstrip("/") + "/" + rel) if rel else cwd


def _lexists(fs: VFS, path: str) -> bool:
    try:
        fs.stat(path)
    except OSError:
        return False
    return True


# ----- arithmetic -------------------------------------------------------------------------

_ARITH_TOKEN = re.compile(
    r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_][A-Za-z0-9_]*)|"
    r"(\*\*|\|\||&&|==|!=|<=|>=|<<|>>|[-+*/%()<>!~^&|?:]))"
)
_BINARY = {
    "||": 1,
    "&&": 2,
    "|": 3,
    "^": 4,
    "&": 5,
    "==": 6,
    "!=": 6,
    "<": 7,
    ">": 7,
    "<=": 7,
    ">=": 7,
    "<<": 8,
    ">>": 8,
    "+": 9,
    "-": 9,
    "*": 10,
    "/": 10,
    "%": 10,
    "**": 11,
}


def arith(text: str, sh: Expander) -> int:
    """Evaluate ``$((...))`` integer arithmetic (C operators, variables read as numbers)."""
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARITH_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpansionError(f"arithmetic syntax error: {text!r}")
        pos = m.end()
        number, name, op = m.groups()
        if number is not None:
            tokens.append(("n", _number(number)))
        elif name is not None:
            tokens.append(("n", _var_number(name, sh)))
        else:
            tokens.append(("op", op))
    if not tokens:
        return 0
    value, rest = _arith_expr(tokens, 0, 0)
    if rest != len(tokens):
        raise ExpansionError(f"arithmetic syntax error: {text!r}")
    return value


def _number(text: str) -> int:
    """A C-style integer literal: 0x1f hexadecimal, 017 octal, else decimal."""
    try:
        return _wrap(int(text, 8) if re.fullmatch(r"0\d+", text) else int(text, 0))
    except ValueError:
        raise ExpansionError(f"arithmetic syntax error: bad number {text!r}") from None


def _var_number(name: str, sh: Expander) -> int:
    raw = (sh.get_var(name) or "0").strip() or "0"
    try:
        return _wrap(int(raw, 0))
    except ValueError:
        raise ExpansionError(f"arithmetic syntax error: {name}={raw[:40]!r}") from None


def _arith_expr(tokens: list, i: int, min_prec: int) -> tuple[int, int]:
    left, i = _arith_unary(tokens, i)
    while i < len(tokens):
        kind, op = tokens[i]
        if kind != "op":
            raise ExpansionError("arithmetic syntax error")
        if op == "?" and min_prec == 0:
            yes, i = _arith_expr(tokens, i + 1, 0)
            if i >= len(tokens) or tokens[i] != ("op", ":"):
                raise ExpansionError("arithmetic syntax error: expecting ':'")
            no, i = _arith_expr(tokens, i + 1, 0)
            left = yes if left else no
            continue
        prec = _BINARY.get(op)
        if prec is None or prec <= min_prec:
            break
        # ** groups to the right (2**3**2 is 2**9); the others to the left
        right, i = _arith_expr(tokens, i + 1, prec - 1 if op == "**" else prec)
        left = _apply(op, left, right)
    return left, i


def _arith_unary(tokens: list, i: int) -> tuple[int, int]:
    if i >= len(tokens):
        raise ExpansionError("arithmetic syntax error")
    kind, val = tokens[i]
    if kind == "n":
        return val, i + 1
    if val == "(":
        value, i = _arith_expr(tokens, i + 1, 0)
        if i >= len(tokens) or tokens[i] != ("op", ")"):
            raise ExpansionError("arithmetic syntax error: missing ')'")
        return value, i + 1
    if val in ("-", "+", "!", "~"):
        value, i = _arith_unary(tokens, i + 1)
        return _wrap({"-": -value, "+": value, "!": int(not value), "~": ~value}[val]), i
    raise ExpansionError(f"arithmetic syntax error near {val!r}")


def _wrap(value: int) -> int:
    """Wrap to a signed 64-bit integer, as ash's arithmetic (C's intmax_t) does."""
    value &= _INT64 - 1
    return value - _INT64 if value >= _INT64 >> 1 else value


def _apply(op: str, a: int, b: int) -> int:
    return _wrap(_apply_unwrapped(op, a, b))


def _apply_unwrapped(op: str, a: int, b: int) -> int:
    if op == "**":
        if b < 0:
            raise ExpansionError("exponent less than 0")
        return pow(a, b, _INT64)
    if op in ("<<", ">>"):
        b &= 63  # as the CPU does: a shift count is taken modulo the width
    if op in ("/", "%"):
        if b == 0:
            raise ExpansionError("divide by zero")
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # C truncates toward zero
        return q if op == "/" else a - q * b
    return {
        "||": lambda: int(bool(a or b)),
        "&&": lambda: int(bool(a and b)),
        "|": lambda: a | b,
        "^": lambda: a ^ b,
        "&": lambda: a & b,
        "==": lambda: int(a == b),
        "!=": lambda: int(a != b),
        "<": lambda: int(a < b),
        ">": lambda: int(a > b),
        "<=": lambda: int(a <= b),
        ">=": lambda: int(a >= b),
        "<<": lambda: a << b,
        ">>": lambda: a >> b,
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
    }[op]()
