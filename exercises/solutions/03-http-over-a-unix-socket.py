"""Worked answers for exercises/03-http-over-a-unix-socket.ipynb.

Each block below starts with a marker line: "solution" is a worked answer; "wrong: NAME" is a
plausible mistake kept beside it, with the name of the hint the check gives for it (the tests
prove that each one is turned down with that hint). Read the wrong ones too: they are the
mistakes people really make.

The answers use what the notebook's first code cell imports: socket, json, http.client, quote
(from urllib.parse) and requests_unixsocket.
"""

# %% 03.1 solution
def unix_url(socket_path, path):
    """The http+unix:// URL of `path` on the engine at `socket_path`."""
    # safe="" encodes every character a URL gives a meaning to, "/" included.
    return "http+unix://" + quote(socket_path, safe="") + path

# %% 03.1 wrong: unencoded-socket-path
def unix_url(socket_path, path):
    # The path's first "/" ends the host part: requests sees no host at all.
    return "http+unix://" + socket_path + path

# %% 03.1 wrong: only-slashes-encoded
def unix_url(socket_path, path):
    # Fine for /var/run/docker.sock; wrong as soon as the name holds a space, a % or a #.
    return "http+unix://" + socket_path.replace("/", "%2F") + path

# %% 03.2 solution
predicted_path = "/json"  # "images" is read as the host name; only "/json" is left for the path

# %% 03.2 wrong: wrong-prediction
predicted_path = "/images/json"

# %% 03.3 solution
def curl_images(socket_path):
    """The curl command line that lists the images of the engine at `socket_path`."""
    return ["curl", "-s", "--unix-socket", socket_path, "http://localhost/images/json"]

# %% 03.3 wrong: curl-host-part
def curl_images(socket_path):
    # curl takes "images" for the host name, and asks the engine for GET /json.
    return f"curl -s --unix-socket {socket_path} http://images/json"

# %% 03.3 wrong: no-unix-socket
def curl_images(socket_path):
    # Without --unix-socket, curl connects over TCP to localhost, port 80.
    return ["curl", "-s", "http://localhost/images/json"]

# %% 03.3 wrong: curl-head-shown
def curl_images(socket_path):
    # -i prints the status line and the headers before the JSON.
    return ["curl", "-si", "--unix-socket", socket_path, "http://localhost/images/json"]

# %% 03.4 solution
def running_names(socket_path):
    """The names of the running containers, without the leading "/"."""
    url = "http+unix://" + quote(socket_path, safe="") + "/containers/json"
    with requests_unixsocket.Session() as session:
        containers = session.get(url, timeout=10).json()  # without all=true: running ones only
    return [c["Names"][0].lstrip("/") for c in containers]

# %% 03.4 wrong: stopped-included
def running_names(socket_path):
    # all=true lists the stopped containers too.
    url = "http+unix://" + quote(socket_path, safe="") + "/containers/json?all=true"
    with requests_unixsocket.Session() as session:
        containers = session.get(url, timeout=10).json()
    return [c["Names"][0].lstrip("/") for c in containers]

# %% 03.4 wrong: leading-slash
def running_names(socket_path):
    # The engine's names start with "/", and these keep it.
    url = "http+unix://" + quote(socket_path, safe="") + "/containers/json"
    with requests_unixsocket.Session() as session:
        return [c["Names"][0] for c in session.get(url, timeout=10).json()]

# %% 03.5 solution
def versioned_get(socket_path, path):
    """GET /vX.Y{path}, with X.Y the ApiVersion that GET /version reports; the decoded JSON."""
    base = "http+unix://" + quote(socket_path, safe="")
    with requests_unixsocket.Session() as session:
        version = session.get(base + "/version", timeout=10).json()["ApiVersion"]
        return session.get(f"{base}/v{version}{path}", timeout=10).json()

# %% 03.5 wrong: fixed-api-version
def versioned_get(socket_path, path):
    # 1.41 is what dockerd 20.10 speaks; Docker 29 refuses it, and other engines know others.
    base = "http+unix://" + quote(socket_path, safe="")
    with requests_unixsocket.Session() as session:
        return session.get(f"{base}/v1.41{path}", timeout=10).json()

# %% 03.5 wrong: engine-version
def versioned_get(socket_path, path):
    # "Version" is the engine's release, such as 20.10.24, not the API's version.
    base = "http+unix://" + quote(socket_path, safe="")
    with requests_unixsocket.Session() as session:
        version = session.get(base + "/version", timeout=10).json()["Version"]
        return session.get(f"{base}/v{version}{path}", timeout=10).json()

# %% 03.6 solution
def container_error(socket_path, name):
    """(status, message) of GET /containers/{name}/json, for a container that does not exist."""
    url = "http+unix://" + quote(socket_path, safe="") + f"/containers/{name}/json"
    with requests_unixsocket.Session() as session:
        reply = session.get(url, timeout=10)  # a 404 is a reply like any other: no exception
    return reply.status_code, reply.json()["message"]

# %% 03.6 wrong: whole-body
def container_error(socket_path, name):
    # reply.text is the whole JSON body as text, braces and all.
    url = "http+unix://" + quote(socket_path, safe="") + f"/containers/{name}/json"
    with requests_unixsocket.Session() as session:
        reply = session.get(url, timeout=10)
    return reply.status_code, reply.text

# %% 03.6 wrong: raise-for-status
def container_error(socket_path, name):
    # raise_for_status() turns the 404 into an exception before the body is read.
    url = "http+unix://" + quote(socket_path, safe="") + f"/containers/{name}/json"
    with requests_unixsocket.Session() as session:
        reply = session.get(url, timeout=10)
        reply.raise_for_status()
    return reply.status_code, reply.json()["message"]

# %% 03.7 solution
def create_container(socket_path, name, command):
    """Create (not start) a busybox container running `command`, with http.client only; its Id."""

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(socket_path)

    conn = UnixHTTPConnection("localhost", timeout=10)  # "localhost" only goes into Host
    try:
        conn.request(
            "POST",
            f"/containers/create?name={name}",
            body=json.dumps({"Image": "busybox", "Cmd": command}),
            headers={"Content-Type": "application/json"},
        )
        reply = conn.getresponse()
        created = json.loads(reply.read())
    finally:
        conn.close()
    if reply.status != 201:
        raise RuntimeError(f"{reply.status} {reply.reason}: {created.get('message')}")
    return created["Id"]

# %% 03.7 wrong: no-content-type
def create_container(socket_path, name, command):
    # JSON body, but no Content-Type: dockerd answers 400 (the lab engine lets it pass).

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(socket_path)

    conn = UnixHTTPConnection("localhost", timeout=10)
    body = json.dumps({"Image": "busybox", "Cmd": command})
    conn.request("POST", f"/containers/create?name={name}", body=body)
    return json.loads(conn.getresponse().read())["Id"]

# %% 03.7 wrong: python-repr-body
def create_container(socket_path, name, command):
    # str() of a dict is Python, with single quotes: not JSON.

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(socket_path)

    conn = UnixHTTPConnection("localhost", timeout=10)
    conn.request(
        "POST",
        f"/containers/create?name={name}",
        body=str({"Image": "busybox", "Cmd": command}),
        headers={"Content-Type": "application/json"},
    )
    return json.loads(conn.getresponse().read())["Id"]

# %% 03.7 wrong: not-http-client
def create_container(socket_path, name, command):
    # It works, but this task is about http.client.
    url = "http+unix://" + quote(socket_path, safe="") + "/containers/create"
    with requests_unixsocket.Session() as session:
        reply = session.post(url, params={"name": name}, json={"Image": "busybox", "Cmd": command})
    return reply.json()["Id"]
