"""Swarm routes on a node that is not part of a swarm: dockerd's statuses and words.

Clients test for the 503 (``docker node ls`` prints its message; docker-py raises an
APIError with that status). The same requests go to the lab engine and to dockerd; none
of them could start a swarm on dockerd (each is refused before it would).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stream_probe import api

from labkit.engine.api.swarm import NOT_A_MANAGER, NOT_IN_A_SWARM

ENGINES = ["lab", "dockerd"]

# (method, path, body, query, status, message)
REFUSED = [
    ("GET", "/swarm", None, {}, 503, NOT_A_MANAGER),
    ("GET", "/swarm/unlockkey", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/swarm/unlock", {"UnlockKey": "x"}, {}, 503, NOT_A_MANAGER),
    ("POST", "/swarm/leave", None, {}, 503, NOT_IN_A_SWARM),
    ("POST", "/swarm/update", {}, {"version": "1"}, 503, NOT_A_MANAGER),
    ("POST", "/swarm/update", {}, {}, 400,
     "invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax"),
    ("POST", "/swarm/init", {}, {}, 400, 'invalid ListenAddr "": invalid empty address'),
    ("POST", "/swarm/join", {}, {}, 400, 'invalid ListenAddr "": invalid empty address'),
    ("GET", "/nodes", None, {}, 503, NOT_A_MANAGER),
    ("GET", "/nodes/n1", None, {}, 503, NOT_A_MANAGER),
    ("DELETE", "/nodes/n1", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/nodes/n1/update", {}, {"version": "3"}, 503, NOT_A_MANAGER),
    ("POST", "/nodes/n1/update", {}, {"version": "x"}, 400,
     "invalid node version 'x': strconv.ParseUint: parsing \"x\": invalid syntax"),
    ("GET", "/services", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/services/create", {"Name": "web"}, {}, 503, NOT_A_MANAGER),
    ("GET", "/services/s1", None, {}, 503, NOT_A_MANAGER),
    ("DELETE", "/services/s1", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/services/s1/update", {}, {"version": "1"}, 503, NOT_A_MANAGER),
    ("GET", "/services/s1/logs", None, {"stdout": "1"}, 503, NOT_A_MANAGER),
    ("GET", "/tasks", None, {}, 503, NOT_A_MANAGER),
    ("GET", "/tasks/t1", None, {}, 503, NOT_A_MANAGER),
    ("GET", "/tasks/t1/logs", None, {"stderr": "1"}, 503, NOT_A_MANAGER),
    ("GET", "/secrets", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/secrets/create", {"Name": "s"}, {}, 503, NOT_A_MANAGER),
    ("GET", "/secrets/s1", None, {}, 503, NOT_A_MANAGER),
    ("DELETE", "/secrets/s1", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/secrets/s1/update", {}, {"version": "1"}, 503, NOT_A_MANAGER),
    ("POST", "/secrets/s1/update", {}, {}, 400, "invalid secret version"),
    ("GET", "/configs", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/configs/create", {"Name": "c"}, {}, 503, NOT_A_MANAGER),
    ("GET", "/configs/c1", None, {}, 503, NOT_A_MANAGER),
    ("DELETE", "/configs/c1", None, {}, 503, NOT_A_MANAGER),
    ("POST", "/configs/c1/update", {}, {"version": "1"}, 503, NOT_A_MANAGER),
    ("POST", "/configs/c1/update", {}, {"version": "-1"}, 400, "invalid config version"),
]  # fmt: skip


@pytest.fixture(params=ENGINES)
def engine_socket(request: pytest.FixtureRequest) -> Path:
    if request.param == "lab":
        return Path(request.getfixturevalue("lab_engine_session").socket)
    return request.getfixturevalue("real_engine_socket")


@pytest.mark.lab_engine
@pytest.mark.real_engine
def test_every_swarm_route_answers_as_a_node_outside_a_swarm(engine_socket: Path) -> None:
    wrong = []
    for method, path, body, query, status, message in REFUSED:
        got = api(engine_socket, method, path, body, **query)
        if got != (status, {"message": message}):
            wrong.append(f"{method} {path} {query}: {got}, wanted {status} {message!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.lab_engine
def test_swarm_init_and_join_say_the_lab_engine_cannot(lab_engine_session) -> None:
    sock = Path(lab_engine_session.socket)
    status, body = api(sock, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377"})
    assert status == 501 and "real Docker Engine" in body["message"]
    status, body = api(sock, "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377"})
    assert (status, body["message"]) == (400, "at least 1 RemoteAddr is required to join")
    join = {"ListenAddr": "0.0.0.0:2377", "RemoteAddrs": ["10.0.0.1:2377"]}
    status, body = api(sock, "POST", "/swarm/join", join)
    assert status == 501 and "cannot join" in body["message"]
    # and the ping, /info and the CLI agree that there is no swarm here
    status, info = api(sock, "GET", "/info")
    assert info["Swarm"]["LocalNodeState"] == "inactive"


@pytest.mark.lab_engine
def test_docker_node_ls_prints_dockerds_message(lab_engine_session) -> None:
    import shutil
    import subprocess

    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    done = subprocess.run(
        ["docker", "node", "ls"], env=lab_engine_session.env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert NOT_A_MANAGER in done.stderr
