"""awk, at busybox's level for the one-liners scripts use.

Patterns (``BEGIN``, ``END``, ``/re/``, expressions, ranges), actions with ``print``,
``printf``, assignments, ``if``/``while``/``do``/``for``/``for (k in a)``, ``next``,
``exit``, ``delete``, arrays, fields (``$0``..``$NF``), the variables ``NR``, ``NF``, ``FNR``,
``FS``, ``OFS``, ``ORS``, ``RS`` (a newline only), ``FILENAME``, and the functions
``length``, ``substr``, ``index``, ``split``, ``sub``, ``gsub``, ``match``, ``sprintf``,
``tolower``, ``toupper``, ``int``, ``sqrt``, ``exp``, ``log``, ``sin``, ``cos``, ``atan2``,
``rand``, ``srand``, ``system``. User-defined functions are not supported (a clear error).
"""

from __future__ import annotations

import math
import random
import re
from typing import Any

from labkit.engine.runtime.applets_text import file_error, posix_regex, read_operand
from labkit.engine.runtime.context import Ctx, UsageError, decode, encode

# ----- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t]+|\\\n|\#[^\n]*)
  | (?P<nl>[\n;])
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<func>[A-Za-z_][A-Za-z0-9_]*\()
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\+\+|--|\+=|-=|\*=|/=|%=|\^=|==|<=|>=|!=|&&|\|\||!~|>>|[-+*/%^!<>=~?:,(){}\[\]$|])
    """,
    re.X,
)
_KEYWORDS = {
    "BEGIN", "END", "if", "else", "while", "for", "do", "in", "print", "printf", "next",
    "exit", "delete", "getline", "function", "return", "break", "continue",
}  # fmt: skip
_BUILTINS = {
    "length", "substr", "index", "split", "sub", "gsub", "match", "sprintf", "tolower",
    "toupper", "int", "sqrt", "exp", "log", "sin", "cos", "atan2", "rand", "srand", "system",
}  # fmt: skip


class AwkError(UsageError):
    pass


def tokenize(src: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(src):
        # A regex literal where an operand is expected.
        if src[i] == "/" and _regex_allowed(out):
            j = i + 1
            text = ""
            while j < len(src) and src[j] != "/":
                if src[j] == "\\" and j + 1 < len(src):
                    text += src[j : j + 2] if src[j + 1] != "/" else "/"
                    j += 2
                    continue
                if src[j] == "\n":
                    raise AwkError("unterminated regexp")
                text += src[j]
                j += 1
            out.append(("re", text))
            i = j + 1
            continue
        m = _TOKEN.match(src, i)
        if m is None:
            raise AwkError(f"unexpected character '{src[i]}'")
        kind = m.lastgroup or ""
        text = m.group(0)
        i = m.end()
        if kind == "ws":
            continue
        if kind == "func":
            name = text[:-1]
            if name in _BUILTINS:
                out.append(("builtin", name))
                out.append(("op", "("))
                continue
            if name in _KEYWORDS:
                out.append(("kw", name))
                out.append(("op", "("))
                continue
            out.append(("call", name))
            out.append(("op", "("))
            continue
        if kind == "name":
            if text in _KEYWORDS:
                kind = "kw"
            elif text in _BUILTINS:
                kind = "builtin"
        out.append((kind, text))
    out.append(("eof", ""))
    return out


def _regex_allowed(tokens: list[tuple[str, str]]) -> bool:
    if not tokens:
        return True
    kind, text = tokens[-1]
    if kind in ("num", "str", "name", "builtin", "re"):
        return False
    return not (kind == "op" and text in (")", "]", "$", "++", "--"))


# ----- parser ------------------------------------------------------------------------------


class Parser:
    """Recursive descent over the tokens; nodes are tuples ``(kind, ...)``."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.t[min(self.i + offset, len(self.t) - 1)]

    def take(self) -> tuple[str, str]:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        k, v = self.peek()
        return k == kind and (text is None or v == text)

    def expect(self, kind: str, text: str | None = None) -> tuple[str, str]:
        if not self.at(kind, text):
            _kind, v = self.peek()
            raise AwkError(f"syntax error: unexpected {v or 'end of program'!s}")
        return self.take()

    def skip_nl(self) -> None:
        while self.at("nl"):
            self.take()

    def program(self) -> list[tuple[Any, Any]]:
        items = []
        self.skip_nl()
        while not self.at("eof"):
            if self.at("kw", "function"):
                raise AwkError("user-defined functions are not supported by the lab's awk")
            if self.at("kw", "BEGIN"):
                self.take()
                items.append(("BEGIN", self.block()))
            elif self.at("kw", "END"):
                self.take()
                items.append(("END", self.block()))
            else:
                pattern: Any = None
                if not self.at("op", "{"):
                    first = self.expr()
                    pattern = first
                    if self.at("op", ","):
                        self.take()
                        pattern = ("range", first, self.expr(), [False])
                action = self.block() if self.at("op", "{") else None
                items.append((pattern, action))
            self.skip_nl()
        return items

    def block(self) -> list[Any]:
        self.expect("op", "{")
        stmts = []
        self.skip_nl()
        while not self.at("op", "}"):
            stmts.append(self.statement())
            self.skip_nl()
        self.take()
        return stmts

    def simple_or_block(self) -> list[Any]:
        self.skip_nl()
        if self.at("op", "{"):
            return self.block()
        return [self.statement()]

    def end_statement(self) -> None:
        if self.at("nl"):
            self.take()

    def statement(self) -> Any:
        if self.at("op", "{"):
            return ("block", self.block())
        if self.at("kw", "if"):
            self.take()
            self.expect("op", "(")
            cond = self.expr()
            self.expect("op", ")")
            then = self.simple_or_block()
            save = self.i
            self.skip_nl()
            if self.at("kw", "else"):
                self.take()
                other = self.simple_or_block()
            else:
                self.i = save
                other = []
            return ("if", cond, then, other)
        if self.at("kw", "while"):
            self.take()
            self.expect("op", "(")
            cond = self.expr()
            self.expect("op", ")")
            return ("while", cond, self.simple_or_block())
        if self.at("kw", "do"):
            self.take()
            body = self.simple_or_block()
            self.skip_nl()
            self.expect("kw", "while")
            self.expect("op", "(")
            cond = self.expr()
            self.expect("op", ")")
            self.end_statement()
            return ("do", body, cond)
        if self.at("kw", "for"):
            self.take()
            self.expect("op", "(")
            if self.peek()[0] == "name" and self.peek(1) == ("kw", "in"):
                var = self.take()[1]
                self.take()
                array = self.expect("name")[1]
                self.expect("op", ")")
                return ("forin", var, array, self.simple_or_block())
            init = None if self.at("nl", ";") else self.simple_statement()
            self.expect("nl", ";")
            cond = None if self.at("nl", ";") else self.expr()
            self.expect("nl", ";")
            step = None if self.at("op", ")") else self.simple_statement()
            self.expect("op", ")")
            return ("for", init, cond, step, self.simple_or_block())
        stmt = self.simple_statement()
        self.end_statement()
        return stmt

    def simple_statement(self) -> Any:
        if self.at("kw", "print") or self.at("kw", "printf"):
            kind = self.take()[1]
            args: list[Any] = []
            if self.at("op", "(") and self._parenthesised_list():
                self.take()
                args = self.expr_list(")")
                self.expect("op", ")")
            elif not self._statement_end():
                args = self.expr_list(None, no_gt=True)
            dest = None
            if self.at("op", ">") or self.at("op", ">>") or self.at("op", "|"):
                mode = self.take()[1]
                dest = (mode, self.concat(no_gt=True))
            return (kind, args, dest)
        if self.at("kw", "next"):
            self.take()
            return ("next",)
        if self.at("kw", "exit"):
            self.take()
            code = None if self._statement_end() else self.expr()
            return ("exit", code)
        if self.at("kw", "break"):
            self.take()
            return ("break",)
        if self.at("kw", "continue"):
            self.take()
            return ("continue",)
        if self.at("kw", "delete"):
            self.take()
            name = self.expect("name")[1]
            if self.at("op", "["):
                self.take()
                key = self.expr_list("]")
                self.expect("op", "]")
                return ("delete", name, key)
            return ("delete", name, None)
        if self.at("kw", "getline"):
            raise AwkError("getline is not supported by the lab's awk")
        return ("expr", self.expr())

    def _statement_end(self) -> bool:
        return self.at("nl") or self.at("op", "}") or self.at("eof")

    def _parenthesised_list(self) -> bool:
        """``print (a, b)`` (a list in parentheses) versus ``print (a) b``."""
        depth = 0
        j = self.i
        while j < len(self.t):
            kind, text = self.t[j]
            if kind == "op" and text in "([":
                depth += 1
            elif kind == "op" and text in ")]":
                depth -= 1
                if depth == 0:
                    nxt = self.t[j + 1]
                    return nxt[0] in ("nl", "eof") or nxt[1] in ("}", ">", ">>", "|")
            j += 1
        return False

    def expr_list(self, close: str | None, no_gt: bool = False) -> list[Any]:
        out = [self.expr(no_gt)]
        while self.at("op", ","):
            self.take()
            self.skip_nl()
            out.append(self.expr(no_gt))
        return out

    # expressions, lowest precedence first
    def expr(self, no_gt: bool = False) -> Any:
        return self.ternary(no_gt)

    def ternary(self, no_gt: bool) -> Any:
        cond = self.or_(no_gt)
        if self.at("op", "?"):
            self.take()
            a = self.ternary(no_gt)
            self.expect("op", ":")
            b = self.ternary(no_gt)
            return ("?", cond, a, b)
        assigns = ("=", "+=", "-=", "*=", "/=", "%=", "^=")
        if self.at("op") and self.peek()[1] in assigns and cond[0] in ("var", "field", "index"):
            op = self.take()[1]
            return ("assign", op, cond, self.ternary(no_gt))
        return cond

    def or_(self, no_gt: bool) -> Any:
        left = self.and_(no_gt)
        while self.at("op", "||"):
            self.take()
            self.skip_nl()
            left = ("||", left, self.and_(no_gt))
        return left

    def and_(self, no_gt: bool) -> Any:
        left = self.in_(no_gt)
        while self.at("op", "&&"):
            self.take()
            self.skip_nl()
            left = ("&&", left, self.in_(no_gt))
        return left

    def in_(self, no_gt: bool) -> Any:
        left = self.match(no_gt)
        while self.at("kw", "in"):
            self.take()
            left = ("in", left, self.expect("name")[1])
        return left

    def match(self, no_gt: bool) -> Any:
        left = self.compare(no_gt)
        while self.at("op", "~") or self.at("op", "!~"):
            op = self.take()[1]
            left = (op, left, self.compare(no_gt))
        return left

    def compare(self, no_gt: bool) -> Any:
        left = self.concat(no_gt)
        ops = ("<", "<=", "==", "!=", ">=") if no_gt else ("<", "<=", "==", "!=", ">=", ">")
        if self.at("op") and self.peek()[1] in ops:
            op = self.take()[1]
            return ("cmp", op, left, self.concat(no_gt))
        return left

    def concat(self, no_gt: bool = False) -> Any:
        left = self.additive()
        while self._starts_operand():
            left = ("concat", left, self.additive())
        return left

    def _starts_operand(self) -> bool:
        kind, text = self.peek()
        if kind in ("num", "str", "name", "builtin", "re", "call"):
            return True
        return (
            kind == "op"
            and text in ("$", "!", "(", "-", "+", "++", "--")
            and text
            not in (
                "-",
                "+",
            )
        )

    def additive(self) -> Any:
        left = self.mult()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.take()[1]
            left = (op, left, self.mult())
        return left

    def mult(self) -> Any:
        left = self.unary()
        while self.at("op") and self.peek()[1] in ("*", "/", "%"):
            op = self.take()[1]
            left = (op, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.at("op", "!"):
            self.take()
            return ("!", self.unary())
        if self.at("op", "-"):
            self.take()
            return ("neg", self.unary())
        if self.at("op", "+"):
            self.take()
            return ("num", self.unary())
        return self.power()

    def power(self) -> Any:
        base = self.postfix()
        if self.at("op", "^"):
            self.take()
            return ("^", base, self.unary())
        return base

    def postfix(self) -> Any:
        if self.at("op", "++") or self.at("op", "--"):
            op = self.take()[1]
            return ("pre", op, self.postfix())
        node = self.primary()
        if node[0] in ("var", "field", "index") and (self.at("op", "++") or self.at("op", "--")):
            return ("post", self.take()[1], node)
        return node

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return ("const", float(text))
        if kind == "str":
            return ("const", _unescape(text[1:-1]))
        if kind == "re":
            return ("re", text)
        if kind == "op" and text == "$":
            return ("field", self.postfix_operand())
        if kind == "op" and text == "(":
            inner = self.expr()
            self.expect("op", ")")
            return ("group", inner)
        if kind == "builtin":
            args: list[Any] = []
            if self.at("op", "("):
                self.take()
                if not self.at("op", ")"):
                    args = self.expr_list(")")
                self.expect("op", ")")
            return ("builtin", text, args)
        if kind == "call":
            raise AwkError(f"call to undefined function {text}")
        if kind == "name":
            if self.at("op", "["):
                self.take()
                keys = self.expr_list("]")
                self.expect("op", "]")
                return ("index", text, keys)
            return ("var", text)
        raise AwkError(f"syntax error: unexpected {text or 'end of program'}")

    def postfix_operand(self) -> Any:
        if self.at("op", "++") or self.at("op", "--"):
            return self.postfix()
        if self.at("op", "-"):
            self.take()
            return ("neg", self.primary())
        return self.primary()


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            m = re.match(r"[0-7]{1,3}", text[i + 1 :])
            if m:
                out.append(chr(int(m.group(0), 8)))
                i += 1 + len(m.group(0))
                continue
            out.append(
                {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "/": "/"}.get(
                    nxt, "\\" + nxt
                )
            )
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# ----- values ------------------------------------------------------------------------------


def num(value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        return float(value)
    m = re.match(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", str(value))
    if m is None:
        m2 = re.match(r"\s*[-+]?0[xX][0-9a-fA-F]+", str(value))
        return float(int(m2.group(0), 16)) if m2 else 0.0
    return float(m.group(0))


def fmt_num(value: float, convfmt: str = "%.6g") -> str:
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return convfmt % value


class StrNum(str):
    """A string from input (a field, a split part): compared as a number if it looks like one."""


def _looks_numeric(text: str) -> bool:
    return re.fullmatch(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*", text) is not None


class _Next(Exception):
    pass


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Awk:
    def __init__(self, ctx: Ctx, program: list[Any], variables: dict[str, Any]) -> None:
        self.ctx = ctx
        self.program = program
        self.vars: dict[str, Any] = {
            "FS": " ", "OFS": " ", "ORS": "\n", "NR": 0.0, "NF": 0.0, "FNR": 0.0,
            "SUBSEP": "\x1c", "RSTART": 0.0, "RLENGTH": -1.0, "FILENAME": "",
            "CONVFMT": "%.6g", "OFMT": "%.6g", "RS": "\n",
        }  # fmt: skip
        self.vars.update(variables)
        self.arrays: dict[str, dict[str, Any]] = {}
        self.fields: list[str] = [""]
        self.outputs: dict[str, list[str]] = {}
        self.steps = 0

    # records
    def set_record(self, line: str) -> None:
        self.fields = [StrNum(line), *map(StrNum, self.split_fields(line, self.vars["FS"]))]
        self.vars["NF"] = float(len(self.fields) - 1)

    def split_fields(self, line: str, fs: Any) -> list[str]:
        fs = str(fs)
        if fs == " ":
            return line.split()
        if fs == "\t" or (len(fs) == 1 and fs not in ".[]()*+?^$|\\"):
            return line.split(fs) if line else []
        if not line:
            return []
        return re.split(posix_regex(fs, True), line)

    def get_field(self, n: int) -> str:
        if n < 0:
            raise AwkError(f"trying to access out of range field {n}")
        if n == 0:
            return self.fields[0]
        nf = int(self.vars["NF"])
        if n > nf:
            return ""
        self._sync()
        return self.fields[n] if n < len(self.fields) else ""

    def _sync(self) -> None:
        nf = int(self.vars["NF"])
        if nf != len(self.fields) - 1:
            if nf < len(self.fields) - 1:
                self.fields = self.fields[: nf + 1]
            else:
                self.fields += [""] * (nf + 1 - len(self.fields))
            self._rebuild()

    def set_field(self, n: int, value: str) -> None:
        if n == 0:
            self.set_record(value)
            return
        self._sync()
        while len(self.fields) <= n:
            self.fields.append("")
        self.fields[n] = value
        self.vars["NF"] = float(len(self.fields) - 1)
        self._rebuild()

    def _rebuild(self) -> None:
        ofs = self.to_str(self.vars["OFS"])
        self.fields[0] = ofs.join(self.fields[1:])

    # values
    def to_str(self, value: Any) -> str:
        if isinstance(value, float):
            return fmt_num(value, str(self.vars["CONVFMT"]))
        return str(value)

    def out_str(self, value: Any) -> str:
        if isinstance(value, float):
            return fmt_num(value, str(self.vars["OFMT"]))
        return str(value)

    @staticmethod
    def truth(value: Any) -> bool:
        if isinstance(value, float):
            return value != 0
        if isinstance(value, StrNum) and _looks_numeric(value):
            return num(value) != 0
        return value != ""

    # evaluation
    def lvalue_get(self, node: Any) -> Any:
        return self.eval(node)

    def lvalue_set(self, node: Any, value: Any) -> Any:
        kind = node[0]
        if kind == "var":
            name = node[1]
            if name in self.arrays:
                raise AwkError(f"can't assign to {name}; it's an array name.")
            self.vars[name] = value
            if name == "NF":
                self._sync()
        elif kind == "field":
            self.set_field(int(num(self.eval(node[1]))), self.to_str(value))
        elif kind == "index":
            self.array(node[1])[self.key(node[2])] = value
        else:
            raise AwkError("assignment to a non-variable")
        return value

    def array(self, name: str) -> dict[str, Any]:
        if name in self.vars and name not in self.arrays:
            if self.vars[name] not in ("", 0.0):
                raise AwkError(f"can't use scalar {name} as array")
            del self.vars[name]
        return self.arrays.setdefault(name, {})

    def key(self, keys: list[Any]) -> str:
        return str(self.vars["SUBSEP"]).join(self.to_str(self.eval(k)) for k in keys)

    def regex(self, node: Any) -> re.Pattern[str]:
        text = node[1] if node[0] == "re" else self.to_str(self.eval(node))
        try:
            return re.compile(posix_regex(text, True))
        except re.error as exc:
            raise AwkError(f"bad regex '{text}': {exc}") from None

    def compare(self, op: str, a: Any, b: Any) -> bool:
        numeric_a = isinstance(a, float) or (isinstance(a, StrNum) and _looks_numeric(a))
        numeric_b = isinstance(b, float) or (isinstance(b, StrNum) and _looks_numeric(b))
        if numeric_a and numeric_b:
            x, y = num(a), num(b)
        else:
            x, y = self.to_str(a), self.to_str(b)  # type: ignore[assignment]
        return {
            "<": x < y, "<=": x <= y, "==": x == y, "!=": x != y, ">=": x >= y, ">": x > y
        }[op]  # fmt: skip

    def eval(self, node: Any) -> Any:
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "var":
            name = node[1]
            if name in self.arrays:
                raise AwkError(f"can't use array {name} in scalar context")
            return self.vars.get(name, "")
        if kind == "field":
            return self.get_field(int(num(self.eval(node[1]))))
        if kind == "index":
            arr = self.array(node[1])
            return arr.setdefault(self.key(node[2]), "")
        if kind == "group":
            return self.eval(node[1])
        if kind == "re":
            return float(self.regex(node).search(self.fields[0]) is not None)
        if kind == "assign":
            op, target, value_node = node[1], node[2], node[3]
            value = self.eval(value_node)
            if op != "=":
                current = num(self.eval(target))
                value = self.arith(op[0], current, num(value))
            elif isinstance(value, StrNum):
                value = StrNum(value)
            return self.lvalue_set(target, value)
        if kind in ("pre", "post"):
            target = node[2]
            old = num(self.eval(target))
            new = old + (1 if node[1] == "++" else -1)
            self.lvalue_set(target, new)
            return new if kind == "pre" else old
        if kind == "?":
            return self.eval(node[2]) if self.truth(self.eval(node[1])) else self.eval(node[3])
        if kind == "||":
            return float(self.truth(self.eval(node[1])) or self.truth(self.eval(node[2])))
        if kind == "&&":
            return float(self.truth(self.eval(node[1])) and self.truth(self.eval(node[2])))
        if kind == "!":
            return float(not self.truth(self.eval(node[1])))
        if kind == "neg":
            return -num(self.eval(node[1]))
        if kind == "num":
            return num(self.eval(node[1]))
        if kind in ("~", "!~"):
            text = self.to_str(self.eval(node[1]))
            hit = self.regex(node[2]).search(text) is not None
            return float(hit if kind == "~" else not hit)
        if kind == "in":
            keys = node[1][1] if node[1][0] == "group" else node[1]
            key = self.to_str(self.eval(keys))
            return float(key in self.array(node[2]))
        if kind == "cmp":
            return float(self.compare(node[1], self.eval(node[2]), self.eval(node[3])))
        if kind == "concat":
            return self.to_str(self.eval(node[1])) + self.to_str(self.eval(node[2]))
        if kind in ("+", "-", "*", "/", "%", "^"):
            return self.arith(kind, num(self.eval(node[1])), num(self.eval(node[2])))
        if kind == "builtin":
            return self.builtin(node[1], node[2])
        raise AwkError(f"cannot evaluate {kind}")

    @staticmethod
    def arith(op: str, a: float, b: float) -> float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                raise AwkError("division by zero")
            return a / b
        if op == "%":
            if b == 0:
                raise AwkError("division by zero in %")
            return math.fmod(a, b)
        return a**b

    def builtin(self, name: str, args: list[Any]) -> Any:
        def arg(n: int) -> Any:
            return self.eval(args[n])

        if name == "length":
            if not args:
                return float(len(self.fields[0]))
            if args[0][0] == "var" and args[0][1] in self.arrays:
                return float(len(self.arrays[args[0][1]]))
            return float(len(self.to_str(arg(0))))
        if name == "substr":
            text = self.to_str(arg(0))
            start = num(arg(1))
            begin = round(start)
            end = len(text) + 1 if len(args) < 3 else begin + round(num(arg(2)))
            begin = max(begin, 1)
            end = min(end, len(text) + 1)
            return text[begin - 1 : end - 1] if end > begin else ""
        if name == "index":
            return float(self.to_str(arg(0)).find(self.to_str(arg(1))) + 1)
        if name == "split":
            text = self.to_str(arg(0))
            target = args[1][1]
            if len(args) > 2:
                sep = args[2]
                fs = sep[1] if sep[0] == "re" else self.to_str(self.eval(sep))
                if sep[0] == "re" and len(fs) > 1:
                    parts = re.split(posix_regex(fs, True), text) if text else []
                else:
                    parts = self.split_fields(text, fs)
            else:
                parts = self.split_fields(text, self.vars["FS"])
            arr = self.array(target)
            arr.clear()
            for n, part in enumerate(parts, start=1):
                arr[str(n)] = StrNum(part)
            return float(len(parts))
        if name in ("sub", "gsub"):
            pattern = self.regex(args[0])
            repl = self.to_str(arg(1))
            target = args[2] if len(args) > 2 else ("field", ("const", 0.0))
            text = self.to_str(self.eval(target))
            count = 0

            def replace(m: re.Match[str]) -> str:
                nonlocal count
                count += 1
                out = []
                i = 0
                while i < len(repl):
                    if repl[i] == "\\" and i + 1 < len(repl) and repl[i + 1] in "&\\":
                        out.append(repl[i + 1])
                        i += 2
                        continue
                    out.append(m.group(0) if repl[i] == "&" else repl[i])
                    i += 1
                return "".join(out)

            new = pattern.sub(replace, text, count=0 if name == "gsub" else 1)
            if count:
                self.lvalue_set(target, new)
            return float(count)
        if name == "match":
            m = self.regex(args[1]).search(self.to_str(arg(0)))
            self.vars["RSTART"] = float(m.start() + 1) if m else 0.0
            self.vars["RLENGTH"] = float(m.end() - m.start()) if m else -1.0
            return self.vars["RSTART"]
        if name == "sprintf":
            if not args:
                raise AwkError("sprintf needs a format")
            return self.format(self.to_str(arg(0)), [self.eval(a) for a in args[1:]])
        if name == "tolower":
            return self.to_str(arg(0)).lower()
        if name == "toupper":
            return self.to_str(arg(0)).upper()
        if name == "int":
            return float(math.trunc(num(arg(0))))
        if name in ("sqrt", "exp", "log", "sin", "cos"):
            value = num(arg(0))
            try:
                return float(getattr(math, name)(value))
            except ValueError:
                return math.nan
        if name == "atan2":
            return math.atan2(num(arg(0)), num(arg(1)))
        if name == "rand":
            return random.random()
        if name == "srand":
            random.seed(num(arg(0)) if args else None)
            return 0.0
        if name == "system":
            raise AwkError("system() is not supported by the lab's awk")
        raise AwkError(f"unknown function {name}")

    def format(self, fmt: str, values: list[Any]) -> str:
        out = []
        n = 0
        i = 0
        while i < len(fmt):
            ch = fmt[i]
            if ch != "%":
                out.append(ch)
                i += 1
                continue
            m = re.match(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfgGcs%])", fmt[i:])
            if m is None:
                out.append(ch)
                i += 1
                continue
            i += len(m.group(0))
            flags, width, precision, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            if width == "*":
                width = str(int(num(values[n] if n < len(values) else 0)))
                n += 1
            if precision == "*":
                precision = str(int(num(values[n] if n < len(values) else 0)))
                n += 1
            value = values[n] if n < len(values) else ""
            n += 1
            spec = "%" + flags + (width or "") + (f".{precision}" if precision is not None else "")
            if conv in "di":
                out.append((spec + "d") % math.trunc(num(value)))
            elif conv in "ouxX":
                out.append((spec + conv) % math.trunc(num(value)))
            elif conv in "eEfgG":
                out.append((spec + conv) % num(value))
            elif conv == "c":
                text = chr(int(num(value))) if isinstance(value, float) else self.to_str(value)[:1]
                out.append((spec + "s") % text)
            else:
                out.append((spec + "s") % self.to_str(value))
        return "".join(out)

    # statements
    async def run_block(self, stmts: list[Any]) -> None:
        for stmt in stmts:
            await self.execute(stmt)

    async def execute(self, stmt: Any) -> None:
        self.steps += 1
        if self.steps % 1000 == 0:
            await self.ctx.pause()
        kind = stmt[0]
        if kind == "expr":
            self.eval(stmt[1])
        elif kind in ("print", "printf"):
            args, dest = stmt[1], stmt[2]
            if kind == "print":
                values = [self.out_str(self.eval(a)) for a in args] if args else [self.fields[0]]
                text = self.to_str(self.vars["OFS"]).join(values) + self.to_str(self.vars["ORS"])
            else:
                if not args:
                    raise AwkError("printf: no format")
                text = self.format(
                    self.to_str(self.eval(args[0])), [self.eval(a) for a in args[1:]]
                )
            self.write(text, dest)
        elif kind == "block":
            await self.run_block(stmt[1])
        elif kind == "if":
            await self.run_block(stmt[2] if self.truth(self.eval(stmt[1])) else stmt[3])
        elif kind == "while":
            while self.truth(self.eval(stmt[1])):
                try:
                    await self.run_block(stmt[2])
                except _Break:
                    break
                except _Continue:
                    continue
                await self._tick()
        elif kind == "do":
            while True:
                try:
                    await self.run_block(stmt[1])
                except _Break:
                    break
                except _Continue:
                    pass
                if not self.truth(self.eval(stmt[2])):
                    break
                await self._tick()
        elif kind == "for":
            _, init, cond, step, body = stmt
            if init is not None:
                await self.execute(init)
            while cond is None or self.truth(self.eval(cond)):
                try:
                    await self.run_block(body)
                except _Break:
                    break
                except _Continue:
                    pass
                if step is not None:
                    await self.execute(step)
                await self._tick()
        elif kind == "forin":
            _, var, array, body = stmt
            for key in list(self.array(array)):
                self.vars[var] = StrNum(key)
                try:
                    await self.run_block(body)
                except _Break:
                    break
                except _Continue:
                    continue
        elif kind == "next":
            raise _Next
        elif kind == "exit":
            raise _Exit(int(num(self.eval(stmt[1]))) if stmt[1] is not None else 0)
        elif kind == "break":
            raise _Break
        elif kind == "continue":
            raise _Continue
        elif kind == "delete":
            arr = self.array(stmt[1])
            if stmt[2] is None:
                arr.clear()
            else:
                arr.pop(self.key(stmt[2]), None)
        else:
            raise AwkError(f"cannot run {kind}")

    async def _tick(self) -> None:
        self.steps += 1
        if self.steps % 1000 == 0:
            await self.ctx.pause()

    def write(self, text: str, dest: Any) -> None:
        if dest is None:
            self.ctx.out(encode(text))
            return
        mode, target = dest
        name = self.to_str(self.eval(target))
        if mode == "|":
            raise AwkError("output to a command (|) is not supported by the lab's awk")
        if name in ("/dev/stdout", "-"):
            self.ctx.out(encode(text))
        elif name == "/dev/stderr":
            self.ctx.err(encode(text))
        else:
            first = name not in self.outputs
            self.outputs.setdefault(name, [])
            path = self.ctx.path(name)
            self.ctx.fs.write(path, encode(text), append=not (first and mode == ">"))

    def matches(self, pattern: Any) -> bool:
        if pattern is None:
            return True
        if pattern[0] == "range":
            state = pattern[3]
            if state[0]:
                if self.truth(self.eval(pattern[2])):
                    state[0] = False
                return True
            if self.truth(self.eval(pattern[1])):
                state[0] = not self.truth(self.eval(pattern[2]))
                return True
            return False
        return self.truth(self.eval(pattern))


def _assignment(text: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", text, re.S)
    return (m.group(1), _unescape(m.group(2))) if m else None


async def awk(ctx: Ctx, argv: list[str]) -> int:
    """awk [-F SEP] [-v VAR=VALUE]... [-f FILE | 'PROGRAM'] [FILE]..."""
    variables: dict[str, Any] = {}
    source: str | None = None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("-F"):
            value = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            i += 1 if arg[2:] else 2
            variables["FS"] = "\t" if value == "t" else _unescape(value)
            continue
        if arg.startswith("-v"):
            value = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            i += 1 if arg[2:] else 2
            pair = _assignment(value)
            if pair is None:
                raise UsageError(f"unexpected argument to -v: '{value}'")
            variables[pair[0]] = StrNum(pair[1])
            continue
        if arg.startswith("-f"):
            name = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            i += 1 if arg[2:] else 2
            source = (source or "") + decode(ctx.fs.read(ctx.path(name))) + "\n"
            continue
        if arg.startswith("-") and len(arg) > 1:
            raise UsageError(f"invalid option -- '{arg[1]}'")
        break
    if source is None:
        if i >= len(argv):
            raise UsageError("usage: awk [OPTIONS] [AWK_PROGRAM] [FILE]...")
        source = argv[i]
        i += 1
    operands = argv[i:]
    try:
        program = Parser(tokenize(source)).program()
    except AwkError as exc:
        raise UsageError(f"cmd. line:1: {exc}", 2) from None
    machine = Awk(ctx, program, variables)
    begins = [a for p, a in program if p == "BEGIN"]
    ends = [a for p, a in program if p == "END"]
    mains = [(p, a) for p, a in program if p not in ("BEGIN", "END")]
    status = 0
    exit_code: int | None = None
    try:
        try:
            for action in begins:
                await machine.run_block(action)
            if mains or ends:
                files = [op for op in operands if _assignment(op) is None] or ["-"]
                for op in operands or ["-"]:
                    pair = _assignment(op)
                    if pair is not None:
                        machine.vars[pair[0]] = StrNum(pair[1])
                        continue
                    if op not in files:
                        continue
                    try:
                        data = decode(await read_operand(ctx, op))
                    except OSError as exc:
                        file_error(ctx, "awk", op, exc)
                        status = 2
                        continue
                    machine.vars["FILENAME"] = "" if op == "-" else op
                    machine.vars["FNR"] = 0.0
                    for line in data.splitlines():
                        machine.vars["NR"] = num(machine.vars["NR"]) + 1
                        machine.vars["FNR"] = num(machine.vars["FNR"]) + 1
                        machine.set_record(line)
                        try:
                            for pattern, action in mains:
                                if machine.matches(pattern):
                                    if action is None:
                                        machine.write(
                                            machine.fields[0] + machine.to_str(machine.vars["ORS"]),
                                            None,
                                        )
                                    else:
                                        await machine.run_block(action)
                        except _Next:
                            pass
                        await machine._tick()
        except _Exit as stop:
            exit_code = stop.code
        try:
            for action in ends:
                await machine.run_block(action)
        except _Exit as stop:
            exit_code = stop.code
    except (_Next, _Break, _Continue):
        raise UsageError("next, break or continue used outside its place", 2) from None
    except AwkError as exc:
        raise UsageError(f"cmd. line:1: {exc}", 2) from None
    return exit_code if exit_code is not None else status


APPLETS = {"awk": awk}
