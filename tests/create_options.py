"""Scenarios for what ``POST /containers/create`` keeps and applies, runnable on any engine.

Each scenario drives one engine through the Engine API and returns what a client can
observe (inspect fields, statuses and messages, a command's output, events); the lab
engine's tests assert on those, and the differential test compares the lab engine's with
dockerd's. Every name carries the run's token, and :func:`cleanup` removes them all.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

from differential_requests import demux
from image_fixtures import build_target, http_call, wait_until

WAIT = 60.0  # seconds a scenario waits for an engine to settle (never a timing check)
BUSYBOX = "busybox"


class Api:
    """One engine at one API version."""

    def __init__(self, socket_path: Any, version: str, token: str) -> None:
        self.socket, self.version, self.token = socket_path, version, token
        self.names: list[str] = []
        self.volumes: list[str] = []

    def call(
        self, method: str, path: str, body: Any = None, query: dict | None = None, **kw: Any
    ) -> tuple[int, Any]:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        target = build_target(f"/v{self.version}{path}", query)
        reply = http_call(self.socket, method, target, body=data, timeout=kw.get("timeout", 30))
        try:
            return reply.status, json.loads(reply.body) if reply.body.strip() else None
        except ValueError:
            return reply.status, reply.body

    def name(self, what: str) -> str:
        name = f"lkc-{self.token}-{what}"
        self.names.append(name)
        return name

    def create(self, what: str, cmd: list[str] | None = None, **body: Any) -> tuple[int, Any]:
        body.setdefault("Image", BUSYBOX)
        body.setdefault("Cmd", cmd or ["sleep", "300"])
        return self.call("POST", "/containers/create", body, {"name": self.name(what)})

    def start(self, what: str) -> tuple[int, Any]:
        return self.call("POST", f"/containers/{self.ref(what)}/start")

    def ref(self, what: str) -> str:
        return f"lkc-{self.token}-{what}"

    def inspect(self, what: str) -> dict[str, Any]:
        status, data = self.call("GET", f"/containers/{self.ref(what)}/json")
        assert status == 200, data
        return data

    def run(self, what: str, cmd: list[str], **body: Any) -> tuple[int, bytes, bytes]:
        """Create, start, wait: (exit code, stdout, stderr)."""
        status, data = self.create(what, cmd, **body)
        assert status == 201, data
        status, data = self.start(what)
        assert status == 204, data
        status, data = self.call("POST", f"/containers/{self.ref(what)}/wait", timeout=WAIT)
        code = data["StatusCode"]
        out, err = self.logs(what)
        return code, out, err

    def logs(self, what: str) -> tuple[bytes, bytes]:
        target = build_target(
            f"/v{self.version}/containers/{self.ref(what)}/logs", {"stdout": 1, "stderr": 1}
        )
        reply = http_call(self.socket, "GET", target)
        out, err, _ = demux(reply.body)
        return out, err

    def now(self) -> str:
        status, data = self.call("GET", "/info")
        return str(int(time.time()) - 1) if status != 200 else _unix(data["SystemTime"])

    def actions(self, what: str, since: str, wanted: set[str] | None = None) -> list[str]:
        """The actions of one container's events since ``since`` (until now)."""
        query = {
            "since": since,
            "until": str(int(self.now()) + 3),  # by the engine's own clock
            "filters": {"container": [self.ref(what)]},
        }
        target = build_target(f"/v{self.version}/events", query)
        reply = http_call(self.socket, "GET", target, timeout=WAIT)
        out = [json.loads(line)["Action"] for line in reply.body.splitlines() if line.strip()]
        return [a for a in out if wanted is None or a.split(":")[0] in wanted]


def _unix(rfc: str) -> str:
    from image_fixtures import rfc3339_to_ns

    return str(rfc3339_to_ns(rfc) // 1_000_000_000 - 1)


def cleanup(api: Api) -> None:
    for name in api.names:
        api.call("DELETE", f"/containers/{name}", query={"force": 1, "v": 1})
    for volume in api.volumes:
        api.call("DELETE", f"/volumes/{volume}", query={"force": 1})


# --- what is kept

FULL_HOST_CONFIG: dict[str, Any] = {
    "Binds": [],
    "ContainerIDFile": "",
    "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
    "NetworkMode": "bridge",
    "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "18080"}]},
    "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
    "AutoRemove": False,
    "VolumeDriver": "",
    "VolumesFrom": [],
    "CapAdd": ["NET_ADMIN"],
    "CapDrop": ["MKNOD"],
    "Dns": ["192.0.2.53"],
    "DnsOptions": ["ndots:2"],
    "DnsSearch": ["example.com"],
    "ExtraHosts": ["h1:192.0.2.1"],
    "GroupAdd": ["1234"],
    "IpcMode": "private",
    "Cgroup": "",
    "OomScoreAdj": 100,
    "PidMode": "",
    "Privileged": False,
    "PublishAllPorts": True,
    "ReadonlyRootfs": True,
    "SecurityOpt": ["no-new-privileges"],
    "Tmpfs": {"/run": "size=1m"},
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 1048576,
    "Sysctls": {"net.ipv4.ip_forward": "1"},
    "Runtime": "runc",
    "Isolation": "",
    "CpuShares": 512,
    "Memory": 67108864,
    "NanoCpus": 500000000,
    "CgroupParent": "",
    "CpusetCpus": "0",
    "CpusetMems": "",
    "Devices": [],
    "DeviceCgroupRules": ["c 1:3 mr"],
    "MemoryReservation": 33554432,
    "MemorySwap": 134217728,
    "MemorySwappiness": 10,
    "OomKillDisable": False,
    "PidsLimit": 100,
    "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
    "MaskedPaths": ["/proc/kcore"],
    "ReadonlyPaths": ["/proc/sys"],
    "Init": True,
}
FULL_CONFIG: dict[str, Any] = {
    "Hostname": "kept",
    "Domainname": "example.com",
    "ExposedPorts": {"80/tcp": {}},
    "Env": ["A=1"],
    "Healthcheck": {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 1_000_000_000,
        "Timeout": 2_000_000_000,
        "Retries": 2,
    },
    "Volumes": {"/data": {}},
    "WorkingDir": "/tmp",
    "StopSignal": "SIGUSR1",
    "StopTimeout": 3,
    "Shell": ["/bin/sh", "-c"],
    "MacAddress": "02:42:ac:11:00:09",
    "OnBuild": ["RUN true"],
}


def full_create(api: Api) -> dict[str, Any]:
    """Inspect after a create that sets nearly every field."""
    status, data = api.create("full", **FULL_CONFIG, HostConfig=FULL_HOST_CONFIG)
    assert status == 201, data
    return api.inspect("full")


def minimal_create(api: Api) -> dict[str, Any]:
    status, data = api.create("min", ["true"])
    assert status == 201, data
    return api.inspect("min")


# --- what is refused

REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (the config, its HostConfig)
    "log-driver": ({}, {"LogConfig": {"Type": "labkit-nosuch"}}),
    "log-opt": ({}, {"LogConfig": {"Type": "json-file", "Config": {"bogus": "1"}}}),
    "host-links": ({}, {"NetworkMode": "host", "Links": ["x:y"]}),
    "host-mac": ({"MacAddress": "02:42:ac:11:00:09"}, {"NetworkMode": "host"}),
    "two-endpoints": (
        {"NetworkingConfig": {"EndpointsConfig": {"bridge": {}, "none": {}}}},
        {},
    ),
    "link-missing": ({}, {"Links": ["labkit-no-such-container:al"]}),
    "autoremove-restart": ({}, {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}),
    "restart-count-negative": (
        {},
        {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}},
    ),
    "health-interval": ({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000}}, {}),
    "health-retries": ({"Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}}, {}),
    "grouadd-type": ({}, {"GroupAdd": "audio"}),
    "swap-below-memory": ({}, {"Memory": 67108864, "MemorySwap": 33554432}),
}
START_REFUSALS: dict[str, dict[str, Any]] = {
    "network-missing": {"NetworkMode": "labkit-no-such-network"},
    "container-missing": {"NetworkMode": "container:labkit-no-such-container"},
    "group-missing": {"GroupAdd": ["labkitnosuchgroup"]},
}


def refusals(api: Api) -> dict[str, tuple[int, str]]:
    out = {}
    for what, (config, host) in REFUSALS.items():
        status, data = api.create(f"no-{what}", ["true"], **config, HostConfig=host)
        message = (data or {}).get("message", "") if isinstance(data, dict) else data
        head, sep, names = message.partition("network endpoints: ")
        if sep:  # dockerd names them in a Go map's (random) order
            message = head + sep + ", ".join(sorted(names.split(", ")))
        out[what] = (status, message)
    for what, host in START_REFUSALS.items():
        status, data = api.create(f"ns-{what}", ["true"], HostConfig=host)
        assert status == 201, data
        status, data = api.start(f"ns-{what}")
        out[what] = (status, (data or {}).get("message", ""))
    return out


# --- what is applied


def group_add(api: Api) -> str:
    code, out, err = api.run("groups", ["id", "-G"], HostConfig={"GroupAdd": ["1234", "root"]})
    assert code == 0, err
    return out.decode()


def read_only(api: Api) -> tuple[int, str, str]:
    """A write to the root, and one to a volume, in a container with a read-only root."""
    code, out, err = api.run(
        "ro",
        ["sh", "-c", "touch /x; echo hi > /data/f && cat /data/f"],
        Volumes={"/data": {}},
        HostConfig={"ReadonlyRootfs": True},
    )
    return code, out.decode(), err.decode()


def read_only_archive(api: Api) -> tuple[int, Any, int]:
    """PUT of a file to the root and to a volume of a read-only container."""
    data = _tar("f.txt", b"hi")
    status, reply = api.call("PUT", f"/containers/{api.ref('ro')}/archive", data, {"path": "/"})
    message = reply.get("message") if isinstance(reply, dict) else reply
    status2, _ = api.call("PUT", f"/containers/{api.ref('ro')}/archive", data, {"path": "/data"})
    return status, message, status2


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def restart_on_failure(api: Api) -> dict[str, Any]:
    """on-failure:2 and a command that fails: started three times in all, then left exited."""
    since = api.now()
    status, data = api.create(
        "onfail",
        ["sh", "-c", "echo run; exit 3"],
        HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    )
    assert status == 201, data
    api.start("onfail")

    def settled() -> bool:
        info = api.inspect("onfail")
        return info["RestartCount"] == 2 and info["State"]["Status"] == "exited"

    wait_until(settled, WAIT)
    time.sleep(1.0)  # long past a third backoff (400 ms): no restart is pending
    info = api.inspect("onfail")
    out, _ = api.logs("onfail")
    return {
        "RestartCount": info["RestartCount"],
        "Status": info["State"]["Status"],
        "ExitCode": info["State"]["ExitCode"],
        "output": out.decode(),
        "actions": api.actions("onfail", since, {"create", "start", "die", "restart"}),
    }


def restart_always_then_stop(api: Api) -> dict[str, Any]:
    """always: a command that ends is started again; a stop by the user ends that."""
    status, data = api.create(
        "always", ["sh", "-c", "sleep 0.2"], HostConfig={"RestartPolicy": {"Name": "always"}}
    )
    assert status == 201, data
    api.start("always")
    restarted = wait_until(lambda: api.inspect("always")["RestartCount"] >= 2, WAIT)
    status, _ = api.call("POST", f"/containers/{api.ref('always')}/stop", query={"t": 1})
    count = api.inspect("always")["RestartCount"]
    time.sleep(1.5)
    info = api.inspect("always")
    return {
        "restarted": restarted,
        "stop": status,
        "Status": info["State"]["Status"],
        "counted after the stop": info["RestartCount"] - count,
    }


def links(api: Api) -> dict[str, Any]:
    status, data = api.create("child", ExposedPorts={"80/tcp": {}}, Env=["SECRET=1"])
    assert status == 201, data
    api.start("child")
    code, out, err = api.run(
        "parent",
        ["sh", "-c", "env; echo ---; cat /etc/hosts"],
        HostConfig={"Links": [f"{api.ref('child')}:web"]},
    )
    assert code == 0, err
    env_text, _, hosts = out.decode().partition("---\n")
    names = sorted(line.split("=")[0] for line in env_text.splitlines() if line.startswith("WEB_"))
    values = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in env_text.splitlines()
        if line.startswith(("WEB_NAME=", "WEB_ENV_"))
    }
    host_line = next((line.split()[1:] for line in hosts.splitlines() if "web" in line.split()), [])
    stored = api.inspect("parent")["HostConfig"]["Links"]
    parent = api.ref("parent")
    removed = api.call("DELETE", f"/containers/{parent}/web", query={"link": 1})
    after = api.inspect("parent")["HostConfig"]["Links"]
    again = api.call("DELETE", f"/containers/{parent}/web", query={"link": 1})
    own = api.call("DELETE", f"/containers/{api.ref('child')}", query={"link": 1})
    return {
        "env names": names,
        "env values": values,
        "hosts names": host_line[:1] + host_line[2:],  # the alias and the name (not the id)
        "stored": stored,
        "remove": removed,
        "after": after,
        "again": again,
        "own name": own,
    }


def healthcheck(api: Api) -> dict[str, Any]:
    """A probe that fails until a file appears: starting, unhealthy, then healthy."""
    since = api.now()
    status, data = api.create(
        "health",
        Healthcheck={
            "Test": ["CMD-SHELL", "cat /tmp/ok"],
            "Interval": 200_000_000,
            "Timeout": 5_000_000_000,
            "Retries": 2,
        },
    )
    assert status == 201, data
    before = api.inspect("health")["State"].get("Health")
    api.start("health")
    first = api.inspect("health")["State"]["Health"]["Status"]
    wait_until(lambda: api.inspect("health")["State"]["Health"]["Status"] == "unhealthy", WAIT)
    unhealthy = api.inspect("health")["State"]["Health"]
    status, data = api.call(
        "POST",
        f"/containers/{api.ref('health')}/exec",
        {"Cmd": ["sh", "-c", "echo fine > /tmp/ok"]},
    )
    api.call("POST", f"/exec/{data['Id']}/start", {"Detach": False})
    wait_until(lambda: api.inspect("health")["State"]["Health"]["Status"] == "healthy", WAIT)
    healthy = api.inspect("health")["State"]["Health"]
    listed = api.call(
        "GET",
        "/containers/json",
        query={"filters": {"health": ["healthy"], "name": [api.ref("health")]}},
    )[1]
    api.call("POST", f"/containers/{api.ref('health')}/stop", query={"t": 1})
    stopped = api.inspect("health")["State"]["Health"]["Status"]
    return {
        "before start": before,
        "first": first,
        "unhealthy": unhealthy,
        "healthy": healthy,
        "listed": len(listed),
        "stopped": stopped,
        "events": [a for a in api.actions("health", since) if a.startswith("health_status")],
    }


def update(api: Api) -> dict[str, Any]:
    status, data = api.create("upd")
    assert status == 201, data
    ref = api.ref("upd")
    out: dict[str, Any] = {}
    out["ok"] = api.call(
        "POST",
        f"/containers/{ref}/update",
        {"CpuShares": 100, "PidsLimit": 50, "RestartPolicy": {"Name": "unless-stopped"}},
    )
    host = api.inspect("upd")["HostConfig"]
    out["kept"] = {k: host[k] for k in ("CpuShares", "PidsLimit", "RestartPolicy")}
    out["memory without swap"] = api.call("POST", f"/containers/{ref}/update", {"Memory": 33554432})
    out["memory and swap"] = api.call(
        "POST", f"/containers/{ref}/update", {"Memory": 33554432, "MemorySwap": 67108864}
    )
    host = api.inspect("upd")["HostConfig"]
    out["memory kept"] = (host["Memory"], host["MemorySwap"])
    out["too little"] = api.call("POST", f"/containers/{ref}/update", {"Memory": 1000})
    out["wrong type"] = api.call("POST", f"/containers/{ref}/update", {"Memory": "x"})[0]
    out["missing"] = api.call("POST", "/containers/labkit-no-such-container/update", {})
    status, data = api.create("upd-rm", HostConfig={"AutoRemove": True})
    out["autoremove"] = api.call(
        "POST", f"/containers/{api.ref('upd-rm')}/update", {"RestartPolicy": {"Name": "always"}}
    )
    return out


def prune_containers_space(api: Api) -> tuple[int, Any]:
    """What a container prune gives back: the 1000 bytes a container wrote (only this
    run's container is pruned: it alone carries the run's label)."""
    label = {"org.labkit.create-options": api.token}
    code, _, err = api.run("prune-c", ["sh", "-c", "head -c 1000 /dev/zero > /x"], Labels=label)
    assert code == 0, err
    status, data = api.call(
        "POST",
        "/containers/prune",
        query={"filters": {"label": [f"org.labkit.create-options={api.token}"]}},
    )
    return status, data["SpaceReclaimed"] if isinstance(data, dict) else data


def prune_volumes_space(api: Api) -> int:
    """What a volume prune gives back: the 500 bytes written to an anonymous volume (on an
    engine of the test's own: a prune takes every unused volume)."""
    code, _, err = api.run(
        "prune-v", ["sh", "-c", "head -c 500 /dev/zero > /data/f"], Volumes={"/data": {}}
    )
    assert code == 0, err
    api.call("DELETE", f"/containers/{api.ref('prune-v')}")
    status, data = api.call("POST", "/volumes/prune")
    assert status == 200, data
    return data["SpaceReclaimed"]


def anonymous_volume(api: Api) -> dict[str, Any]:
    _, out, _ = api.run("anon", ["sh", "-c", "test -d /data && echo there"], Volumes={"/data": {}})
    mounts = api.inspect("anon")["Mounts"]
    volume = mounts[0]["Name"] if mounts else ""
    api.volumes.append(volume)
    put = api.call(
        "PUT", f"/containers/{api.ref('anon')}/archive", _tar("f", b"hi"), {"path": "/data"}
    )
    target = build_target(
        f"/v{api.version}/containers/{api.ref('anon')}/archive", {"path": "/data/f"}
    )
    got = http_call(api.socket, "GET", target)
    content = None
    if got.status == 200:
        with tarfile.open(fileobj=io.BytesIO(got.body)) as tar:
            member = tar.extractfile("f")
            content = member.read() if member else None
    removed = api.call("DELETE", f"/containers/{api.ref('anon')}", query={"v": 1})
    volume_after = api.call("GET", f"/volumes/{volume}")[0]
    return {
        "output": out.decode(),
        "mount": {k: v for k, v in mounts[0].items() if k not in ("Name", "Source")},
        "name is an id": len(volume) == 64,
        "put": put[0],
        "read back": content,
        "remove": removed[0],
        "volume after -v": volume_after,
    }


def host_ports_warning(api: Api) -> tuple[int, list[str]]:
    """Ports published in host network mode: created, with dockerd's warning."""
    status, data = api.create(
        "hostports",
        HostConfig={"NetworkMode": "host", "PortBindings": {"80/tcp": [{"HostPort": "18081"}]}},
    )
    return status, data["Warnings"]
