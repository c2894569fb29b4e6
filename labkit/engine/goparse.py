"""Request input read as dockerd reads it: Go's ``strconv`` numbers, its timestamps, and JSON.

dockerd parses query numbers with ``strconv.Atoi``/``ParseInt``/``ParseUint`` and
JSON bodies with ``encoding/json``; its answers to bad input are those packages'
messages (``strconv.Atoi: parsing "1e20": invalid syntax``). The lab engine gives the
same messages, so that a learner who compares the two engines sees the same words, and
refuses with a 400 what dockerd 28 (API 1.51) sometimes answers with a 500 (moby has
since made most of them 400s). Python's own parsers are more lenient (``int`` takes
``1_000``, spaces and other scripts' digits; ``json`` takes ``NaN`` and nests until
the interpreter's recursion limit): nothing here relies on them.
"""

from __future__ import annotations

import json
import re
from typing import Any

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
NS = 1_000_000_000
# JSON nested deeper than this is refused (Go's decoder allows 10000; no Engine API body
# goes past 6, and Python's decoder and encoder recurse).
MAX_JSON_DEPTH = 100

_DIGITS = re.compile(r"[0-9]+")


class NumError(ValueError):
    """A number Go's strconv refuses; ``str()`` is its message."""

    def __init__(self, func: str, text: str, reason: str) -> None:
        super().__init__(f"strconv.{func}: parsing {quote(text)}: {reason}")
        self.func = func
        self.text = text
        self.reason = reason  # "invalid syntax" or "value out of range"


def quote(text: str) -> str:
    """``strconv.Quote``: double quotes, with Go's escapes for what is not printable."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def parse_int(text: str, bits: int = 64, func: str = "ParseInt") -> int:
    """``strconv.ParseInt(text, 10, bits)``: an optional sign and ASCII digits, in range."""
    sign, digits = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    if not _DIGITS.fullmatch(digits):
        raise NumError(func, text, "invalid syntax")
    if len(digits) > 25:  # far out of range; spares int() a long string
        raise NumError(func, text, "value out of range")
    value = -int(digits) if sign == "-" else int(digits)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise NumError(func, text, "value out of range")
    return value


def atoi(text: str) -> int:
    """``strconv.Atoi``: ParseInt on a 64-bit machine, under its own name."""
    return parse_int(text, 64, "Atoi")


def parse_uint(text: str, bits: int = 64, func: str = "ParseUint") -> int:
    """``strconv.ParseUint(text, 10, bits)``: ASCII digits only (no sign), in range."""
    if not _DIGITS.fullmatch(text):
        raise NumError(func, text, "invalid syntax")
    if len(text) > 25 or int(text) >= 1 << bits:
        raise NumError(func, text, "value out of range")
    return int(text)


def timestamp_ns(text: str) -> int:
    """dockerd's ``since``/``until``: ``seconds[.nanoseconds]`` (``ParseTimestamps``), as
    nanoseconds; NumError with strconv's message for anything else."""
    seconds, dot, frac = text.partition(".")
    whole = parse_int(seconds)
    if not dot:
        return whole * NS
    nanos = parse_int(frac)
    # as Go does it: float64(nsec) * 10^(9-len(n)), truncated
    return whole * NS + int(float(nanos) * 10.0 ** (9 - len(frac)))


# --------------------------------------------------------------------------- JSON
class JSONInputError(ValueError):
    """A request body (or filter) that is not JSON the engine accepts; says why."""

    too_deep = False


class TooDeep(JSONInputError):
    too_deep = True


class GoNumber(float):
    """A JSON number with a fraction or exponent, keeping its text for error messages
    (Go's ``cannot unmarshal number 1e20 into ...``)."""

    literal: str

    def __new__(cls, literal: str) -> GoNumber:
        value = super().__new__(cls, literal)
        value.literal = literal
        return value


def _refuse_constant(name: str) -> Any:
    raise JSONInputError(f"invalid character {name[0]!r} looking for beginning of value")


def number_text(value: Any) -> str:
    """A JSON number as it was written (Go quotes it so in type errors)."""
    return getattr(value, "literal", None) or str(value)


def loads(data: bytes | str) -> Any:
    """JSON as a request may carry it: no ``NaN``/``Infinity`` (not JSON), nothing nested
    more than MAX_JSON_DEPTH deep. JSONInputError says what is wrong."""
    try:
        value = json.loads(data, parse_float=GoNumber, parse_constant=_refuse_constant)
    except RecursionError:
        raise TooDeep(_too_deep()) from None
    except JSONInputError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONInputError(str(exc)) from None
    if isinstance(value, (dict, list)):
        brackets = data.count(b"[" if isinstance(data, bytes) else "[") + data.count(
            b"{" if isinstance(data, bytes) else "{"
        )
        if brackets > MAX_JSON_DEPTH and depth(value) > MAX_JSON_DEPTH:
            raise TooDeep(_too_deep())
    return value


def _too_deep() -> str:
    return (
        f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep, which no Engine API "
        "request needs"
    )


def depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest
