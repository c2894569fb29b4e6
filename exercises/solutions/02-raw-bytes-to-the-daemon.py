"""Worked answers for exercises/02-raw-bytes-to-the-daemon.ipynb.

Each block below starts with a marker line: "solution" is a worked answer; "wrong: NAME" is a
plausible mistake kept beside it, with the name of the hint the check gives for it (the tests
prove that each one is turned down with that hint). Read the wrong ones too: they are the
mistakes people really make.
"""

# %% 02.1 solution
def get_request(path):
    """The bytes of a GET request for `path`, e.g. get_request("/_ping")."""
    return f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode("ascii")

# %% 02.1 wrong: no-final-crlf
def get_request(path):
    # The head's empty line is missing: the engine would wait for more headers for ever.
    return f"GET {path} HTTP/1.1\r\nHost: docker\r\n".encode("ascii")

# %% 02.1 wrong: no-host
def get_request(path):
    # HTTP/1.1 requires Host; without it the engine answers 400.
    return f"GET {path} HTTP/1.1\r\n\r\n".encode("ascii")

# %% 02.1 wrong: lf-only
def get_request(path):
    # Lines must end in \r\n; a bare \n works on dockerd by leniency only.
    return f"GET {path} HTTP/1.1\nHost: docker\n\n".encode("ascii")

# %% 02.2 solution
def raw_get(socket_path, path):
    """GET `path` from the engine at `socket_path`: (status, headers, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data:  # the head ends at the first empty line
            piece = sock.recv(4096)
            if not piece:
                raise ConnectionError("the engine hung up before the end of the head")
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name] = value.strip()
        length = int(next(v for k, v in headers.items() if k.lower() == "content-length"))
        while len(body) < length:  # the body may still be on its way
            piece = sock.recv(length - len(body))
            if not piece:
                raise ConnectionError("the engine hung up in the middle of the body")
            body += piece
        return status, headers, body

# %% 02.2 wrong: one-recv
def raw_get(socket_path, path):
    # One recv() for the whole reply: fine on a quiet machine, wrong as soon as it arrives in pieces.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode("ascii"))
        data = sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
        return int(status_line.split(" ")[1]), headers, body

# %% 02.2 wrong: no-final-crlf
def raw_get(socket_path, path):
    # The request has no empty line at its end: the engine never answers.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\n".encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(4096)
            if not piece:
                break
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        return 0, {}, body

# %% 02.3 solution
predicted_status = 400  # a 4xx: the client's request is wrong (HTTP/1.1 requires Host)

# %% 02.3 wrong: wrong-prediction
predicted_status = 200

# %% 02.4 solution
def decode_chunked(body):
    """The data of a chunked body: the chunks joined, without sizes or CR LFs."""
    data, pos = b"", 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)  # hexadecimal; ";..." is an extension
        if size == 0:
            return data
        start = end + 2
        data += body[start : start + size]
        pos = start + size + 2  # skip the data and the CR LF after it

# %% 02.4 wrong: chunked-size-decimal
def decode_chunked(body):
    # int(size) reads the size as decimal: "1a" fails, "10" means 10 instead of 16.
    data, pos = b"", 0
    while True:
        end = body.index(b"\r\n", pos)
        try:
            size = int(body[pos:end].split(b";")[0])
        except ValueError:
            return data
        if size == 0:
            return data
        start = end + 2
        data += body[start : start + size]
        pos = start + size + 2

# %% 02.4 wrong: chunked-size-decimal
def decode_chunked(body):
    # The same mistake without the try: int() raises at the first size with a letter in it.
    data, pos = b"", 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0])
        if size == 0:
            return data
        start = end + 2
        data += body[start : start + size]
        pos = start + size + 2

# %% 02.5 solution
def read_reply(sock):
    """One whole reply from `sock`: (status, headers, body), reading no further than its end."""

    def line():
        text = b""
        while not text.endswith(b"\r\n"):
            byte = sock.recv(1)
            if not byte:
                raise ConnectionError("the connection closed in the middle of a line")
            text += byte
        return text[:-2]

    def exactly(n):
        data = b""
        while len(data) < n:
            piece = sock.recv(n - len(data))
            if not piece:
                raise ConnectionError("the connection closed in the middle of a body")
            data += piece
        return data

    status = int(line().split(b" ")[1])
    headers = {}
    while header := line():
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int(line().split(b";")[0], 16):
            body += exactly(size)
            exactly(2)  # the CR LF after the chunk's data
        while line():  # trailers, if any, up to the empty line
            pass
    else:
        body = exactly(int(headers.get("content-length", "0")))
    return status, headers, body

# %% 02.5 wrong: read-too-far
def read_reply(sock):
    # Reads big blocks and throws away whatever came after the reply: the next one is lost.
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    status = int(lines[0].split(" ")[1])
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            rest += sock.recv(65536)
        return status, headers, rest[:length]
    while not rest.endswith(b"0\r\n\r\n"):
        rest += sock.recv(65536)
    body, pos = b"", 0
    while size := int(rest[pos : rest.index(b"\r\n", pos)], 16):
        start = rest.index(b"\r\n", pos) + 2
        body += rest[start : start + size]
        pos = start + size + 2
    return status, headers, body
