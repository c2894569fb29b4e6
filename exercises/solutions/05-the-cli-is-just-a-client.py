"""Worked answers for exercises/05-the-cli-is-just-a-client.ipynb.

Each block below starts with a marker line: "solution" is a worked answer; "wrong: NAME" is a
plausible mistake kept beside it, with the name of the hint the check gives for it (the tests
prove that each one is turned down with that hint). Read the wrong ones too: they are the
mistakes people really make.
"""

# %% 05.1 solution
def api_version_used(transcript):
    """The API version the client used in this transcript: the X.Y of its /vX.Y/ paths."""
    for exchange in transcript:
        if exchange.api_version:  # the ping has none: its path is just /_ping
            return exchange.api_version
    return None

# %% 05.1 wrong: ping-header
def api_version_used(transcript):
    # The ping's header says the newest version the ENGINE speaks, not the one the client chose.
    return transcript.first("HEAD", "/_ping").response_headers.get("Api-Version")

# %% 05.1 wrong: unversioned-ping
def api_version_used(transcript):
    # The first request is the ping, the one request with no /vX.Y in its path.
    return transcript[0].api_version

# %% 05.1 wrong: fixed-api-version
def api_version_used(transcript):
    # What one trace showed, written down: right for that engine and that CLI only.
    return "1.43"

# %% 05.2 solution
def start_request(transcript):
    """The request that started the container: "POST /vX.Y/containers/<id>/start", as sent."""
    start = transcript.first("POST", "/containers/{id}/start")
    return f"{start.method} {start.path}"

# %% 05.2 wrong: create-not-start
def start_request(transcript):
    # The create makes the container; it does not run it.
    create = transcript.first("POST", "/containers/create")
    return f"{create.method} {create.path}"

# %% 05.2 wrong: fixed-id
def start_request(transcript):
    # Copied from an earlier run: the next run's container has another id.
    return "POST /v1.41/containers/3f1c9d0e6b2a4c8e9f7d1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d/start"

# %% 05.3 solution
attach_connection = "new"  # after its 101 the connection carries raw bytes, never HTTP again

# %% 05.3 wrong: wrong-prediction
attach_connection = "same"

# %% 05.4 solution
def run_with_sdk(docker_host, command):
    """Run busybox with `command` through the docker SDK at `docker_host`; its output."""
    client = docker.DockerClient(base_url=docker_host)  # version: "auto", asked of the engine
    try:
        return client.containers.run("busybox", command, remove=True)
    finally:
        client.close()

# %% 05.4 wrong: sdk-elsewhere
def run_with_sdk(docker_host, command):
    # Straight to the lab's engine: it works, but not through the address you were given.
    client = docker.DockerClient(base_url=lab.docker_host)
    return client.containers.run("busybox", command, remove=True)

# %% 05.4 wrong: left-behind
def run_with_sdk(docker_host, command):
    # Without remove=True the stopped container stays on the engine, one more per call.
    client = docker.DockerClient(base_url=docker_host)
    return client.containers.run("busybox", command)

# %% 05.5 solution
import http.client


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client, except that connect() opens a Unix socket (lesson 03)."""

    def __init__(self, socket_path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def container_names(socket_path):
    """The names of all containers, running or not, e.g. ["web", "db"]."""
    connection = UnixHTTPConnection(socket_path)
    try:
        connection.request("GET", "/containers/json?all=1")  # all=1: stopped ones too
        items = json.loads(connection.getresponse().read())  # read() handles chunked bodies
    finally:
        connection.close()
    return [item["Names"][0].lstrip("/") for item in items]  # the engine keeps "/name"

# %% 05.5 wrong: running-only
def container_names(socket_path):
    # Without ?all=1 the engine lists only running containers, like docker ps without -a.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(b"GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n")
        reply = b""
        while piece := sock.recv(65536):  # HTTP/1.0: the engine hangs up after the body
            reply += piece
    body = reply.partition(b"\r\n\r\n")[2]
    return [item["Names"][0].lstrip("/") for item in json.loads(body)]

# %% 05.5 wrong: leading-slash
def container_names(socket_path):
    # The names as the engine keeps them, with "/" in front: docker ps shows them without.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(b"GET /containers/json?all=1 HTTP/1.0\r\nHost: docker\r\n\r\n")
        reply = b""
        while piece := sock.recv(65536):
            reply += piece
    body = reply.partition(b"\r\n\r\n")[2]
    return [item["Names"][0] for item in json.loads(body)]

# %% 05.6 solution
import re
import socketserver
from http.server import BaseHTTPRequestHandler


def serve_engine(socket_path, version, api_version):
    """Answer like an engine on `socket_path` until stopped; docker version shows the arguments."""

    class Engine(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the docker CLI expects

        def answer(self):
            path = re.sub(r"^/v[0-9.]+/", "/", self.path.split("?")[0])  # /vX.Y/version -> /version
            if path == "/_ping":
                status, body = 200, b"OK"
            elif path == "/version":
                fields = {"Version": version, "ApiVersion": api_version, "MinAPIVersion": "1.24",
                          "Os": "linux", "Arch": "amd64"}
                status, body = 200, json.dumps(fields).encode()
            else:
                status, body = 404, json.dumps({"message": f"page not found: {path}"}).encode()
            self.send_response(status)
            self.send_header("Api-Version", api_version)  # the CLI negotiates with this
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":  # a reply to HEAD has headers only
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = answer

        def log_message(self, *args):  # quiet
            pass

    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with UnixServer(socket_path, Engine) as server:
        server.serve_forever()

# %% 05.6 wrong: version-prefix
import socketserver
from http.server import BaseHTTPRequestHandler


def serve_engine(socket_path, version, api_version):
    # Looks the path up as it is: the CLI asks for /vX.Y/version, which is not "/version".

    class Engine(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self):
            if self.path == "/_ping":
                status, body = 200, b"OK"
            elif self.path == "/version":
                status, body = 200, json.dumps({"Version": version, "ApiVersion": api_version}).encode()
            else:
                status, body = 404, b'{"message": "page not found"}'
            self.send_response(status)
            self.send_header("Api-Version", api_version)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = answer

        def log_message(self, *args):
            pass

    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with UnixServer(socket_path, Engine) as server:
        server.serve_forever()

# %% 05.6 wrong: ping-no-api-version
import re
import socketserver
from http.server import BaseHTTPRequestHandler


def serve_engine(socket_path, version, api_version):
    # No Api-Version header: the CLI cannot negotiate and falls back to the oldest version it knows.

    class Engine(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self):
            path = re.sub(r"^/v[0-9.]+/", "/", self.path.split("?")[0])
            if path == "/_ping":
                status, body = 200, b"OK"
            elif path == "/version":
                status, body = 200, json.dumps({"Version": version, "ApiVersion": api_version}).encode()
            else:
                status, body = 404, b'{"message": "page not found"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = answer

        def log_message(self, *args):
            pass

    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with UnixServer(socket_path, Engine) as server:
        server.serve_forever()

# %% 05.6 wrong: fixed-version
import re
import socketserver
from http.server import BaseHTTPRequestHandler


def serve_engine(socket_path, version, api_version):
    # The lesson's fake engine, copied as it was: its own version, not the ones passed in.

    class Engine(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self):
            path = re.sub(r"^/v[0-9.]+/", "/", self.path.split("?")[0])
            if path == "/_ping":
                status, body = 200, b"OK"
            elif path == "/version":
                status, body = 200, json.dumps({"Version": "0.0.1-mine", "ApiVersion": "1.43"}).encode()
            else:
                status, body = 404, b'{"message": "page not found"}'
            self.send_response(status)
            self.send_header("Api-Version", "1.43")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = answer

        def log_message(self, *args):
            pass

    class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with UnixServer(socket_path, Engine) as server:
        server.serve_forever()
