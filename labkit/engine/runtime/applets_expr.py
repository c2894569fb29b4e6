"""``expr``: the arithmetic, comparison and string expressions older scripts compute with.

Busybox's grammar, results and exit statuses: 0 when the result is neither empty nor 0,
1 when it is, 2 for a bad expression (``syntax error``, ``non-numeric argument``...).
"""

from __future__ import annotations

import re

from labkit.engine.runtime.applets_text import posix_regex
from labkit.engine.runtime.context import Ctx, UsageError

Value = int | str


def _int(value: Value) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if re.fullmatch(r"\s*[-+]?\d+", value) else None


def _number(value: Value) -> int:
    number = _int(value)
    if number is None:
        raise UsageError("non-numeric argument", 2)
    return number


def _null(value: Value) -> bool:
    return value == "" or _int(value) == 0


class _Expr:
    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.pos = 0

    def peek(self) -> str | None:
        return self.args[self.pos] if self.pos < len(self.args) else None

    def take(self) -> str:
        if self.pos >= len(self.args):
            raise UsageError("syntax error", 2)
        self.pos += 1
        return self.args[self.pos - 1]

    def either(self) -> Value:
        left = self.both()
        while self.peek() == "|":
            self.take()
            right = self.both()
            left = right if _null(left) and not _null(right) else (left if not _null(left) else 0)
        return left

    def both(self) -> Value:
        left = self.compare()
        while self.peek() == "&":
            self.take()
            right = self.compare()
            left = 0 if _null(left) or _null(right) else left
        return left

    def compare(self) -> Value:
        left = self.sum()
        while (op := self.peek()) in ("<", "<=", "=", "==", "!=", ">=", ">"):
            self.take()
            right = self.sum()
            a, b = _int(left), _int(right)
            x: Value
            y: Value
            x, y = (a, b) if a is not None and b is not None else (str(left), str(right))
            result = {
                "<": x < y,  # type: ignore[operator]
                "<=": x <= y,  # type: ignore[operator]
                "=": x == y,
                "==": x == y,
                "!=": x != y,
                ">=": x >= y,  # type: ignore[operator]
                ">": x > y,  # type: ignore[operator]
            }[op]
            left = int(result)
        return left

    def sum(self) -> Value:
        left = self.product()
        while (op := self.peek()) in ("+", "-"):
            self.take()
            right = self.product()
            a, b = _number(left), _number(right)
            left = a + b if op == "+" else a - b
        return left

    def product(self) -> Value:
        left = self.match()
        while (op := self.peek()) in ("*", "/", "%"):
            self.take()
            right = self.match()
            a, b = _number(left), _number(right)
            if op == "*":
                left = a * b
                continue
            if b == 0:
                raise UsageError("division by zero", 2)
            quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            left = quotient if op == "/" else a - b * quotient
        return left

    def match(self) -> Value:
        left = self.primary()
        while self.peek() == ":":
            self.take()
            left = _regex(str(left), str(self.primary()))
        return left

    def primary(self) -> Value:
        word = self.take()
        if word == "(":
            value = self.either()
            if self.take() != ")":
                raise UsageError("syntax error", 2)
            return value
        if word == "+":
            return self.take()
        if word == "length":
            return len(str(self.primary()))
        if word == "match":
            string = str(self.primary())
            return _regex(string, str(self.primary()))
        if word == "index":
            string, chars = str(self.primary()), str(self.primary())
            spots = [string.find(c) for c in chars if c in string]
            return min(spots) + 1 if spots else 0
        if word == "substr":
            string = str(self.primary())
            start, length = _number(self.primary()), _number(self.primary())
            if start < 1 or length < 1:
                return ""
            return string[start - 1 : start - 1 + length]
        if word == ")":
            raise UsageError("syntax error", 2)
        return word


def _regex(string: str, pattern: str) -> Value:
    try:
        found = re.match(posix_regex(pattern, extended=False), string)
    except re.error:
        raise UsageError(f"bad regex '{pattern}'", 2) from None
    if found is None:
        return "" if "\\(" in pattern else 0
    if found.re.groups:
        return found.group(1) if found.group(1) is not None else found.end()
    return found.end()


async def expr(ctx: Ctx, argv: list[str]) -> int:
    """expr EXPRESSION: print the expression's value."""
    args = argv[1:]
    if not args:
        raise UsageError("too few arguments", 2)
    parser = _Expr(args)
    value = parser.either()
    if parser.peek() is not None:
        raise UsageError("syntax error", 2)
    ctx.out(f"{value}\n")
    return 1 if _null(value) else 0


APPLETS = {"expr": expr}
