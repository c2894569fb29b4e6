"""Exercises for lesson 01, sockets and IPC: socket files, a server, a client, framing, permissions.

None of these checks needs an engine: each one makes its own sockets (fresh private
folders, random data) and plays the other side of the conversation itself, as a client
for the learner's servers and as a server for the learner's clients. TCP is used on
127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labkit.exercises.context import CheckContext, expect, expect_type
from labkit.exercises.tap import RequestSeen, _Listener, fresh_socket_path, send_piece
from labkit.exercises.tasks import Lesson, task
from labkit.exercises.verdict import NotYet

LESSON = Lesson("01", "Sockets and IPC", "01-sockets-and-ipc.ipynb", 20)

LINE_GRACE = 1.5  # seconds a line server waits for the rest of a started line


def _unix_listener(path: Path, timeout: float) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    server.settimeout(timeout)
    return server


def _close(sock: Any) -> None:
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.close()


def _read_to_end(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything ``sock`` receives, and whether the other side closed (False: it went quiet)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            return data, False
        except OSError:
            return data, True
        if not piece:
            return data, True
        data += piece


def _text(value: Any) -> Any:
    """A reply line as text: bytes decoded, its newline (if returned) taken off."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str) and value.endswith("\n"):
        value = value[:-1]
    return value


# -- 01.1 ------------------------------------------------------------------------------

KINDS = ("socket", "file", "folder", "symlink", "missing")
_SAME_KIND = {"directory": "folder", "dir": "folder", "regular file": "file", "link": "symlink"}


@task(
    "01.1",
    "What kind of file is it?",
    answer="file_kind",
    hints=(
        "Ask the file system, not the name: os.lstat(path).st_mode holds the file's type, and "
        "the stat module reads it (stat.S_ISSOCK, S_ISREG, S_ISDIR, S_ISLNK).",
        "Use os.lstat(), not os.stat(): lstat looks at a symlink itself, stat follows it to what "
        "it points at. When nothing is at the path, lstat raises FileNotFoundError: catch it.",
        "try: mode = os.lstat(path).st_mode / except FileNotFoundError: return 'missing'; then "
        "test S_ISLNK first, then S_ISSOCK, S_ISDIR and S_ISREG.",
    ),
    mistakes={
        "follows-symlink": (
            "os.stat() and Path.is_socket() follow a symlink to the file it points at; "
            "os.lstat() (or Path.is_symlink(), asked first) looks at the link itself"
        ),
        "guessed-from-name": (
            "a file's name says nothing about its type: anyone can call a plain file x.sock. "
            "Ask the file system: os.lstat(path).st_mode and the stat module"
        ),
        "missing-not-handled": (
            "os.lstat() raises FileNotFoundError when nothing is at the path: catch it and "
            "return 'missing'"
        ),
    },
)
def check_file_kind(ctx: CheckContext, file_kind: Any) -> str:
    folder = ctx.temp_dir()
    listening = folder / ctx.token(6)  # a socket whose name does not say so
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctx.later(server.close)
    server.bind(str(listening))
    server.listen(1)
    stale = folder / f"{ctx.token(6)}.sock"  # a socket file nobody listens behind any more
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(stale))
    plain = folder / f"{ctx.token(6)}.sock"  # a regular file that only looks like a socket
    plain.write_text(ctx.token(20))
    sub = folder / ctx.token(6)
    sub.mkdir()
    link = folder / f"{ctx.token(6)}.sock"
    link.symlink_to(listening)
    missing = folder / f"{ctx.token(6)}.sock"
    cases = [
        (listening, "socket", "a socket whose name has no .sock"),
        (stale, "socket", "a socket file nobody listens behind"),
        (plain, "file", "a regular file named like a socket"),
        (sub, "folder", "a folder"),
        (link, "symlink", "a symlink to a socket"),
        (missing, "missing", "a path where nothing is"),
    ]
    for path, want, what in cases:
        try:
            got = ctx.call(file_kind, str(path), what=f"file_kind(path) for {what}")
        except NotYet as miss:
            if want == "missing" and "FileNotFoundError" in miss.message:
                raise NotYet(miss.message, "missing-not-handled") from None
            raise
        expect_type(got, str, f"file_kind(path) for {what}")
        got = got.strip().lower()
        got = _SAME_KIND.get(got, got)
        if got == want:
            continue
        message = f"for {what}, file_kind() said {got!r}; it is a {want!r}"
        if want == "missing":
            message = f"for {what}, file_kind() said {got!r}; it should say 'missing'"
        if path == link and got == "socket":
            raise NotYet(message, "follows-symlink")
        if (path == plain and got == "socket") or (path == listening and got == "file"):
            raise NotYet(message, "guessed-from-name")
        if got not in KINDS:
            message += f" (the answers are {', '.join(repr(k) for k in KINDS)})"
        raise NotYet(message)
    return (
        "file_kind() told apart two sockets (one stale), a file named like a socket, a folder, "
        "a symlink and a missing path"
    )


# -- 01.2 ------------------------------------------------------------------------------


@task(
    "01.2",
    "An echo server",
    answer="echo_one_client",
    hints=(
        "Three steps: accept() one connection, send back whatever arrives, and close that "
        "connection when the client has finished sending.",
        "recv() returns whatever has arrived so far, not the whole message: loop. recv() "
        "returning b'' (empty) means the client has stopped sending: that is when to stop.",
        "conn, _ = server.accept(); then inside `with conn:` loop: data = conn.recv(4096); "
        "if not data: break; conn.sendall(data). Leaving the with block closes the connection.",
    ),
    mistakes={
        "one-recv": (
            "one recv() gives only what has arrived so far: the client sent its data in "
            "several pieces. Keep receiving and sending back until recv() returns b''"
        ),
        "never-closes": (
            "recv() returning b'' means the client has finished; then close the connection "
            "(a `with conn:` block does it), or the client waits for ever for the end of your reply"
        ),
        "decoded": (
            "a socket carries bytes, and these are not text: send back exactly the bytes that "
            "came, without .decode() or .encode()"
        ),
    },
)
def check_echo_server(ctx: CheckContext, echo_one_client: Any) -> str:
    path = ctx.socket_path("echo.sock")
    server = _unix_listener(path, timeout=2)  # the learner's accept() gives up after 2 s
    running = ctx.start(echo_one_client, server, what="echo_one_client(server)")
    ctx.later(server.close)  # registered after start, so it runs before the thread is stopped
    pieces = [secrets.token_bytes(ctx.randint(1, 40)) for _ in range(3)]
    pieces.insert(ctx.randint(1, 3), secrets.token_bytes(ctx.randint(2000, 6000)))
    sent = b"".join(pieces)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctx.later(client.close)
    client.settimeout(2)
    client.connect(str(path))
    for piece in pieces:
        try:
            send_piece(client, piece)
        except OSError:
            break  # the server hung up early: what it sent back tells why
    else:
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)  # "I have finished sending"
    got, closed = _read_to_end(client, timeout=2.5)
    if got == sent and closed:
        return (
            "echo_one_client() sent back every byte of data that came in pieces, then closed "
            "the connection"
        )
    if closed:
        running.join(1.0)  # the connection closed: let the function finish, and any error land
    if isinstance(running.error, UnicodeError):
        raise NotYet(
            f"echo_one_client() raised {type(running.error).__name__}: {running.error}", "decoded"
        )
    if got == sent:
        raise NotYet("the client got its data back, then waited for the end", "never-closes")
    running.raise_error()
    if not got:
        raise NotYet(
            "nothing came back to the client"
            + ("" if closed else ": did echo_one_client() accept() a connection and reply on it?")
        )
    if sent.startswith(got):
        if closed:
            raise NotYet(
                f"echo_one_client() sent back {len(got)} of the {len(sent)} bytes, then closed",
                "one-recv",
            )
        raise NotYet(
            f"echo_one_client() sent back {len(got)} of the {len(sent)} bytes, then nothing more"
        )
    at = next(
        (i for i, (a, b) in enumerate(zip(got, sent, strict=False)) if a != b),
        min(len(got), len(sent)),
    )
    raise NotYet(
        f"what came back differs from what the client sent, from byte {at} on ({len(got)} bytes "
        f"back, {len(sent)} sent): send back the bytes exactly as they came, adding nothing"
    )


# -- a line server, the other side for the learner's clients ---------------------------


class LineServer(_Listener):
    """Answers each line a client sends with a line of its own, in pieces; stays connected.

    Replies are cut in the middle of each line, and a piece that ends one reply starts the
    next, so that a client must frame the stream itself. After answering, the server keeps
    the connection open (ready for more questions) until the client closes it. A client
    that leaves a line unfinished for ``LINE_GRACE`` seconds is hung up on (``stalled``).
    """

    def __init__(self, answer: Callable[[bytes], bytes], path: Path, folder: Path) -> None:
        self.answer = answer
        super().__init__(path, folder)

    def serve(self, client: socket.socket, record: RequestSeen) -> None:
        client.settimeout(0.1)
        buffer = b""
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                data = client.recv(65536)
            except (TimeoutError, BlockingIOError):
                if (buffer or not record.data) and time.monotonic() - last > LINE_GRACE:
                    record.stalled = True
                    return
                continue
            if not data:
                return
            last = time.monotonic()
            record.data += data
            buffer += data
            replies = []
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                replies.append(self.answer(line) + b"\n")
            if replies:
                self._send_cut(client, replies, record)

    @staticmethod
    def _send_cut(client: socket.socket, replies: list[bytes], record: RequestSeen) -> None:
        cuts, offset = [], 0
        for reply in replies:
            cuts.append(offset + max(1, len(reply) // 2))
            offset += len(reply)
        data = b"".join(replies)
        start = 0
        for cut in [*cuts, len(data)]:
            send_piece(client, data[start:cut])
            record.reply += data[start:cut]
            start = cut
        record.sent.set()

    def replies_sent(self, record: RequestSeen) -> int:
        return record.reply.count(b"\n")


def _line_server(ctx: CheckContext, answer: Callable[[bytes], bytes]) -> LineServer:
    folder, path = fresh_socket_path("ask.sock")
    server = LineServer(answer, path, folder)
    ctx.later(server.close)
    return server


def _answerer(ctx: CheckContext) -> Callable[[bytes], bytes]:
    salt = ctx.token(6)

    def answer(question: bytes) -> bytes:
        text = question.decode("utf-8", "replace")
        return f"{salt}: you asked {text!r}, {len(text)} characters long".encode()

    return answer


def _client_miss(
    miss: NotYet | None, server: LineServer, records: list[RequestSeen], expected: int
) -> NotYet:
    """A better name for what went wrong when the learner's client gave no (good) answer."""
    if not records:
        return miss or NotYet("your code never connected to the server's socket")
    if not any(r.data for r in records):
        return NotYet(
            "your code connected, but sent nothing; the server waited for a question, then hung up"
        )
    if any(r.data and b"\n" not in r.data for r in records):
        return NotYet(
            f"the server got {records[-1].data[:60]!r} and waited in vain for the end of the "
            "line, then hung up",
            "no-newline-sent",
        )
    if miss is None:
        return NotYet("the server waited for the rest of a question, then hung up")
    timed_out = miss.mistake == "hang" or "TimeoutError" in miss.message
    if timed_out and sum(server.replies_sent(r) for r in records) >= expected:
        return NotYet(
            f"the server sent {'its whole reply' if expected == 1 else 'all its replies'} and kept "
            "the connection open, and your code went on waiting",
            "waits-for-close",
        )
    return miss


# -- 01.3 ------------------------------------------------------------------------------


@task(
    "01.3",
    "Ask a question, read the whole reply",
    answer="ask",
    time_limit=3.0,
    hints=(
        "Connect, send the question with b'\\n' at its end (that is how the server knows it is "
        "complete), then read until the reply's own b'\\n' has arrived.",
        "The reply comes in pieces: collect recv() results in a bytes variable until b'\\n' is "
        "in it. Do not wait for recv() to return b'': this server keeps the connection open.",
        "reply = b''; while b'\\n' not in reply: piece = sock.recv(1024); if not piece: raise "
        "ConnectionError(...); reply += piece. Then return reply.split(b'\\n')[0].decode().",
    ),
    mistakes={
        "one-recv": (
            "one recv() gives only what has arrived so far, and the reply came in pieces: keep "
            "reading until the b'\\n' that ends it"
        ),
        "waits-for-close": (
            "this server keeps the connection open after its reply, ready for another question, "
            "so recv() never returns b''. Stop reading at the b'\\n' that ends the reply"
        ),
        "no-newline-sent": (
            "a line ends with b'\\n': without it the server cannot know the question is "
            "complete. Send question.encode() + b'\\n'"
        ),
    },
)
def check_ask(ctx: CheckContext, ask: Any) -> str:
    answer = _answerer(ctx)
    server = _line_server(ctx, answer)
    for _ in range(2):
        question = f"what is {ctx.token(ctx.randint(4, 12))}?"
        want = answer(question.encode()).decode()
        before = len(server.seen)
        what = f"ask(path, {question!r})"
        try:
            got = ctx.call(ask, str(server.path), question, what=what)
        except NotYet as miss:
            raise _client_miss(miss, server, server.seen[before:], 1) from None
        records = server.seen[before:]
        if records and records[-1].stalled:
            raise _client_miss(None, server, records, 1)
        got = _text(got)
        expect_type(got, str, what)
        if got == want:
            continue
        if got and want.startswith(got):
            raise NotYet(
                f"{what} returned {got!r}, the first {len(got)} of its characters", "one-recv"
            )
        raise NotYet(f"{what} returned {got!r:.80}; the server answered {want!r:.80}")
    return "ask() sent whole lines and read whole replies that came in pieces"


# -- 01.4 ------------------------------------------------------------------------------


@task(
    "01.4",
    "A TCP server for this machine only",
    answer="tcp_listener",
    hints=(
        "Like a Unix socket server, with two changes: the family is socket.AF_INET, and bind() "
        "takes a (host, port) pair instead of a path.",
        "The host 127.0.0.1 (loopback) means 'this machine only'. Port 0 asks the kernel for "
        "any free port; getsockname() tells you which one it chose.",
        "server = socket.socket(socket.AF_INET, socket.SOCK_STREAM); "
        "server.bind(('127.0.0.1', 0)); server.listen(); return server",
    ),
    mistakes={
        "all-interfaces": (
            "0.0.0.0 (or '') means every network interface: anyone who can reach this machine "
            "could connect, and TCP has no permission bits to stop them. Bind to 127.0.0.1"
        ),
        "fixed-port": (
            "a fixed port is taken as soon as something else uses it (here: your own first "
            "listener). Bind to port 0 and the kernel picks a free one"
        ),
        "not-listening": (
            "bind() gives the socket its address; listen() is what makes the kernel accept "
            "connections on it"
        ),
    },
)
def check_tcp_listener(ctx: CheckContext, tcp_listener: Any) -> str:
    first = _tcp_call(ctx, tcp_listener, "tcp_listener()")
    second = _tcp_call(ctx, tcp_listener, "the second call of tcp_listener()")
    host, port = first.getsockname()[:2]
    if second.getsockname()[1] == port:
        raise NotYet(f"both calls listened on port {port}", "fixed-port")
    token = ctx.token(16).encode()
    with socket.create_connection((host, port), timeout=2) as client:
        first.settimeout(2)
        try:
            conn, _ = first.accept()
        except OSError:
            raise NotYet("the check connected, but the socket never accepted it") from None
        with conn:
            client.sendall(token)
            conn.settimeout(2)
            expect(conn.recv(64) == token, "bytes sent to the socket did not arrive")
    return "tcp_listener() listens on the loopback address only, on a port the kernel chose"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: loopback only if every address it has is
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(
            ipaddress.ip_address(info[4][0]).is_loopback for info in infos
        )


@contextlib.contextmanager
def _loopback_binds_only() -> Iterator[list[str]]:
    """While the learner's code runs, a bind() beyond loopback is refused before it happens.

    So a wrong answer never listens on the network, not even for a moment; the check
    still sees what it tried.
    """
    original = socket.socket.bind
    refused: list[str] = []

    def bind(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not _is_loopback(host):
                refused.append(host or "0.0.0.0")
                raise OSError(errno.EADDRNOTAVAIL, f"the check refused to bind {host!r}")
        original(self, address)

    socket.socket.bind = bind  # type: ignore[method-assign]
    try:
        yield refused
    finally:
        socket.socket.bind = original  # type: ignore[method-assign]


def _tcp_call(ctx: CheckContext, tcp_listener: Any, what: str) -> socket.socket:
    with _loopback_binds_only() as refused:
        try:
            sock = ctx.call(tcp_listener, what=what)
        except NotYet as miss:
            if refused:
                message = f"{what} tried to listen on {refused[0]!r}"
                raise NotYet(message, "all-interfaces") from None
            if "Address already in use" in miss.message:
                raise NotYet(miss.message, "fixed-port") from None
            raise
    if refused:
        raise NotYet(f"{what} tried to listen on {refused[0]!r}", "all-interfaces")
    ctx.later(_close, sock)
    expect_type(sock, socket.socket, what)
    expect(
        sock.family in (socket.AF_INET, socket.AF_INET6),
        f"{what} returned a {sock.family.name} socket; TCP is socket.AF_INET",
    )
    expect(sock.type == socket.SOCK_STREAM, f"{what} returned a {sock.type.name} socket, not TCP")
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::", ""):
        raise NotYet(f"{what} listens on {host!r}", "all-interfaces")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    expect(loopback, f"{what} listens on {host}, an address others may reach", "all-interfaces")
    expect(port != 0, f"{what} returned a socket with no port: did it bind()?")
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except ConnectionRefusedError:
        raise NotYet(f"connecting to {what}'s socket was refused", "not-listening") from None
    with contextlib.suppress(OSError):  # the probe's connection, so that accept() gets the next
        sock.settimeout(2)
        conn, _ = sock.accept()
        conn.close()
    return sock


# -- 01.5 ------------------------------------------------------------------------------

PREDICT_UMASK = 0o027
_BIND_UNDER_UMASK = (
    "import os, socket, stat, sys\n"
    "os.umask(int(sys.argv[2], 8))\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "s.bind(sys.argv[1])\n"
    "print(stat.filemode(os.stat(sys.argv[1]).st_mode))\n"
)


def _mode_bits(value: Any) -> int | None:
    """The permission bits a prediction stands for: 'srwxr-x---', 'rwxr-x---', 0o750 or '750'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value & 0o7777 if 0 <= value <= 0o7777 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"(0o)?[0-7]{3,4}", text):
        return int(text.removeprefix("0o"), 8)
    letters = text[1:] if len(text) == 10 else text
    if not re.fullmatch(r"([r-][w-][x-]){3}", letters):
        return None
    return sum(1 << (8 - i) for i, c in enumerate(letters) if c != "-")


@task(
    "01.5",
    "Predict: a socket's permissions under a umask",
    answer="predicted_mode",
    kind="prediction",
    hints=(
        "A umask lists the permission bits a new file does not get. Its octal digits are for "
        "the owner, the group and others, in that order; in each, 4 is r, 2 is w and 1 is x.",
        "bind() starts a socket file from rwx for everyone (0o777), then takes the umask's bits "
        "away. ls -l shows the type letter first: s for a socket.",
    ),
    mistakes={
        "socket-mode-like-file": (
            "a new regular file starts from rw-rw-rw- (0o666), but bind() starts a socket file "
            "from rwxrwxrwx (0o777) before the umask takes bits away"
        ),
        "type-letter": "the first letter in ls -l is the file's type: s for a socket",
    },
)
def check_predicted_mode(ctx: CheckContext, predicted: Any) -> str:
    path = ctx.socket_path("umask.sock")
    done = subprocess.run(
        [sys.executable, "-c", _BIND_UNDER_UMASK, str(path), f"{PREDICT_UMASK:o}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the helper process failed: {done.stderr.strip()[-200:]}")
    real = done.stdout.strip()
    real_bits = stat.S_IMODE(os.stat(path).st_mode)
    bits = _mode_bits(predicted)
    decimal = isinstance(predicted, int) and re.fullmatch(r"[0-7]{3}", str(predicted))
    if decimal and int(str(predicted), 8) == real_bits:
        raise NotYet(
            f"you wrote {predicted}, which Python reads as a decimal number; a mode is octal: "
            f"write 0o{predicted}"
        )
    if bits is None:
        raise NotYet(
            f"predicted_mode should be a mode as ls -l shows it, such as '-rw-r--r--', and it is "
            f"{predicted!r:.60}"
        )
    seen = f"a socket bound under umask 0o{PREDICT_UMASK:03o} is {real}"
    meaning = "The group may read it but not write it, so only its owner may connect"
    if bits == real_bits:
        text = predicted.strip() if isinstance(predicted, str) else ""
        if len(text) == 10 and text[0] != "s":
            raise NotYet(f"you predicted {text!r}; {seen}", "type-letter")
        return f"{seen}, as you said. {meaning}"
    if bits == 0o666 & ~PREDICT_UMASK:
        raise NotYet(f"you predicted {predicted!r}; {seen}", "socket-mode-like-file")
    raise NotYet(
        f"you predicted {predicted!r}; {seen}: bind() starts from 0o777 and the umask takes "
        f"0o{PREDICT_UMASK:03o} away, leaving 0o{real_bits:03o}. {meaning}",
        "wrong-prediction",
    )


# -- 01.6 ------------------------------------------------------------------------------

CHECK_UMASK = 0o002  # a permissive umask (common on desktops): what the learner's code must fix


@task(
    "01.6",
    "A private socket",
    answer="listen_private",
    hints=(
        "Four steps: remove a stale socket file if one is there, bind(), set the file's mode "
        "to 0o600 with os.chmod(), listen().",
        "bind() refuses a path that exists, even a dead socket file: 'Address already in use'. "
        "os.unlink(path) removes it, and raises FileNotFoundError if there is nothing to remove.",
        "Call os.chmod(path, 0o600) after bind() and before listen(): nobody can connect before "
        "listen(), so there is no moment when others could get in.",
    ),
    mistakes={
        "stale-socket-file": (
            "a socket file left by an earlier run blocks bind() ('Address already in use') even "
            "though nobody listens behind it. Remove it first: os.unlink(path)"
        ),
        "not-private": (
            "connect() needs write permission on the socket file, so w for the group or others "
            "lets them in. os.chmod(path, 0o600) leaves read and write to the owner alone"
        ),
        "unlink-missing": (
            "os.unlink() raises FileNotFoundError when there is no file to remove: catch it, or "
            "use Path(path).unlink(missing_ok=True)"
        ),
        "not-listening": (
            "bind() creates the socket file; listen() is what makes the kernel accept "
            "connections on it"
        ),
    },
    stretch=True,
)
def check_listen_private(ctx: CheckContext, listen_private: Any) -> str:
    stale = ctx.socket_path(f"{ctx.token(6)}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(stale))  # then closed: a dead socket file, as a crashed server leaves
    _private(ctx, listen_private, stale, "with a stale socket file at path")
    fresh = ctx.socket_path(f"{ctx.token(6)}.sock")
    _private(ctx, listen_private, fresh, "with nothing at path")
    return (
        "listen_private() replaced a stale socket file and listened on a socket only its owner "
        "may connect to (srw-------)"
    )


def _private(ctx: CheckContext, listen_private: Any, path: Path, where: str) -> None:
    what = f"listen_private(path) {where}"
    old = os.umask(CHECK_UMASK)
    try:
        sock = ctx.call(listen_private, str(path), what=what)
    except NotYet as miss:
        if "Address already in use" in miss.message:
            raise NotYet(miss.message, "stale-socket-file") from None
        if "FileNotFoundError" in miss.message:
            raise NotYet(miss.message, "unlink-missing") from None
        raise
    finally:
        os.umask(old)  # whatever the learner's code did to it
    ctx.later(_close, sock)
    expect_type(sock, socket.socket, what)
    expect(
        sock.family == socket.AF_UNIX,
        f"{what} returned a {sock.family.name} socket; a Unix socket is socket.AF_UNIX",
    )
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise NotYet(f"after {what}, there is no file at the path it was given") from None
    expect(stat.S_ISSOCK(info.st_mode), f"after {what}, the path holds no socket file")
    mode = stat.S_IMODE(info.st_mode)
    shown = stat.filemode(info.st_mode)
    if mode & 0o022:
        raise NotYet(
            f"after {what}, the socket file is {shown} (under umask 0o{CHECK_UMASK:03o}, which "
            "the check set), so others may connect",
            "not-private",
        )
    expect(
        mode == 0o600,
        f"after {what}, the socket file is {shown}; the task asks for srw------- (0o600): read "
        "and write for you, nothing for anyone else (x means nothing on a socket)",
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            raise NotYet(
                f"connecting to the socket of {what} was refused", "not-listening"
            ) from None
        except OSError as exc:
            raise NotYet(f"the check could not connect to the socket of {what}: {exc}") from None


# -- 01.7 ------------------------------------------------------------------------------


@task(
    "01.7",
    "Many questions, one connection",
    answer="ask_all",
    stretch=True,
    time_limit=3.0,
    hints=(
        "Send all the questions at once, each ending in b'\\n'; then read one reply line per "
        "question, in order.",
        "A recv() may hold the end of one reply and the start of the next. Keep a buffer: take "
        "a line out of it when it holds a b'\\n', and keep what follows for the next line.",
        "buffer = b''; for each question: while b'\\n' not in buffer: buffer += sock.recv(1024) "
        "(stop if it is b''); line, _, buffer = buffer.partition(b'\\n'). Lesson 01's "
        "LineReader does exactly this.",
    ),
    mistakes={
        "one-recv": (
            "one recv() per reply is not one reply: a recv() returns what has arrived, part of "
            "a line or parts of two. Read until a b'\\n', and keep what comes after it"
        ),
        "lost-leftover": (
            "the bytes after a b'\\n' in what recv() returned are the start of the next reply: "
            "keep them in your buffer, do not throw them away"
        ),
        "waits-for-close": (
            "the server keeps the connection open after its replies, so recv() never returns "
            "b''. You know how many replies are coming: one per question"
        ),
        "no-newline-sent": (
            "each question must end with b'\\n': that is how the server knows where one ends "
            "and the next begins"
        ),
        "new-connection-each": (
            "open one connection and ask every question on it; the framing is the point: "
            "replies joined and split across recv()s"
        ),
    },
)
def check_ask_all(ctx: CheckContext, ask_all: Any) -> str:
    answer = _answerer(ctx)
    server = _line_server(ctx, answer)
    questions = [f"{ctx.token(ctx.randint(3, 10))}?" for _ in range(ctx.randint(3, 5))]
    wants = [answer(q.encode()).decode() for q in questions]
    what = f"ask_all(path, {len(questions)} questions)"
    try:
        got = ctx.call(ask_all, str(server.path), list(questions), what=what)
    except NotYet as miss:
        raise _client_miss(miss, server, list(server.seen), len(questions)) from None
    records = list(server.seen)
    if any(r.stalled for r in records):
        raise _client_miss(None, server, records, len(questions))
    if len(records) > 1:
        raise NotYet(f"{what} opened {len(records)} connections", "new-connection-each")
    if isinstance(got, tuple):
        got = list(got)
    expect_type(got, list, what)
    got = [_text(g) for g in got]
    for i, (have, want) in enumerate(zip(got, wants, strict=False)):
        if have == want:
            continue
        place = f"reply {i + 1} of {len(wants)}"
        if isinstance(have, str) and have and want.startswith(have):
            raise NotYet(f"{place} was cut short: {have!r}", "one-recv")
        if i > 0 and isinstance(have, str) and have and want.endswith(have):
            raise NotYet(f"{place} lost its start: {have!r}", "lost-leftover")
        raise NotYet(f"{place} is {have!r:.80}; the server answered {want!r:.80}")
    expect(
        len(got) == len(wants),
        f"{what} returned {len(got)} replies for {len(wants)} questions",
    )
    return (
        "ask_all() read every reply on one connection, though they came joined and split "
        "across recv()s"
    )
