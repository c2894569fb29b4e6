"""The mini shell's grammar: text -> tokens -> a tree of commands, with no side effects.

It covers what lessons and learners type: words with ``'...'``, ``"..."`` and ``\\`` quoting;
``$VAR``, ``${VAR}``, ``${VAR:-x}``-style operators, ``$(...)``, backquotes and ``$((...))``;
``;`` ``&`` ``&&`` ``||`` ``|`` and newlines; redirections (``>``, ``>>``, ``<``, ``2>&1``,
``&>``, here-documents); ``if``/``while``/``until``/``for``, ``{ ...; }`` and ``( ... )``.
Expansion happens later (``shell_expand``), at run time, against the shell's variables.

A syntax error is :class:`ShellSyntaxError` with busybox's wording; running out of input in
the middle of a construct is :class:`Incomplete`, so an interactive shell can read one more
line and try again.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# ----- words ------------------------------------------------------------------------------


@dataclass(slots=True)
class Lit:
    """Literal text; ``quoted`` text is neither split nor globbed."""

    text: str
    quoted: bool = False


@dataclass(slots=True)
class Param:
    """``$name`` or ``${name OP arg}``; op is '' or one of ``:- - := = :+ + :? ? % %% # ##``
    or 'len' for ``${#name}``."""

    name: str
    quoted: bool = False
    op: str = ""
    arg: list | None = None  # a Word


@dataclass(slots=True)
class CmdSub:
    """``$(src)`` or backquotes: parsed and run when expanded."""

    src: str
    quoted: bool = False


@dataclass(slots=True)
class Arith:
    """``$((expr))``: the expression is itself a word (it may hold ``$x``)."""

    word: list
    quoted: bool = False


Part = Lit | Param | CmdSub | Arith
Word = list  # list[Part]

# ----- the tree ---------------------------------------------------------------------------


@dataclass(slots=True)
class Redir:
    fd: int  # the descriptor redirected (0 stdin, 1 stdout, 2 stderr)
    op: str  # '<' '>' '>>' '>|' '<>' '>&' '<&' '&>' '<<' '<<-'
    target: Word | None = None  # file name, descriptor number, or here-document body
    heredoc_quoted: bool = False  # a quoted delimiter: the body is not expanded


@dataclass(slots=True)
class Simple:
    assigns: list[tuple[str, Word]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirs: list[Redir] = field(default_factory=list)


@dataclass(slots=True)
class Pipeline:
    cmds: list
    negate: bool = False


@dataclass(slots=True)
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


@dataclass(slots=True)
class Seq:
    items: list[tuple[AndOr, bool]] = field(default_factory=list)  # (command, in background)


@dataclass(slots=True)
class If:
    arms: list[tuple[Seq, Seq]]
    orelse: Seq | None = None
    redirs: list[Redir] = field(default_factory=list)


@dataclass(slots=True)
class Loop:
    cond: Seq
    body: Seq
    until: bool = False
    redirs: list[Redir] = field(default_factory=list)


@dataclass(slots=True)
class For:
    var: str
    words: list[Word] | None
    body: Seq
    redirs: list[Redir] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    body: Seq
    subshell: bool = False
    redirs: list[Redir] = field(default_factory=list)


@dataclass(slots=True)
class Case:
    word: Word
    arms: list[tuple[list[Word], Seq]]
    redirs: list[Redir] = field(default_factory=list)


class ShellSyntaxError(Exception):
    """Printed as ``sh: syntax error: <message>``; the shell's status becomes 2."""


class Incomplete(ShellSyntaxError):
    """The text stopped in the middle of something (a quote, an ``if``, a pipe)."""


# ----- tokens -----------------------------------------------------------------------------

_OPS = ("&&", "||", ";;", ";", "|", "&", "(", ")")
_REDIR_OPS = ("<<-", "<<", ">>", "<&", ">&", "<>", ">|", "&>", "<", ">")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_IO_NUMBER = re.compile(r"\d+(?=[<>])")
_SPECIAL = "?$#@*!-"
_PARAM_OPS = (":-", ":=", ":+", ":?", "%%", "##", "-", "=", "+", "?", "%", "#")
_WORD_END = " \t\n;&|()<>"


@dataclass(slots=True)
class Token:
    kind: str  # 'word' | 'op' | 'redir' | 'newline' | 'eof'
    text: str  # source text (for messages and keywords)
    parts: Word | None = None  # a word's parts
    redir: Redir | None = None
    plain: bool = False  # a word with no quoting or expansion (could be a keyword)


def tokenize(src: str) -> list[Token]:
    """Split shell text into tokens; here-document bodies are attached to their redirections."""
    return _Lexer(src).run()


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.i = 0
        self.out: list[Token] = []
        self.heredocs: list[tuple[Redir, str]] = []  # waiting for the next newline
        self.want_delim: Redir | None = None

    def run(self) -> list[Token]:
        src = self.src
        while True:
            self._blanks()
            if self.i >= len(src):
                if self.heredocs:
                    raise Incomplete("unexpected end of file (expecting here-document end)")
                self.out.append(Token("eof", "end of file"))
                return self.out
            c = src[self.i]
            if c == "#":
                while self.i < len(src) and src[self.i] != "\n":
                    self.i += 1
            elif c == "\n":
                self.i += 1
                self.out.append(Token("newline", "newline"))
                self._heredoc_bodies()
            elif not self._operator():
                self._word_token()

    def _blanks(self) -> None:
        src = self.src
        while self.i < len(src):
            if src[self.i] in " \t":
                self.i += 1
            elif src.startswith("\\\n", self.i):
                self.i += 2
            else:
                return

    def _operator(self) -> bool:
        src, i = self.src, self.i
        fd = None
        m = _IO_NUMBER.match(src, i)
        if m:
            fd, i = int(m.group()), m.end()
        for op in _REDIR_OPS:
            if src.startswith(op, i):
                self.i = i + len(op)
                if fd is None:
                    fd = 0 if op[0] == "<" else 1
                redir = Redir(fd, op)
                self.out.append(Token("redir", op, redir=redir))
                if op.startswith("<<"):
                    self.want_delim = redir
                return True
        if fd is not None:
            return False
        for op in _OPS:
            if src.startswith(op, i):
                self.i = i + len(op)
                self.out.append(Token("op", op))
                return True
        return False

    def _word_token(self) -> None:
        start = self.i
        parts = self._word(_WORD_END)
        text = self.src[start : self.i]
        plain = all(isinstance(p, Lit) and not p.quoted for p in parts)
        self.out.append(Token("word", text, parts=parts, plain=plain))
        if self.want_delim is not None:
            redir, self.want_delim = self.want_delim, None
            redir.heredoc_quoted = not plain
            self.heredocs.append((redir, "".join(getattr(p, "text", "") for p in parts)))

    def _heredoc_bodies(self) -> None:
        for redir, delim in self.heredocs:
            lines = []
            while True:
                if self.i >= len(self.src):
                    raise Incomplete(f'unexpected end of file (expecting "{delim}")')
                end = self.src.find("\n", self.i)
                end = len(self.src) if end < 0 else end
                line = self.src[self.i : end]
                self.i = end + 1
                if redir.op == "<<-":
                    line = line.lstrip("\t")
                if line == delim:
                    break
                lines.append(line + "\n")
            body = "".join(lines)
            redir.target = [Lit(body, True)] if redir.heredoc_quoted else _dq_text(body)
        self.heredocs = []

    # ----- words --------------------------------------------------------------------------

    def _word(self, stop: str) -> Word:
        """Read one word up to an unquoted character in ``stop`` (or the end)."""
        src = self.src
        parts: Word = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                parts.append(Lit("".join(buf)))
                buf.clear()

        while self.i < len(src):
            c = src[self.i]
            if c in stop:
                break
            if c == "\\":
                nxt = src[self.i + 1 : self.i + 2]
                self.i += 2
                if nxt == "\n":
                    continue
                flush()
                parts.append(Lit(nxt or "\\", True))
            elif c == "'":
                end = src.find("'", self.i + 1)
                if end < 0:
                    raise Incomplete("unterminated quoted string")
                flush()
                parts.append(Lit(src[self.i + 1 : end], True))
                self.i = end + 1
            elif c == '"':
                flush()
                self.i += 1
                parts.extend(self._dquoted())
            elif c == "$" and (part := self._dollar(False)) is not None:
                flush()
                parts.append(part)
            elif c == "`":
                flush()
                parts.append(self._backquote(False))
            else:
                buf.append(c)
                self.i += 1
        flush()
        return parts

    def _dquoted(self) -> Word:
        """The inside of "...", from just after the opening quote to just after the closing one."""
        src = self.src
        parts: Word = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                parts.append(Lit("".join(buf), True))
                buf.clear()

        while True:
            if self.i >= len(src):
                raise Incomplete("unterminated quoted string")
            c = src[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and src[self.i + 1 : self.i + 2] in ("$", "`", '"', "\\", "\n"):
                if src[self.i + 1] != "\n":
                    buf.append(src[self.i + 1])
                self.i += 2
            elif c == "$" and (part := self._dollar(True)) is not None:
                flush()
                parts.append(part)
            elif c == "`":
                flush()
                parts.append(self._backquote(True))
            else:
                buf.append(c)
                self.i += 1
        flush()
        return parts or [Lit("", True)]

    def _dollar(self, quoted: bool) -> Part | None:
        """A ``$`` expansion starting at self.i, or None when the ``$`` is just a dollar sign."""
        src, i = self.src, self.i
        nxt = src[i + 1 : i + 2]
        if src.startswith("$((", i):
            end = _matching(src, i + 3, "((", "))")
            self.i = end + 2
            return Arith(_dq_text(src[i + 3 : end]), quoted)
        if nxt == "(":
            end = _matching(src, i + 2, "(", ")")
            self.i = end + 1
            return CmdSub(src[i + 2 : end], quoted)
        if nxt == "{":
            end = _matching(src, i + 2, "{", "}")
            self.i = end + 1
            return _braced(src[i + 2 : end], quoted)
        m = _NAME.match(src, i + 1)
        if m:
            self.i = m.end()
            return Param(m.group(), quoted)
        if nxt and (nxt.isdigit() or nxt in _SPECIAL):
            self.i = i + 2
            return Param(nxt, quoted)
        return None

    def _backquote(self, quoted: bool) -> CmdSub:
        src = self.src
        j = self.i + 1
        body: list[str] = []
        while True:
            if j >= len(src):
                raise Incomplete("unterminated quoted string")
            c = src[j]
            if c == "`":
                break
            if c == "\\" and src[j + 1 : j + 2] in ("`", "\\", "$"):
                body.append(src[j + 1])
                j += 2
            else:
                body.append(c)
                j += 1
        self.i = j + 1
        return CmdSub("".join(body), quoted)


def _matching(src: str, start: int, opener: str, closer: str) -> int:
    """Index of the ``closer`` that ends a construct whose body starts at ``start``."""
    depth, j = 0, start
    while j < len(src):
        if src.startswith(closer, j) and depth == 0:
            return j
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            end = src.find("'", j + 1)
            if end < 0:
                break
            j = end + 1
            continue
        if c == '"':
            j += 1
            while j < len(src) and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            continue
        if c == opener[0]:
            depth += 1
        elif c == closer[0] and depth > 0:
            depth -= 1
        j += 1
    raise Incomplete(f'unexpected end of file (expecting "{closer}")')


def _braced(inner: str, quoted: bool) -> Param:
    """``${...}``: a name, ``#name`` (length), or a name, an operator and a word."""
    if inner.startswith("#") and len(inner) > 1:
        name = inner[1:]
        if not _is_param_name(name):
            raise ShellSyntaxError(f"${{{inner}}}: bad substitution")
        return Param(name, quoted, "len")
    m = _NAME.match(inner)
    if m:
        name = m.group()
    elif inner[:1] and (inner[0].isdigit() or inner[0] in _SPECIAL):
        name = inner[0]
        while name.isdigit() and inner[len(name) : len(name) + 1].isdigit():
            name = inner[: len(name) + 1]
    else:
        raise ShellSyntaxError(f"${{{inner}}}: bad substitution")
    rest = inner[len(name) :]
    if not rest:
        return Param(name, quoted)
    for op in _PARAM_OPS:
        if rest.startswith(op):
            lexer = _Lexer(rest[len(op) :])
            arg = lexer._word("")
            if quoted:
                arg = [Lit(p.text, True) if isinstance(p, Lit) else p for p in arg]
            return Param(name, quoted, op, arg)
    raise ShellSyntaxError(f"${{{inner}}}: bad substitution")


def _is_param_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) or name.isdigit() or (len(name) == 1 and name in _SPECIAL)


def _dq_text(text: str) -> Word:
    """Text treated as if inside double quotes (here-documents, arithmetic)."""
    lexer = _Lexer(text + '"')
    return lexer._dquoted()


# ----- the parser -------------------------------------------------------------------------

_STOP = {"then", "elif", "else", "fi", "do", "done", "}", "esac"}
_RESERVED = _STOP | {"if", "while", "until", "for", "case", "{", "!", "in"}


@functools.lru_cache(maxsize=256)
def parse(src: str) -> Seq:
    """Parse a whole script or command line into a :class:`Seq`.

    Cached: a thousand containers running the same command share one tree (nothing
    changes a tree once it is built).
    """
    return _Parser(tokenize(src)).program()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def kw(self, tok: Token) -> str | None:
        return tok.text if tok.kind == "word" and tok.plain and tok.text in _RESERVED else None

    def is_op(self, tok: Token, *ops: str) -> bool:
        return tok.kind == "op" and tok.text in ops

    def newlines(self) -> None:
        while self.peek().kind == "newline":
            self.take()

    def unexpected(self, tok: Token, expecting: str | None = None) -> ShellSyntaxError:
        if tok.kind == "eof":
            tail = f' (expecting "{expecting}")' if expecting else ""
            return Incomplete(f"unexpected end of file{tail}")
        if tok.kind == "newline":
            return ShellSyntaxError("unexpected newline")
        return ShellSyntaxError(f'unexpected "{tok.text}"')

    def expect_kw(self, word: str) -> None:
        tok = self.take()
        if self.kw(tok) != word:
            raise self.unexpected(tok, word)

    # grammar ---------------------------------------------------------------------------

    def program(self) -> Seq:
        seq = self.seq()
        tok = self.peek()
        if tok.kind != "eof":
            raise self.unexpected(tok)
        return seq

    def seq(self, required: str | None = None) -> Seq:
        """Commands separated by ; & or newlines, up to a closing keyword, ``)`` or the end."""
        items: list[tuple[AndOr, bool]] = []
        self.newlines()
        while True:
            tok = self.peek()
            if tok.kind == "eof" or self.kw(tok) in _STOP or self.is_op(tok, ")", ";;"):
                break
            andor = self.and_or()
            sep = self.peek()
            if self.is_op(sep, ";", "&"):
                self.take()
                items.append((andor, sep.text == "&"))
            elif sep.kind == "newline":
                items.append((andor, False))
            else:
                items.append((andor, False))
                break
            self.newlines()
        if required and not items:
            raise self.unexpected(self.peek(), required)
        return Seq(items)

    def and_or(self) -> AndOr:
        node = AndOr(self.pipeline())
        while self.is_op(self.peek(), "&&", "||"):
            op = self.take().text
            self.newlines()
            node.rest.append((op, self.pipeline()))
        return node

    def pipeline(self) -> Pipeline:
        negate = False
        if self.kw(self.peek()) == "!":
            self.take()
            negate = True
        cmds = [self.command()]
        while self.is_op(self.peek(), "|"):
            self.take()
            self.newlines()
            cmds.append(self.command())
        return Pipeline(cmds, negate)

    def command(self):
        tok = self.peek()
        word = self.kw(tok)
        if word == "if":
            node = self.if_()
        elif word in ("while", "until"):
            node = self.loop()
        elif word == "for":
            node = self.for_()
        elif word == "case":
            node = self.case()
        elif word == "{":
            self.take()
            node = Group(self.seq("}"))
            self.expect_kw("}")
        elif self.is_op(tok, "("):
            self.take()
            node = Group(self.seq(")"), subshell=True)
            end = self.take()
            if not self.is_op(end, ")"):
                raise self.unexpected(end, ")")
        elif word is not None and word != "in":
            raise self.unexpected(tok)
        else:
            return self.simple()
        while self.peek().kind == "redir":
            node.redirs.append(self.redirection())
        return node

    def simple(self) -> Simple:
        node = Simple()
        while True:
            tok = self.peek()
            if tok.kind == "redir":
                node.redirs.append(self.redirection())
            elif tok.kind == "word":
                self.take()
                m = _ASSIGN.match(tok.text)
                first = tok.parts[0] if tok.parts else None
                if (
                    not node.words
                    and m
                    and isinstance(first, Lit)
                    and not first.quoted
                    and first.text.startswith(m.group())
                ):
                    rest = first.text[m.end() :]
                    value = ([Lit(rest)] if rest else []) + tok.parts[1:]
                    node.assigns.append((m.group(1), value))
                else:
                    node.words.append(tok.parts)
            else:
                break
        if not (node.words or node.assigns or node.redirs):
            raise self.unexpected(self.peek())
        return node

    def redirection(self) -> Redir:
        redir = self.take().redir
        assert redir is not None
        if redir.op.startswith("<<"):
            tok = self.take()  # the delimiter word; its body came with the newline
            if tok.kind != "word":
                raise self.unexpected(tok)
            if redir.target is None:
                raise Incomplete(f'unexpected end of file (expecting "{tok.text}")')
            return redir
        tok = self.take()
        if tok.kind != "word":
            raise (
                ShellSyntaxError("unexpected newline")
                if tok.kind == "eof"
                else (self.unexpected(tok))
            )
        redir.target = tok.parts
        return redir

    def if_(self) -> If:
        self.take()
        arms = []
        while True:
            cond = self.seq("then")
            self.expect_kw("then")
            arms.append((cond, self.seq("fi")))
            tok = self.take()
            word = self.kw(tok)
            if word == "elif":
                continue
            if word == "else":
                orelse = self.seq("fi")
                self.expect_kw("fi")
                return If(arms, orelse)
            if word == "fi":
                return If(arms)
            raise self.unexpected(tok, "fi")

    def loop(self) -> Loop:
        until = self.take().text == "until"
        cond = self.seq("do")
        self.expect_kw("do")
        body = self.seq("done")
        self.expect_kw("done")
        return Loop(cond, body, until)

    def for_(self) -> For:
        self.take()
        name = self.take()
        if name.kind != "word" or not _NAME.fullmatch(name.text):
            raise ShellSyntaxError(f"bad for loop variable {name.text!r}")
        self.newlines()
        words: list[Word] | None = None
        if self.kw(self.peek()) == "in":
            self.take()
            words = []
            while self.peek().kind == "word":
                words.append(self.take().parts)
        if self.is_op(self.peek(), ";"):
            self.take()
        self.newlines()
        self.expect_kw("do")
        body = self.seq("done")
        self.expect_kw("done")
        return For(name.text, words, body)

    def case(self) -> Case:
        self.take()
        subject = self.take()
        if subject.kind != "word":
            raise self.unexpected(subject)
        self.newlines()
        self.expect_kw("in")
        self.newlines()
        arms: list[tuple[list[Word], Seq]] = []
        while self.kw(self.peek()) != "esac":
            if self.is_op(self.peek(), "("):
                self.take()
            patterns = []
            while True:
                tok = self.take()
                if tok.kind != "word":
                    raise self.unexpected(tok, "esac")
                patterns.append(tok.parts)
                if not self.is_op(self.peek(), "|"):
                    break
                self.take()
            end = self.take()
            if not self.is_op(end, ")"):
                raise self.unexpected(end, ")")
            body = self.seq()
            arms.append((patterns, body))
            if self.is_op(self.peek(), ";;"):
                self.take()
                self.newlines()
            elif self.kw(self.peek()) != "esac":
                raise self.unexpected(self.peek(), "esac")
        self.take()
        return Case(subject.parts, arms)  # type: ignore[arg-type]
