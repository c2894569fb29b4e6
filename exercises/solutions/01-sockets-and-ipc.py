"""Worked answers for exercises/01-sockets-and-ipc.ipynb.

Each block below starts with a marker line: "solution" is a worked answer; "wrong: NAME" is a
plausible mistake kept beside it, with the name of the hint the check gives for it (the tests
prove that each one is turned down with that hint). Read the wrong ones too: they are the
mistakes people really make.
"""

# %% 01.1 solution
def file_kind(path):
    """What is at `path`: "socket", "file", "folder", "symlink" or "missing"."""
    try:
        mode = os.lstat(path).st_mode  # lstat: the link itself, not what it points to
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    return "other"  # a pipe or a device, say

# %% 01.1 wrong: follows-symlink
def file_kind(path):
    # os.stat() follows a symlink: a link to a socket looks like a socket.
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file"

# %% 01.1 wrong: guessed-from-name
def file_kind(path):
    # The name is only a name: a plain file may end in .sock, and a socket may not.
    if not os.path.lexists(path):
        return "missing"
    if os.path.islink(path):
        return "symlink"
    if os.path.isdir(path):
        return "folder"
    return "socket" if path.endswith(".sock") else "file"

# %% 01.2 solution
def echo_one_client(server):
    """Serve one client of the listening socket `server`: send back all it sends, then close."""
    conn, _ = server.accept()
    with conn:  # closes the connection at the end, which the client sees as the end of the stream
        while True:
            data = conn.recv(4096)  # whatever has arrived: a piece, not necessarily all
            if not data:  # b"": the client has finished sending
                break
            conn.sendall(data)

# %% 01.2 wrong: one-recv
def echo_one_client(server):
    # One recv() gets only the first piece the client sent.
    conn, _ = server.accept()
    with conn:
        conn.sendall(conn.recv(65536))

# %% 01.2 wrong: never-closes
def echo_one_client(server):
    # Written like a real server's loop, but the finished connection is never closed:
    # `conn` still holds it while accept() waits for the next client, so the client waits too.
    while True:
        conn, _ = server.accept()
        while data := conn.recv(4096):
            conn.sendall(data)

# %% 01.3 solution
def ask(path, question):
    """Send `question` as a line to the server at `path`; return its reply line as text."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(question.encode() + b"\n")
        reply = b""
        while b"\n" not in reply:  # the reply may come in several pieces
            piece = sock.recv(1024)
            if not piece:
                raise ConnectionError("the server hung up before the end of its reply")
            reply += piece
        return reply.split(b"\n")[0].decode()

# %% 01.3 wrong: one-recv
def ask(path, question):
    # One recv() returns what has arrived so far: here, half of the reply.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(question.encode() + b"\n")
        return sock.recv(1024).decode().rstrip("\n")

# %% 01.3 wrong: waits-for-close
def ask(path, question):
    # Reads until the server closes, but this server keeps the connection open.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(question.encode() + b"\n")
        reply = b""
        while piece := sock.recv(1024):
            reply += piece
        return reply.decode().rstrip("\n")

# %% 01.3 wrong: no-newline-sent
def ask(path, question):
    # The question has no b"\n", so the server cannot tell that it is complete.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(question.encode())
        reply = b""
        while b"\n" not in reply:
            piece = sock.recv(1024)
            if not piece:
                break
            reply += piece
        return reply.decode().rstrip("\n")

# %% 01.4 solution
def tcp_listener():
    """A listening TCP socket on 127.0.0.1, on a free port the kernel picks."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))  # loopback: this machine only; port 0: any free port
    server.listen()
    return server

# %% 01.4 wrong: all-interfaces
def tcp_listener():
    # 0.0.0.0 is every network interface: the whole network could connect.
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("0.0.0.0", 0))
    server.listen()
    return server

# %% 01.4 wrong: fixed-port
def tcp_listener():
    # A port chosen by hand is busy as soon as anything else (even our own first socket) holds it.
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 8765))
    server.listen()
    return server

# %% 01.5 solution
predicted_mode = "srwxr-x---"  # 0o777 minus the umask's 0o027 = 0o750; s: a socket

# %% 01.5 wrong: socket-mode-like-file
predicted_mode = "srw-r-----"  # right for a regular file (0o666 minus 0o027), not for a socket

# %% 01.5 wrong: wrong-prediction
predicted_mode = "srwxr-xr-x"

# %% 01.6 solution
def listen_private(path):
    """A listening Unix socket at `path` that only its owner may connect to."""
    try:
        os.unlink(path)  # a stale socket file from an earlier run would make bind() fail
    except FileNotFoundError:
        pass  # nothing there: fine
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)  # before listen(): until then nobody can connect at all
    server.listen()
    return server

# %% 01.6 wrong: stale-socket-file
def listen_private(path):
    # A socket file left behind makes bind() fail with "Address already in use".
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen()
    return server

# %% 01.6 wrong: not-private
def listen_private(path):
    # No chmod: the file gets whatever the umask allows, here w for the group too.
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    return server

# %% 01.6 wrong: unlink-missing
def listen_private(path):
    # os.unlink() raises FileNotFoundError when there is no stale file to remove.
    os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen()
    return server

# %% 01.7 solution
def ask_all(path, questions):
    """Ask every question (a list of str) on one connection; the replies, in order."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(b"".join(q.encode() + b"\n" for q in questions))
        buffer, replies = b"", []
        while len(replies) < len(questions):
            while b"\n" not in buffer:
                piece = sock.recv(1024)
                if not piece:
                    raise ConnectionError("the server hung up before its last reply")
                buffer += piece
            line, _, buffer = buffer.partition(b"\n")  # keep what follows: the next reply's start
            replies.append(line.decode())
        return replies

# %% 01.7 wrong: lost-leftover
def ask_all(path, questions):
    # Reads until a newline, takes that line, and throws away the rest of what it read.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(b"".join(q.encode() + b"\n" for q in questions))
        replies = []
        for _ in questions:
            buffer = b""
            while b"\n" not in buffer:
                piece = sock.recv(1024)
                if not piece:
                    break
                buffer += piece
            replies.append(buffer.split(b"\n")[0].decode())
        return replies

# %% 01.7 wrong: one-recv
def ask_all(path, questions):
    # One recv() per reply: the stream keeps no message boundaries.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(b"".join(q.encode() + b"\n" for q in questions))
        return [sock.recv(1024).decode().rstrip("\n") for _ in questions]
