"""Create options, side by side: the scenarios of ``create_options.py`` on the lab engine and
on the real dockerd, at dockerd's own API version, compared value by value.

Where they are allowed to differ is said beside each comparison (and in
docs/differential.md): what the host's kernel decides for dockerd, and the words that
changed between dockerd 20.10 and the newer dockerd the lab engine follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import create_options as co
import pytest
from image_fixtures import (
    api_version,
    ensure_real_busybox,
    lower_version,
    pull_busybox,
    unique_token,
)

pytestmark = [pytest.mark.lab_engine, pytest.mark.real_engine]

# Decided by the host for dockerd, not by the client: cgroup v1 or v2, what the kernel
# supports (dockerd drops a BlkioWeight its kernel cannot apply).
HOST_DECIDES = {"CgroupnsMode", "BlkioWeight"}
# dockerd 25+ stores an empty restart policy as "no"; dockerd 20.10 keeps "".
NEWER_DEFAULTS = {"RestartPolicy"}
# Image labels and the image's own PATH differ between the two engines' busybox.
IMAGE_DECIDES = {"Labels", "Env", "Image"}


@pytest.fixture(scope="module")
def engines(request: pytest.FixtureRequest, real_engine_socket: Path) -> tuple[Any, Any, str]:
    lab = request.getfixturevalue("lab_engine_session")
    ensure_real_busybox(real_engine_socket)
    pull_busybox(lab.socket)
    version = lower_version(api_version(lab.socket), api_version(real_engine_socket))
    return Path(lab.socket), real_engine_socket, version


@pytest.fixture
def both(engines: tuple[Any, Any, str]) -> Iterator[tuple[co.Api, co.Api]]:
    lab_socket, real_socket, version = engines
    token = unique_token()
    apis = (co.Api(lab_socket, version, token), co.Api(real_socket, version, token))
    try:
        yield apis
    finally:
        for api in apis:
            co.cleanup(api)


def _same(lab: Any, real: Any) -> None:
    assert lab == real, f"lab engine: {lab!r}\ndockerd:    {real!r}"


def _compare(scenario: Any, both: tuple[co.Api, co.Api]) -> tuple[Any, Any]:
    return scenario(both[0]), scenario(both[1])


def _differing(lab: dict[str, Any], real: dict[str, Any], ignore: set[str]) -> dict[str, Any]:
    keys = (set(lab) | set(real)) - ignore
    return {k: (lab.get(k, "<absent>"), real.get(k, "<absent>")) for k in sorted(keys)
            if lab.get(k, "<absent>") != real.get(k, "<absent>")}  # fmt: skip


def test_full_create_inspects_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.full_create, both)
    assert not _differing(lab["HostConfig"], real["HostConfig"], HOST_DECIDES)
    assert not _differing(lab["Config"], real["Config"], IMAGE_DECIDES)
    _same(
        [{k: v for k, v in m.items() if k not in ("Name", "Source")} for m in lab["Mounts"]],
        [{k: v for k, v in m.items() if k not in ("Name", "Source")} for m in real["Mounts"]],
    )


def test_minimal_create_inspects_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.minimal_create, both)
    ignore = HOST_DECIDES | NEWER_DEFAULTS
    assert not _differing(lab["HostConfig"], real["HostConfig"], ignore)
    assert not _differing(lab["Config"], real["Config"], IMAGE_DECIDES | {"Hostname"})
    assert set(lab["State"]) == set(real["State"])


def test_refusals_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.refusals, both)
    # dockerd 20.10 answers a body of the wrong type with 500 and names the inner struct
    # (HostConfig.HostConfig.GroupAdd); dockerd 23+ with 400 and the path from the top.
    # Its restart policy words are older ones too ("invalid restart policy" ...).
    newer_words = {"grouadd-type", "restart-count-negative"}
    assert not _differing(lab, real, newer_words)
    for what in newer_words:
        assert lab[what][0] == 400 and real[what][0] in (400, 500)


def test_group_add_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    _same(*_compare(co.group_add, both))


def test_read_only_root_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.read_only, both)
    _same(lab, real)
    _same(*_compare(co.read_only_archive, both))


def test_restart_policy_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    _same(*_compare(co.restart_on_failure, both))


def test_always_and_stop_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    _same(*_compare(co.restart_always_then_stop, both))


def test_links_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.links, both)
    # The CI's dockerd runs without a bridge (--bridge=none): its containers have no
    # address, so it writes no /etc/hosts line for a link (test_engine_create_options
    # checks the lab engine's against dockerd's format).
    del lab["hosts names"], real["hosts names"]
    _same(lab, real)


def test_healthcheck_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.healthcheck, both)
    for found in (lab, real):  # the times and the number of probes differ run to run
        for key in ("unhealthy", "healthy"):
            health = found[key]
            found[key] = {
                "Status": health["Status"],
                "streak at least 2": health["FailingStreak"] >= 2,
                "last": {k: health["Log"][-1][k] for k in ("ExitCode", "Output")},
            }
    _same(lab, real)


def test_update_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    lab, real = _compare(co.update, both)
    # dockerd 20.10 stores an update's "unless-stopped" as sent, like the lab engine, but
    # answers a body of the wrong type with 500 (23+: 400).
    assert lab.pop("wrong type") == 400 and real.pop("wrong type") in (400, 500)
    for found in (lab, real):
        for key in ("memory without swap", "autoremove"):
            status, data = found[key]
            found[key] = (status, data["message"].split(": ", 1)[1])  # past the id
    _same(lab, real)


def test_anonymous_volume_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    _same(*_compare(co.anonymous_volume, both))


def test_prune_space_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    _same(*_compare(co.prune_containers_space, both))


def test_create_warnings_as_dockerd(both: tuple[co.Api, co.Api]) -> None:
    _same(*_compare(co.host_ports_warning, both))
