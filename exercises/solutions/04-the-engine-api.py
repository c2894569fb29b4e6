"""Worked answers for exercises/04-the-engine-api.ipynb.

Each block below starts with a marker line: "solution" is a worked answer; "wrong: NAME" is a
plausible mistake kept beside it, with the name of the hint the check gives for it (the tests
prove that each one is turned down with that hint). Read the wrong ones too: they are the
mistakes people really make.
"""

# %% 04.1 solution
def names_in(api, repository):
    """Every name (repo:tag) the engine has in `repository`, e.g. ['web:1.0', 'web:latest']."""
    # The engine does the choosing: a `reference` filter with the repository's exact name.
    images = api.get("/images/json", params={"filters": {"reference": [repository]}})
    # One image may carry several names, so go through every name of every image.
    return [name for image in images for name in image["RepoTags"]]

# %% 04.1 wrong: prefix-match
def names_in(api, repository):
    # The wildcard also takes in other repositories whose names start the same way.
    images = api.get("/images/json", params={"filters": {"reference": [repository + "*"]}})
    return [name for image in images for name in image["RepoTags"]]

# %% 04.1 wrong: other-repositories
def names_in(api, repository):
    # No filter at all: every name of every image on the engine.
    images = api.get("/images/json")
    return [name for image in images for name in image["RepoTags"] or []]

# %% 04.1 wrong: filter-shape
def names_in(api, repository):
    # Each filter's value must be a list: the engine refuses a bare string.
    images = api.get("/images/json", params={"filters": {"reference": repository}})
    return [name for image in images for name in image["RepoTags"]]

# %% 04.2 solution
def state_of(api, name):
    """(status, exit code) of the container `name`, e.g. ('exited', 3)."""
    info = api.get(f"/containers/{name}/json")  # inspect: a name works as well as an id
    return info["State"]["Status"], info["State"]["ExitCode"]

# %% 04.2 wrong: list-without-all
def state_of(api, name):
    # The list without all=true holds running containers only: a created or exited one is missing.
    found = api.get("/containers/json", params={"filters": {"name": [name]}})
    return found[0]["State"], 0

# %% 04.2 wrong: status-prose
def state_of(api, name):
    # The list's Status is text for people, such as "Exited (3) 5 seconds ago".
    found = api.get("/containers/json", params={"all": True, "filters": {"name": [name]}})
    status = found[0]["Status"]
    code = int(status.split("(")[1].split(")")[0]) if "(" in status else 0
    return status, code

# %% 04.3 solution
def run(api, command):
    """Run `command` in a new busybox container: (exit code, what it wrote to stdout)."""
    created = api.request("POST", "/containers/create", json={"Image": "busybox", "Cmd": command})
    cid = created.json()["Id"]
    try:
        api.request("POST", f"/containers/{cid}/start")
        exit_code = api.request("POST", f"/containers/{cid}/wait").json()["StatusCode"]
        logs = api.request("GET", f"/containers/{cid}/logs", params={"stdout": True})
    finally:  # remove the container even if a step above failed
        api.request("DELETE", f"/containers/{cid}", params={"force": True})
    stdout, _stderr = demux(logs.body)  # the logs come in frames: take the payloads out
    return exit_code, stdout

# %% 04.3 wrong: container-left
def run(api, command):
    # Everything but the last step: the stopped container stays on the engine.
    created = api.request("POST", "/containers/create", json={"Image": "busybox", "Cmd": command})
    cid = created.json()["Id"]
    api.request("POST", f"/containers/{cid}/start")
    exit_code = api.request("POST", f"/containers/{cid}/wait").json()["StatusCode"]
    logs = api.request("GET", f"/containers/{cid}/logs", params={"stdout": True})
    return exit_code, demux(logs.body)[0]

# %% 04.3 wrong: frames-kept
def run(api, command):
    # The logs body is returned as it came, frame headers and all.
    created = api.request("POST", "/containers/create", json={"Image": "busybox", "Cmd": command})
    cid = created.json()["Id"]
    api.request("POST", f"/containers/{cid}/start")
    exit_code = api.request("POST", f"/containers/{cid}/wait").json()["StatusCode"]
    logs = api.request("GET", f"/containers/{cid}/logs", params={"stdout": True})
    api.request("DELETE", f"/containers/{cid}")
    return exit_code, logs.body

# %% 04.4 solution
predicted_streams = [1, 1, 2, 1]  # one frame per echo: begin, still (stdout), oops (stderr), end

# %% 04.4 wrong: wrong-prediction
predicted_streams = [1, 2, 1]  # as if the two stdout lines shared one frame

# %% 04.5 solution
def split_streams(pieces):
    """(stdout, stderr): the payloads of the frames in `pieces`, sorted by stream."""
    stdout, stderr, buffer = b"", b"", b""
    for piece in pieces:
        buffer += piece
        # Take whole frames off the front; what is left waits for the next piece.
        while len(buffer) >= 8:
            stream, length = struct.unpack(">BxxxL", buffer[:8])
            if len(buffer) < 8 + length:
                break  # the payload is not all here yet
            payload, buffer = buffer[8 : 8 + length], buffer[8 + length :]
            if stream == 1:
                stdout += payload
            elif stream == 2:
                stderr += payload
    return stdout, stderr

# %% 04.5 wrong: stream-type-ignored
def split_streams(pieces):
    # Every payload ends up in stdout, whatever its frame's first byte says.
    stdout, buffer = b"", b""
    for piece in pieces:
        buffer += piece
        while len(buffer) >= 8:
            _stream, length = struct.unpack(">BxxxL", buffer[:8])
            if len(buffer) < 8 + length:
                break
            stdout, buffer = stdout + buffer[8 : 8 + length], buffer[8 + length :]
    return stdout, b""

# %% 04.5 wrong: frame-split
def split_streams(pieces):
    # Takes each piece as whole frames: right until a frame is cut across two pieces.
    stdout, stderr = b"", b""
    for piece in pieces:
        pos = 0
        while pos < len(piece):
            stream, length = struct.unpack(">BxxxL", piece[pos : pos + 8])
            payload = piece[pos + 8 : pos + 8 + length]
            if stream == 1:
                stdout += payload
            else:
                stderr += payload
            pos += 8 + length
    return stdout, stderr

# %% 04.6 solution
def wait_for_event(api, name, action):
    """Wait for the event `action` ('start', 'die'…) of the container `name`; return it."""
    wanted = {"type": ["container"]}  # container events only; the rest are sorted below
    # timeout=None: the stream may stay quiet for a long time, and that is not an error.
    with api.stream("GET", "/events", params={"filters": wanted}, timeout=None) as events:
        for event in events.json():  # one dict per line, as each event happens
            who = event["Actor"]["Attributes"].get("name")
            if who == name and event["Action"] == action:
                return event  # leaving the `with` block hangs up the stream

# %% 04.6 wrong: other-container
def wait_for_event(api, name, action):
    # Only the Action is compared: the first container to do it wins.
    with api.stream("GET", "/events", timeout=None) as events:
        for event in events.json():
            if event["Action"] == action:
                return event

# %% 04.6 wrong: earlier-event
def wait_for_event(api, name, action):
    # Only the name is compared: the container's first event (its creation) wins.
    with api.stream("GET", "/events", timeout=None) as events:
        for event in events.json():
            if event["Actor"]["Attributes"].get("name") == name:
                return event
