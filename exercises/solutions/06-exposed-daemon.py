"""Worked answers for exercises/06-exposed-daemon.ipynb.

Each block below starts with a marker line: "solution" is a worked answer; "wrong: NAME" is a
plausible mistake kept beside it, with the name of the hint the check gives for it (the tests
prove that each one is turned down with that hint). Read the wrong ones too: they are the
mistakes people really make.
"""

# %% 06.1 solution
def find_engine(ports):
    """The port, among `ports` on 127.0.0.1, where a Docker engine answers."""
    for port in ports:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/_ping")
            reply = conn.getresponse()
            body = reply.read()
            if reply.status == 200 and body == b"OK" and reply.getheader("Api-Version"):
                return port
        except (OSError, http.client.HTTPException):
            pass  # refused, or something that does not speak HTTP: not an engine
        finally:
            conn.close()
    return None

# %% 06.1 wrong: first-open
def find_engine(ports):
    # The first port that takes a connection: an SSH server does too.
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return port
        except OSError:
            continue
    return None

# %% 06.1 wrong: any-200
def find_engine(ports):
    # Any 200 will do: a web server answers every path with 200 and a page.
    for port in ports:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/_ping")
            if conn.getresponse().status == 200:
                return port
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
    return None

# %% 06.2 solution
def containers_of(address):
    """Every container of the engine at `address` (tcp://HOST:PORT): {name: state}."""
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/containers/json?all=1")
        containers = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return {c["Names"][0].lstrip("/"): c["State"] for c in containers}

# %% 06.2 wrong: running-only
def containers_of(address):
    # Without ?all=1 the engine lists running containers only, as docker ps does.
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/containers/json")
    containers = json.loads(conn.getresponse().read())
    conn.close()
    return {c["Names"][0].lstrip("/"): c["State"] for c in containers}

# %% 06.2 wrong: leading-slash
def containers_of(address):
    # The names as the engine writes them, with their leading slash.
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/containers/json?all=1")
    containers = json.loads(conn.getresponse().read())
    conn.close()
    return {c["Names"][0]: c["State"] for c in containers}

# %% 06.2 wrong: status-for-state
def containers_of(address):
    # Status is the sentence docker ps shows ("Up 2 seconds"), not the state.
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/containers/json?all=1")
    containers = json.loads(conn.getresponse().read())
    conn.close()
    return {c["Names"][0].lstrip("/"): c["Status"] for c in containers}

# %% 06.3 solution
def read_host_file(address, folder, name):
    """The text of the host's file `folder`/`name`, read through the engine at `address`."""
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=20)

    def call(method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body and json.dumps(body), headers)
        reply = conn.getresponse()
        data = reply.read()
        if reply.status >= 400:
            raise RuntimeError(f"{method} {path}: {reply.status} {data[:200]!r}")
        return data

    spec = {
        "Image": "busybox",
        "Cmd": ["cat", f"/host/{name}"],
        "Tty": True,  # plain text logs, no frames
        "HostConfig": {"Binds": [f"{folder}:/host:ro"]},
    }
    cid = json.loads(call("POST", "/containers/create", spec))["Id"]
    try:
        call("POST", f"/containers/{cid}/start")
        call("POST", f"/containers/{cid}/wait")
        return call("GET", f"/containers/{cid}/logs?stdout=1").decode()
    finally:
        call("DELETE", f"/containers/{cid}?force=1")
        conn.close()

# %% 06.3 wrong: no-bind
def read_host_file(address, folder, name):
    # No bind mount: the container looks for the file among its own files.
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=20)

    def call(method, path, body=None):
        conn.request(method, path, body and json.dumps(body), {"Content-Type": "application/json"})
        return conn.getresponse().read()

    spec = {"Image": "busybox", "Cmd": ["cat", f"/host/{name}"], "Tty": True}
    cid = json.loads(call("POST", "/containers/create", spec))["Id"]
    call("POST", f"/containers/{cid}/start")
    call("POST", f"/containers/{cid}/wait")
    output = call("GET", f"/containers/{cid}/logs?stdout=1").decode()
    call("DELETE", f"/containers/{cid}?force=1")
    return output

# %% 06.3 wrong: frame-headers
def read_host_file(address, folder, name):
    # No TTY: the logs come in frames, and their 8-byte headers are returned with the text.
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=20)

    def call(method, path, body=None):
        conn.request(method, path, body and json.dumps(body), {"Content-Type": "application/json"})
        return conn.getresponse().read()

    spec = {
        "Image": "busybox",
        "Cmd": ["cat", f"/host/{name}"],
        "HostConfig": {"Binds": [f"{folder}:/host:ro"]},
    }
    cid = json.loads(call("POST", "/containers/create", spec))["Id"]
    call("POST", f"/containers/{cid}/start")
    call("POST", f"/containers/{cid}/wait")
    output = call("GET", f"/containers/{cid}/logs?stdout=1").decode()
    call("DELETE", f"/containers/{cid}?force=1")
    return output

# %% 06.3 wrong: left-behind
def read_host_file(address, folder, name):
    # It reads the file, and leaves its container for the owner to find.
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=20)

    def call(method, path, body=None):
        conn.request(method, path, body and json.dumps(body), {"Content-Type": "application/json"})
        return conn.getresponse().read()

    spec = {
        "Image": "busybox",
        "Cmd": ["cat", f"/host/{name}"],
        "Tty": True,
        "HostConfig": {"Binds": [f"{folder}:/host:ro"]},
    }
    cid = json.loads(call("POST", "/containers/create", spec))["Id"]
    call("POST", f"/containers/{cid}/start")
    call("POST", f"/containers/{cid}/wait")
    return call("GET", f"/containers/{cid}/logs?stdout=1").decode()

# %% 06.4 solution
PS_RULES = ["GET /_ping", "GET /containers/json"]  # GET also allows the CLI's HEAD /_ping

# %% 06.4 wrong: no-ping
PS_RULES = ["GET /containers/json"]  # docker pings first, and gets 403

# %% 06.4 wrong: too-wide
PS_RULES = ["GET /_ping", "* /containers/**"]  # every method on every container endpoint

# %% 06.4 wrong: version-in-rule
PS_RULES = ["GET /_ping", "GET /v1.41/containers/json"]  # rules take no version

# %% 06.5 solution
def is_safe(args):
    """Whether dockerd with these arguments lets in only those with a socket or a certificate."""
    hosts, verify = [], False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-H", "--host") and i + 1 < len(args):
            hosts.append(args[i + 1])
            i += 2
            continue
        if arg.startswith("--host="):
            hosts.append(arg.split("=", 1)[1])
        elif arg in ("--tlsverify", "--tlsverify=true"):
            verify = True
        elif arg == "--tlsverify=false":
            verify = False
        i += 1
    # No -H at all: the default Unix socket. unix:// and fd:// are Unix sockets.
    return all(verify or not h.startswith("tcp://") for h in hosts)

# %% 06.5 wrong: loopback-is-safe
def is_safe(args):
    # 127.0.0.1 is taken for safe: every user of the machine (and a web page) can reach it.
    hosts, verify = [], False
    for i, arg in enumerate(args):
        if arg in ("-H", "--host"):
            hosts.append(args[i + 1])
        elif arg.startswith("--host="):
            hosts.append(arg.split("=", 1)[1])
        elif arg in ("--tlsverify", "--tlsverify=true"):
            verify = True
    local = ("tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:")
    return all(verify or not h.startswith("tcp://") or h.startswith(local) for h in hosts)

# %% 06.5 wrong: tls-without-verify
def is_safe(args):
    # --tls is taken for enough: it encrypts, and still lets everyone in.
    hosts, tls = [], False
    for i, arg in enumerate(args):
        if arg in ("-H", "--host"):
            hosts.append(args[i + 1])
        elif arg.startswith("--host="):
            hosts.append(arg.split("=", 1)[1])
        elif arg in ("--tls", "--tlsverify", "--tlsverify=true"):
            tls = True
    return all(tls or not h.startswith("tcp://") for h in hosts)

# %% 06.5 wrong: only-first-host
def is_safe(args):
    # Only the first address is judged; dockerd listens on all of them.
    hosts = [args[i + 1] for i, a in enumerate(args) if a in ("-H", "--host")]
    hosts += [a.split("=", 1)[1] for a in args if a.startswith("--host=")]
    verify = "--tlsverify" in args or "--tlsverify=true" in args
    return not hosts or verify or not hosts[0].startswith("tcp://")

# %% 06.5 wrong: tlsverify-false
def is_safe(args):
    # Any --tlsverify... counts, even --tlsverify=false.
    hosts = [args[i + 1] for i, a in enumerate(args) if a in ("-H", "--host")]
    hosts += [a.split("=", 1)[1] for a in args if a.startswith("--host=")]
    verify = any(a.startswith("--tlsverify") for a in args)
    return all(verify or not h.startswith("tcp://") for h in hosts)
