"""Filters a list endpoint does not know are refused, as dockerd refuses them.

A typo in a filter (`colour` for `label`) that silently listed everything would
teach the wrong lesson; dockerd answers 400 "Invalid filter 'colour'".
"""

from __future__ import annotations

import pytest

from labkit.client.http import APIError, Client
from labkit.transport.hosts import parse_host

UNKNOWN = {"colour": ["red"]}
ENDPOINTS = [
    ("GET", "/images/json"),
    ("GET", "/containers/json"),
    ("GET", "/volumes"),
    ("GET", "/networks"),
    ("POST", "/containers/prune"),
    ("POST", "/images/prune"),
    ("POST", "/volumes/prune"),
]


def _refusal(client: Client, method: str, path: str) -> APIError:
    with pytest.raises(APIError) as caught:
        client.request(method, path, params={"filters": UNKNOWN})
    return caught.value


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_the_lab_engine_refuses_an_unknown_filter(lab_engine_session, method, path) -> None:
    client = Client(parse_host(lab_engine_session.url))
    error = _refusal(client, method, path)
    assert (error.status, error.message) == (400, "Invalid filter 'colour'")


@pytest.mark.real_engine
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_dockerd_refuses_it_the_same_way(real_engine_url: str, method, path) -> None:
    error = _refusal(Client(parse_host(real_engine_url)), method, path)
    assert (error.status, error.message) == (400, "Invalid filter 'colour'")


def test_known_filters_still_work(lab_engine_session) -> None:
    client = Client(parse_host(lab_engine_session.url))
    assert client.get("/images/json", params={"filters": {"reference": ["nothing-here"]}}) == []
    volumes = client.get("/volumes", params={"filters": {"name": ["nothing-here"]}})
    assert volumes["Volumes"] in ([], None)


def test_the_wait_body_is_compact_json_like_dockerd_s(lab_engine) -> None:
    client = Client(parse_host(lab_engine.url))
    for _ in client.stream("POST", "/images/create", params={"fromImage": "busybox"}):
        pass
    cid = client.request("POST", "/containers/create", json={"Image": "busybox", "Cmd": ["true"]})
    cid = cid.json()["Id"]
    client.request("POST", f"/containers/{cid}/start")
    body = client.request("POST", f"/containers/{cid}/wait").body
    assert body == b'{"Error":null,"StatusCode":0}\n'
