"""The lab engine keeps what ``POST /containers/create`` is sent and applies what a
simulation can: restart policies, healthchecks, links, GroupAdd, Init, a read-only root,
anonymous volumes, StopTimeout; ``POST /containers/{id}/update``; prune's reclaimed space.

The scenarios are in ``create_options.py``; ``test_differential_create.py`` runs the same
ones on dockerd and compares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import create_options as co
import pytest
from engine_fixtures import running_lab_engine
from image_fixtures import api_version, pull_busybox, unique_token

pytestmark = pytest.mark.lab_engine


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    with running_lab_engine() as engine:
        pull_busybox(engine.socket)
        yield engine


@pytest.fixture
def api(lab: Any) -> Iterator[co.Api]:
    api = co.Api(lab.socket, api_version(lab.socket), unique_token())
    try:
        yield api
    finally:
        co.cleanup(api)


def test_create_keeps_every_field_it_is_sent(api: co.Api) -> None:
    info = co.full_create(api)
    host, config = info["HostConfig"], info["Config"]
    for key, value in co.FULL_HOST_CONFIG.items():
        expected = None if key == "Links" else value
        assert host[key] == expected, f"HostConfig.{key}"
    for key, value in co.FULL_CONFIG.items():
        if key == "Env":
            assert "A=1" in config["Env"]
        else:
            assert config[key] == value, f"Config.{key}"
    assert info["Mounts"][0]["Destination"] == "/data"


def test_minimal_create_shows_dockerds_defaults(api: co.Api) -> None:
    info = co.minimal_create(api)
    host = info["HostConfig"]
    for key in ("Binds", "PortBindings", "Dns", "CapAdd", "GroupAdd", "Links", "Ulimits",
                "MemorySwappiness", "PidsLimit", "Devices"):  # fmt: skip
        assert host[key] is None, key
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert host["ShmSize"] == 64 << 20 and host["NetworkMode"] == "default"
    assert "/proc/kcore" in host["MaskedPaths"] and "/proc/sys" in host["ReadonlyPaths"]
    assert "Runtime" not in host and "Init" not in host and "Tmpfs" not in host
    for key in ("Healthcheck", "StopTimeout", "Shell", "ExposedPorts", "MacAddress"):
        assert key not in info["Config"], key
    api.start("min")
    assert api.inspect("min")["HostConfig"]["Runtime"] == "runc"


def test_kernel_memory_only_at_versions_that_had_it(api: co.Api) -> None:
    co.minimal_create(api)
    old = co.Api(api.socket, "1.41", api.token).inspect("min")["HostConfig"]
    new = co.Api(api.socket, "1.51", api.token).inspect("min")["HostConfig"]
    assert old["KernelMemory"] == 0 and "KernelMemory" not in new


def test_memory_alone_gets_twice_as_much_swap(api: co.Api) -> None:
    api.create("mem", HostConfig={"Memory": 64 << 20})
    assert api.inspect("mem")["HostConfig"]["MemorySwap"] == 128 << 20


def test_refusals_have_dockerds_status_and_words(api: co.Api) -> None:
    found = co.refusals(api)
    assert found["log-driver"] == (
        400,
        'error looking up logging plugin labkit-nosuch: plugin "labkit-nosuch" not found',
    )
    assert found["log-opt"] == (400, "unknown log opt 'bogus' for json-file log driver")
    assert found["host-links"] == (
        400,
        "conflicting options: host type networking can't be used with links. This would "
        "result in undefined behavior",
    )
    assert found["host-mac"] == (400, "conflicting options: mac-address and the network mode")
    assert found["two-endpoints"] == (
        400,
        "Container cannot be connected to network endpoints: bridge, none",
    )
    assert found["link-missing"] == (
        400,
        "could not get container for labkit-no-such-container: No such container: "
        "labkit-no-such-container",
    )
    assert found["autoremove-restart"] == (
        400,
        "can't create 'AutoRemove' container with restart policy",
    )
    assert found["restart-count-negative"] == (
        400,
        "invalid restart policy: maximum retry count cannot be negative",
    )
    assert found["health-interval"] == (400, "Interval in Healthcheck cannot be less than 1ms")
    assert found["health-retries"] == (400, "Retries in Healthcheck cannot be negative")
    assert found["grouadd-type"] == (
        400,
        "json: cannot unmarshal string into Go struct field "
        "ContainerConfigWrapper.HostConfig.GroupAdd of type []string",
    )
    assert found["swap-below-memory"] == (
        400,
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    )
    assert found["network-missing"] == (404, "network labkit-no-such-network not found")
    assert found["container-missing"] == (404, "No such container: labkit-no-such-container")
    assert found["group-missing"] == (
        500,
        "Unable to find group labkitnosuchgroup: no matching entries in group file",
    )


def test_unknown_restart_policy_is_refused(api: co.Api) -> None:
    status, data = api.create("badpolicy", HostConfig={"RestartPolicy": {"Name": "sometimes"}})
    assert status == 400 and "unknown policy 'sometimes'" in data["message"]


def test_group_add_shows_in_id(api: co.Api) -> None:
    assert co.group_add(api).split() == ["0", "1234"]


def test_read_only_root_refuses_writes_but_not_to_volumes(api: co.Api) -> None:
    code, out, err = co.read_only(api)
    assert "touch: /x: Read-only file system" in err
    assert out == "hi\n" and code == 0
    status, message, to_volume = co.read_only_archive(api)
    assert (status, message) == (500, "container rootfs is marked read-only")
    assert to_volume == 200


def test_init_runs_the_command_under_docker_init(api: co.Api) -> None:
    api.create("init", HostConfig={"Init": True})
    api.start("init")
    status, top = api.call("GET", f"/containers/{api.ref('init')}/top")
    assert status == 200
    commands = [row[-1] for row in top["Processes"]]
    assert commands == ["/sbin/docker-init -- sleep 300", "sleep 300"]
    assert api.inspect("init")["HostConfig"]["Init"] is True


def test_stop_timeout_is_the_wait_before_sigkill(api: co.Api) -> None:
    # SIGWINCH ends nothing: the stop ends with SIGKILL once StopTimeout has passed
    since = api.now()
    api.create("stopper", StopSignal="SIGWINCH", StopTimeout=1)
    api.start("stopper")
    status, _ = api.call("POST", f"/containers/{api.ref('stopper')}/stop", timeout=8)
    assert status == 204  # well before dockerd's default of 10 s
    assert api.inspect("stopper")["State"]["ExitCode"] == 137
    kills = [a for a in api.actions("stopper", since) if a == "kill"]
    assert len(kills) == 2


def test_a_requests_t_overrides_stop_timeout(api: co.Api) -> None:
    api.create("stopper2", StopSignal="SIGWINCH", StopTimeout=600)
    api.start("stopper2")
    status, _ = api.call(
        "POST", f"/containers/{api.ref('stopper2')}/stop", query={"t": 0}, timeout=20
    )
    assert status == 204
    assert api.inspect("stopper2")["State"]["ExitCode"] == 137


def test_on_failure_restarts_up_to_its_count(api: co.Api) -> None:
    found = co.restart_on_failure(api)
    assert found["RestartCount"] == 2 and found["Status"] == "exited"
    assert found["ExitCode"] == 3 and found["output"] == "run\nrun\nrun\n"
    assert found["actions"] == ["create", "start", "die", "start", "die", "start", "die"]


def test_always_restarts_until_the_user_stops_it(api: co.Api) -> None:
    found = co.restart_always_then_stop(api)
    assert found["restarted"] and found["stop"] in (204, 304)
    assert found["Status"] == "exited" and found["counted after the stop"] == 0


def test_on_failure_leaves_a_success_alone_and_kill_ends_always(api: co.Api) -> None:
    code, _, _ = api.run("ok", ["true"], HostConfig={"RestartPolicy": {"Name": "on-failure"}})
    assert code == 0 and api.inspect("ok")["RestartCount"] == 0
    api.create("killed", HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    api.start("killed")
    assert api.call("POST", f"/containers/{api.ref('killed')}/kill")[0] == 204
    co.wait_until(lambda: api.inspect("killed")["State"]["Status"] == "exited", co.WAIT)
    info = api.inspect("killed")
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == 0


def test_links_give_env_hosts_and_can_be_removed(api: co.Api) -> None:
    found = co.links(api)
    parent, child = api.ref("parent"), api.ref("child")
    assert found["env names"] == [
        "WEB_ENV_SECRET", "WEB_NAME", "WEB_PORT", "WEB_PORT_80_TCP", "WEB_PORT_80_TCP_ADDR",
        "WEB_PORT_80_TCP_PORT", "WEB_PORT_80_TCP_PROTO",
    ]  # fmt: skip
    assert found["env values"] == {"WEB_NAME": f"/{parent}/web", "WEB_ENV_SECRET": "1"}
    assert found["hosts names"] == ["web", child]
    assert found["stored"] == [f"/{child}:/{parent}/web"]
    assert found["remove"] == (204, None) and found["after"] is None
    assert found["again"] == (404, {"message": f"No such container: {parent}/web"})
    assert found["own name"] == (
        500,
        {"message": "Conflict, cannot remove the default link name of the container"},
    )


def test_healthcheck_status_changes_with_events(api: co.Api) -> None:
    found = co.healthcheck(api)
    assert found["before start"] is None and found["first"] == "starting"
    unhealthy = found["unhealthy"]
    assert unhealthy["FailingStreak"] >= 2
    assert unhealthy["Log"][-1]["ExitCode"] == 1
    assert "No such file or directory" in unhealthy["Log"][-1]["Output"]
    healthy = found["healthy"]
    assert healthy["FailingStreak"] == 0 and healthy["Log"][-1]["Output"] == "fine\n"
    assert 1 <= len(healthy["Log"]) <= 5
    assert found["listed"] == 1 and found["stopped"] == "unhealthy"
    assert found["events"][:2] == ["health_status: unhealthy", "health_status: healthy"]


def test_update_keeps_resources_and_restart_policy(api: co.Api) -> None:
    found = co.update(api)
    assert found["ok"] == (200, {"Warnings": None})
    assert found["kept"] == {
        "CpuShares": 100,
        "PidsLimit": 50,
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
    }
    status, data = found["memory without swap"]
    assert status == 409 and data["message"].endswith(
        "Memory limit should be smaller than already set memoryswap limit, update the "
        "memoryswap at the same time"
    )
    assert found["memory and swap"][0] == 200
    assert found["memory kept"] == (33554432, 67108864)
    assert found["too little"] == (400, {"message": "Minimum memory limit allowed is 6MB"})
    assert found["wrong type"] == 400
    assert found["missing"] == (404, {"message": "No such container: labkit-no-such-container"})
    status, data = found["autoremove"]
    assert status == 409 and data["message"].endswith(
        "Restart policy cannot be updated because AutoRemove is enabled for the container"
    )


def test_anonymous_volumes_are_made_reached_and_removed(api: co.Api) -> None:
    found = co.anonymous_volume(api)
    assert found["output"] == "there\n" and found["name is an id"]
    assert found["mount"] == {
        "Type": "volume",
        "Destination": "/data",
        "Driver": "local",
        "Mode": "",
        "RW": True,
        "Propagation": "",
    }
    assert found["put"] == 200 and found["read back"] == b"hi"
    assert found["remove"] == 204 and found["volume after -v"] == 404


def test_prune_reports_the_space_it_gave_back(api: co.Api) -> None:
    assert co.prune_containers_space(api) == (200, 1000)


def test_volume_prune_reports_the_space_it_gave_back() -> None:
    with running_lab_engine() as engine:  # an engine of its own: prune takes every volume
        pull_busybox(engine.socket)
        api = co.Api(engine.socket, api_version(engine.socket), unique_token())
        assert co.prune_volumes_space(api) == 500


def test_published_ports_in_host_mode_are_a_warning(api: co.Api) -> None:
    assert co.host_ports_warning(api) == (
        201,
        ["Published ports are discarded when using host network mode"],
    )
