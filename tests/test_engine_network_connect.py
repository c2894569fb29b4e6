"""``POST /networks/{id}/connect`` and ``/disconnect``, IPAM and endpoint settings kept and
shown: the same script on the lab engine and on dockerd, then what only newer API versions
show (on the lab engine, which speaks them).

The test dockerd runs without its default bridge (``--bridge=none``), so the script uses
networks it makes itself.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_fixtures import (
    build_target,
    engine_now_ns,
    ensure_real_busybox,
    http_call,
    pull_busybox,
    unique_token,
    unix_time_arg,
)
from stream_probe import api, remove

from labkit.engine.model.endpoints import HOST_NETWORK, SHARED, WITH_NONE

ENGINES = ["lab", "dockerd"]


def _ipam() -> dict:
    """IPAM with subnets of its own: two networks on one engine may not overlap."""
    n = random.randrange(100, 250)
    return {
        "Driver": "default",
        "Config": [
            {"Subnet": f"10.{n}.0.0/16", "IPRange": f"10.{n}.5.0/24", "Gateway": f"10.{n}.0.1"},
            {"Subnet": f"fd00:{n}::/64"},
        ],
        "Options": {"foo": "bar"},
    }


@pytest.fixture(params=ENGINES)
def engine_socket(request: pytest.FixtureRequest) -> Path:
    if request.param == "lab":
        path = Path(request.getfixturevalue("lab_engine_session").socket)
        pull_busybox(path)
        return path
    path = request.getfixturevalue("real_engine_socket")
    ensure_real_busybox(path)
    return path


@pytest.fixture
def made(engine_socket: Path) -> Iterator[dict[str, str]]:
    token = unique_token()
    names = {key: f"lkn-{token}-{key}" for key in ("net", "net2", "c", "none", "host")}
    yield names
    remove(engine_socket, [names["c"], names["none"], names["host"]])
    for key in ("net", "net2"):
        api(engine_socket, "DELETE", f"/networks/{names[key]}")


def _create(sock: Path, name: str, **host: object) -> str:
    body = {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": host}
    status, reply = api(sock, "POST", "/containers/create", body, name=name)
    assert status == 201, reply
    return reply["Id"]


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_network_create_keeps_ipam_and_ipv6(engine_socket: Path, made: dict[str, str]) -> None:
    ipam = _ipam()
    body = {"Name": made["net"], "EnableIPv6": True, "IPAM": ipam, "Labels": {"a": "b"}}
    status, reply = api(engine_socket, "POST", "/networks/create", body)
    assert status == 201, reply
    _status, network = api(engine_socket, "GET", f"/networks/{made['net']}")
    assert network["EnableIPv6"] is True
    assert network["IPAM"] == ipam
    body["Name"] = made["net2"]
    assert api(engine_socket, "POST", "/networks/create", body) == (
        403,
        {"message": "Pool overlaps with other one on this address space"},
    )
    status, reply = api(engine_socket, "POST", "/networks/create", {"Name": made["net2"]})
    _status, plain = api(engine_socket, "GET", f"/networks/{made['net2']}")
    assert plain["EnableIPv6"] is False
    assert plain["IPAM"]["Options"] is None and plain["IPAM"]["Driver"] == "default"
    [chosen] = plain["IPAM"]["Config"]  # the engine chose a subnet and its gateway
    subnet = ipaddress.ip_network(chosen["Subnet"])  # a private block, its first host the gateway
    assert subnet.is_private and chosen["Gateway"] == str(next(subnet.hosts()))


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_connect_and_disconnect_as_dockerd_does(engine_socket: Path, made: dict[str, str]) -> None:
    sock, net, name = engine_socket, made["net"], made["c"]
    ipam = _ipam()
    assert api(sock, "POST", "/networks/create", {"Name": net, "IPAM": ipam})[0] == 201
    cid = _create(sock, name)
    address = ipam["Config"][0]["IPRange"].replace(".0/24", ".9")
    settings = {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": address}}
    connect = {"Container": name, "EndpointConfig": settings}
    assert api(sock, "POST", f"/networks/{net}/connect", connect) == (200, None)
    # again while it is stopped: nothing changes, nothing is said
    assert api(sock, "POST", f"/networks/{net}/connect", {"Container": name}) == (200, None)
    _status, inspect = api(sock, "GET", f"/containers/{cid}/json")
    endpoint = inspect["NetworkSettings"]["Networks"][net]
    assert endpoint["IPAMConfig"] == {"IPv4Address": address}
    assert endpoint["Aliases"] == ["web", "www", cid[:12]]  # API 1.41: and the short id
    _status, network = api(sock, "GET", f"/networks/{net}")
    assert network["Containers"] == {}  # only running containers are shown there
    assert api(sock, "POST", f"/containers/{cid}/start")[0] == 204
    _status, network = api(sock, "GET", f"/networks/{net}")
    assert network["Containers"][cid]["Name"] == name
    assert api(sock, "POST", f"/networks/{net}/connect", {"Container": name}) == (
        403,
        {"message": f"endpoint with name {name} already exists in network {net}"},
    )
    since = engine_now_ns(sock)
    assert api(sock, "POST", f"/networks/{net}/disconnect", {"Container": name}) == (200, None)
    _status, inspect = api(sock, "GET", f"/containers/{cid}/json")
    assert net not in inspect["NetworkSettings"]["Networks"]
    # (dockerd 20.10 logs this one twice, from the endpoint and from the container)
    events = [e for e in _network_events(sock, net, since) if e["Action"] == "disconnect"]
    assert events
    for event in events:
        assert event["Actor"]["Attributes"] == {"container": cid, "name": net, "type": "bridge"}
    not_connected = f"container {cid} is not connected to network {net}"
    for force in (False, True):
        body = {"Container": name, "Force": force}
        assert api(sock, "POST", f"/networks/{net}/disconnect", body) == (
            500,
            {"message": not_connected},
        )
    assert api(sock, "POST", f"/containers/{cid}/stop", t="0")[0] == 204
    assert api(sock, "POST", f"/networks/{net}/disconnect", {"Container": name}) == (
        500,
        {"message": f"container {cid} is not connected to the network {net}"},
    )


def _network_events(sock: Path, net: str, since: int) -> list[dict]:
    until = engine_now_ns(sock) + 1_000_000_000
    query = {"since": unix_time_arg(since), "until": unix_time_arg(until)}
    query["filters"] = {"network": [net]}
    reply = http_call(sock, "GET", build_target("/v1.41/events", query))
    assert reply.status == 200
    return [json.loads(line) for line in reply.body.splitlines() if line.strip()]


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_connect_refusals(engine_socket: Path, made: dict[str, str]) -> None:
    sock, net = engine_socket, made["net"]
    api(sock, "POST", "/networks/create", {"Name": net})
    missing = f"lkn-{unique_token()}-missing"
    assert api(sock, "POST", f"/networks/{net}/connect", {"Container": missing}) == (
        404,
        {"message": f"No such container: {missing}"},
    )
    assert api(sock, "POST", f"/networks/{missing}/connect", {"Container": missing}) == (
        404,
        {"message": f"No such container: {missing}"},  # the container is looked up first
    )
    body = {"Container": missing, "Force": True}
    assert api(sock, "POST", f"/networks/{net}/disconnect", body) == (
        404,
        {"message": f"endpoint {missing} not found"},
    )
    _create(sock, made["none"], NetworkMode="none")
    assert api(sock, "POST", f"/networks/{net}/connect", {"Container": made["none"]}) == (
        400,
        {"message": WITH_NONE},
    )
    _create(sock, made["host"], NetworkMode="host")
    assert api(sock, "POST", f"/networks/{net}/connect", {"Container": made["host"]}) == (
        400,
        {"message": SHARED},
    )
    assert api(sock, "POST", "/networks/host/connect", {"Container": made["none"]}) == (
        400,
        {"message": HOST_NETWORK},
    )


# --- what newer API versions show, and the checks Docker 25+ makes (lab engine only)


@pytest.fixture
def lab(lab_engine_session) -> Iterator[tuple[Path, dict[str, str]]]:
    sock = Path(lab_engine_session.socket)
    pull_busybox(sock)
    token = unique_token()
    names = {key: f"lkn-{token}-{key}" for key in ("net", "c", "d")}
    yield sock, names
    remove(sock, [names["c"], names["d"]])
    api(sock, "DELETE", f"/networks/{names['net']}")


@pytest.mark.lab_engine
def test_aliases_and_dns_names_follow_the_api_version(lab) -> None:
    sock, names = lab
    api(sock, "POST", "/networks/create", {"Name": names["net"]})
    cid = _create(sock, names["c"])
    connect = {"Container": names["c"], "EndpointConfig": {"Aliases": ["web"]}}
    assert api(sock, "POST", f"/networks/{names['net']}/connect", connect) == (200, None)

    def endpoint(version: str) -> dict:
        _status, inspect = api(sock, "GET", f"/containers/{cid}/json", api_version=version)
        return inspect["NetworkSettings"]["Networks"][names["net"]]

    assert endpoint("1.41")["Aliases"] == ["web", cid[:12]]
    assert "DNSNames" not in endpoint("1.43")
    assert endpoint("1.44")["Aliases"] == ["web", cid[:12]]
    assert endpoint("1.44")["DNSNames"] == [names["c"], "web", cid[:12]]
    assert endpoint("1.45")["Aliases"] == ["web"]  # exactly what the client gave
    assert "GwPriority" not in endpoint("1.47") and endpoint("1.48")["GwPriority"] == 0
    assert endpoint("1.51")["DNSNames"] == [names["c"], "web", cid[:12]]
    # on the default bridge: no aliases, no DNS names
    assert endpoint("1.51") is not None
    _status, inspect = api(sock, "GET", f"/containers/{cid}/json", api_version="1.51")
    assert inspect["NetworkSettings"]["Networks"]["bridge"]["DNSNames"] is None


@pytest.mark.lab_engine
def test_create_keeps_networking_config(lab) -> None:
    sock, names = lab
    api(sock, "POST", "/networks/create", {"Name": names["net"]})
    body = {
        "Image": "busybox",
        "Cmd": ["sleep", "60"],
        "HostConfig": {"NetworkMode": names["net"]},
        "NetworkingConfig": {"EndpointsConfig": {names["net"]: {"Aliases": ["db"]}}},
    }
    status, reply = api(sock, "POST", "/containers/create", body, name=names["d"])
    assert status == 201, reply
    _status, inspect = api(sock, "GET", f"/containers/{reply['Id']}/json", api_version="1.51")
    assert inspect["NetworkSettings"]["Networks"][names["net"]]["Aliases"] == ["db"]


@pytest.mark.lab_engine
def test_bad_ipam_and_endpoint_settings_are_400s_with_dockerds_words(lab) -> None:
    sock, names = lab
    bad = {"Config": [{"Subnet": "10.9.0.0/16", "Gateway": "10.8.0.1", "IPRange": "10.9.1.7/24"}]}
    status, reply = api(sock, "POST", "/networks/create", {"Name": names["net"], "IPAM": bad})
    assert status == 400
    assert reply["message"] == (
        "invalid network config:\n"
        "* invalid ip-range 10.9.1.7/24: it should be 10.9.1.0/24\n"
        "* invalid gateway 10.8.0.1: parent subnet 10.9.0.0/16 doesn't contain this address"
    )
    cid = _create(sock, names["c"])
    del cid
    settings = {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "172.17.0.9"}}
    status, reply = api(
        sock,
        "POST",
        "/networks/bridge/connect",
        {"Container": names["c"], "EndpointConfig": settings},
    )
    assert status == 400
    assert reply["message"] == (
        "invalid endpoint settings:\n"
        "* user-specified IP address is supported on user-defined networks only\n"
        "* network-scoped aliases are only supported for user-defined networks"
    )
