"""The docker SDK for Python (7.x) against the lab engine: the calls lessons 04 and 05 make.

Like the CLI suite, every test runs against the lab engine (``[lab]``) and
against a real dockerd (``[dockerd]``, skipped without one), which proves each
expectation is Docker's own behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from image_fixtures import (
    Target,
    engine_now_ns,
    ensure_real_busybox,
    pull_busybox,
    target_from_lab_engine,
    target_from_real,
    unique_token,
)

SDK_TIMEOUT = 30

ENGINES = [
    pytest.param("lab", marks=pytest.mark.lab_engine, id="lab"),
    pytest.param("dockerd", marks=pytest.mark.real_engine, id="dockerd"),
]


@pytest.fixture(scope="session")
def sdk_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("docker-config"))


@pytest.fixture(scope="module", params=ENGINES)
def target(request: pytest.FixtureRequest, sdk_config_dir: Path) -> Target:
    """The engine under test, with ``busybox:latest`` already on it."""
    if request.param == "lab":
        found = target_from_lab_engine(
            request.getfixturevalue("lab_engine_session"), sdk_config_dir
        )
        pull_busybox(found.socket)
    else:
        found = target_from_real(request.getfixturevalue("real_engine_url"), sdk_config_dir)
        ensure_real_busybox(found.socket)
    return found


def make_client(url: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=url, version="auto", timeout=SDK_TIMEOUT)


@pytest.fixture
def client(target: Target) -> Iterator[docker.DockerClient]:
    sdk = make_client(target.url)
    yield sdk
    sdk.close()


class Made:
    """Names unique to one test; removes the containers and volumes that carry them."""

    def __init__(self, sdk: docker.DockerClient) -> None:
        self.sdk = sdk
        self.token = unique_token()
        self.names: list[str] = []
        self.volumes: list[str] = []

    def name(self, label: str = "c") -> str:
        name = f"lks-{self.token}-{label}"
        self.names.append(name)
        return name

    def volume(self, label: str = "v") -> str:
        name = f"lks-{self.token}-{label}"
        self.volumes.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            with contextlib.suppress(docker.errors.NotFound):
                self.sdk.containers.get(name).remove(force=True)
        for name in self.volumes:
            with contextlib.suppress(docker.errors.NotFound):
                self.sdk.volumes.get(name).remove(force=True)


@pytest.fixture(autouse=True)
def busybox_ready(target: Target) -> None:
    """busybox again before each test: on a shared dockerd another suite may remove it."""
    if not target.is_lab:
        ensure_real_busybox(target.socket)


@pytest.fixture
def made(client: docker.DockerClient) -> Iterator[Made]:
    things = Made(client)
    yield things
    things.cleanup()


# --- system


def test_ping_and_version(client: docker.DockerClient) -> None:
    assert client.ping() is True
    version = client.version()
    # version="auto" means: use the server's own newest version.
    assert client.api.api_version == version["ApiVersion"]
    assert version["Os"] == "linux"
    assert {"Version", "ApiVersion", "MinAPIVersion", "Arch", "Components"} <= set(version)


def test_info(client: docker.DockerClient) -> None:
    info = client.info()
    assert info["OSType"] == "linux"
    for key in ("Containers", "ContainersRunning", "Images", "ServerVersion", "ID", "Name"):
        assert key in info, f"GET /info lacks {key}"
    assert isinstance(info["Containers"], int)


# --- images


def test_images_pull_unknown_raises(target: Target, client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.APIError) as caught:
        client.images.pull("labkit-no-such-image-anywhere", tag="latest")
    assert caught.value.response is not None
    assert caught.value.response.status_code >= 400


def test_images_list_and_get(client: docker.DockerClient) -> None:
    all_tags = [tag for image in client.images.list() for tag in image.tags]
    assert "busybox:latest" in all_tags
    named = client.images.list(name="busybox")
    assert [image.tags for image in named] == [["busybox:latest"]]
    image = client.images.get("busybox")
    assert image.id == named[0].id
    assert image.attrs["Config"]["Cmd"] == ["sh"]
    assert image.attrs["Os"] == "linux"
    assert image.short_id == image.id[:19]  # "sha256:" + 12 hex


def test_image_history(client: docker.DockerClient) -> None:
    history = client.images.get("busybox").history()
    assert isinstance(history, list) and history
    assert {"Id", "Created", "CreatedBy", "Size"} <= set(history[0])


def test_image_tag_and_remove(client: docker.DockerClient) -> None:
    repo = f"lks-{unique_token()}-tag"
    image = client.images.get("busybox")
    try:
        assert image.tag(repo, "v1") is True
        assert client.images.get(f"{repo}:v1").id == image.id
    finally:
        client.images.remove(f"{repo}:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{repo}:v1")


def test_image_not_found(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ImageNotFound) as caught:
        client.images.get("labkit-no-such-image")
    assert caught.value.status_code == 404
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("labkit-no-such-image", ["echo"])


# --- containers.run


def test_run_returns_the_output(client: docker.DockerClient) -> None:
    assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"


def test_run_with_stderr(client: docker.DockerClient) -> None:
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo out; sleep 1; echo err >&2"], stderr=True, remove=True
    )
    assert out == b"out\nerr\n"


def test_run_waits_for_a_slow_container(client: docker.DockerClient) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "echo a; sleep 1; echo b"], remove=True)
    assert out == b"a\nb\n"


def test_run_failing_command_raises_container_error(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as caught:
        client.containers.run("busybox", ["sh", "-c", "echo why >&2; exit 3"], remove=True)
    assert caught.value.exit_status == 3
    assert caught.value.stderr == b"why\n"


def test_run_with_environment_and_workdir(client: docker.DockerClient) -> None:
    out = client.containers.run(
        "busybox",
        ["sh", "-c", "echo $GREETING; pwd"],
        environment={"GREETING": "hola"},
        working_dir="/tmp",
        remove=True,
    )
    assert out == b"hola\n/tmp\n"


def test_run_detached(client: docker.DockerClient, made: Made) -> None:
    name = made.name("bg")
    container = client.containers.run("busybox", ["sleep", "30"], detach=True, name=name)
    assert len(container.id) == 64
    container.reload()
    assert container.status == "running"
    assert container.name == name
    listed = client.containers.list(filters={"name": name})
    assert [c.id for c in listed] == [container.id]
    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited"
    assert client.containers.list(filters={"name": name}) == []
    assert [c.id for c in client.containers.list(all=True, filters={"name": name})] == [
        container.id
    ]


# --- logs and wait


def test_wait_and_logs(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo one; echo two >&2; exit 2"], detach=True, name=made.name()
    )
    result = container.wait(timeout=SDK_TIMEOUT)
    assert result["StatusCode"] == 2
    assert container.logs(stdout=True, stderr=False) == b"one\n"
    assert container.logs(stdout=False, stderr=True) == b"two\n"


def test_logs_tail(client: docker.DockerClient, made: Made) -> None:
    # stdout only: dockerd's order of lines across stdout and stderr is not fixed.
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo one; echo two; echo three"], detach=True, name=made.name()
    )
    container.wait(timeout=SDK_TIMEOUT)
    assert container.logs(tail=2) == b"two\nthree\n"


def test_logs_stream_follows_until_exit(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "echo a; sleep 1; echo b; sleep 1; echo c"],
        detach=True,
        name=made.name(),
    )
    pieces = list(container.logs(stream=True, follow=True))
    assert b"".join(pieces) == b"a\nb\nc\n"


def test_logs_stream_of_an_exited_container_ends(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo done"], detach=True, name=made.name()
    )
    container.wait(timeout=SDK_TIMEOUT)
    assert b"".join(container.logs(stream=True)) == b"done\n"


def test_logs_with_timestamps(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.run("busybox", ["echo", "stamped"], detach=True, name=made.name())
    container.wait(timeout=SDK_TIMEOUT)
    line = container.logs(timestamps=True).decode()
    stamp, text = line.rstrip("\n").split(" ", 1)
    assert text == "stamped"
    assert stamp.endswith("Z") and "T" in stamp, stamp


# --- exec


def test_exec_run(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.run("busybox", ["sleep", "60"], detach=True, name=made.name())
    result = container.exec_run(["echo", "hi"])
    assert (result.exit_code, result.output) == (0, b"hi\n")
    failed = container.exec_run(["sh", "-c", "exit 4"])
    assert failed.exit_code == 4
    split = container.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert split.output == (b"out\n", b"err\n")
    env = container.exec_run(["sh", "-c", "echo $A"], environment={"A": "b"}, workdir="/tmp")
    assert env.output == b"b\n"


def test_exec_run_streamed(client: docker.DockerClient, made: Made) -> None:
    # docker-py reads a streamed exec from the raw socket, after its HTTP reader has taken
    # the 101 head: output sent in the same packet as the head is lost. dockerd never does
    # that (starting a process takes it milliseconds); an engine must not either. Five
    # tries, because it is a race.
    container = client.containers.run("busybox", ["sleep", "60"], detach=True, name=made.name())
    outputs = []
    for _ in range(5):
        result = container.exec_run(["sh", "-c", "echo x; sleep 0.2; echo y"], stream=True)
        assert result.exit_code is None
        outputs.append(b"".join(result.output))
    assert outputs == [b"x\ny\n"] * 5


# --- lifecycle and errors


def test_lifecycle(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.create("busybox", ["sleep", "60"], name=made.name("life"))
    assert container.status == "created"
    container.start()
    container.reload()
    assert container.status == "running"
    top = container.top()
    assert "PID" in top["Titles"]
    assert any("sleep 60" in " ".join(row) for row in top["Processes"])
    container.restart(timeout=1)
    container.reload()
    assert container.status == "running"
    container.kill()
    assert container.wait(timeout=SDK_TIMEOUT)["StatusCode"] == 137
    new_name = made.name("renamed")
    container.rename(new_name)
    container.reload()
    assert container.name == new_name
    container.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container.id)


def test_container_not_found(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.NotFound) as caught:
        client.containers.get("labkit-no-such-container")
    assert caught.value.status_code == 404
    assert "labkit-no-such-container" in str(caught.value)


def test_name_conflict_is_409(client: docker.DockerClient, made: Made) -> None:
    name = made.name("twice")
    client.containers.create("busybox", ["echo"], name=name)
    with pytest.raises(docker.errors.APIError) as caught:
        client.containers.create("busybox", ["echo"], name=name)
    assert caught.value.status_code == 409


def test_remove_running_is_409(client: docker.DockerClient, made: Made) -> None:
    container = client.containers.run("busybox", ["sleep", "60"], detach=True, name=made.name())
    with pytest.raises(docker.errors.APIError) as caught:
        container.remove()
    assert caught.value.status_code == 409
    container.remove(force=True)


# --- events


def test_events_since_until(target: Target, client: docker.DockerClient, made: Made) -> None:
    # The engine's clock, not ours: the lab engine under test runs on a fixed clock.
    since = engine_now_ns(target.socket) / 1e9
    name = made.name("ev")
    container = client.containers.run("busybox", ["echo", "x"], detach=True, name=name)
    container.wait(timeout=SDK_TIMEOUT)
    container.remove()
    until = engine_now_ns(target.socket) / 1e9
    events = list(
        client.events(decode=True, since=since, until=until, filters={"container": container.id})
    )
    actions = [event["Action"] for event in events]
    it = iter(actions)
    assert all(a in it for a in ("create", "start", "die", "destroy")), actions
    for event in events:
        assert event["Type"] == "container"
        assert event["Actor"]["ID"] == container.id
        assert event["Actor"]["Attributes"]["name"] == name
        assert isinstance(event["time"], int) and isinstance(event["timeNano"], int)
        assert int(since) <= event["time"] <= until
    die = next(event for event in events if event["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "0"


def test_events_follow_live(client: docker.DockerClient, made: Made) -> None:
    name = made.name("live")
    # Opened before the container exists: events must arrive as they happen, each flushed.
    stream = client.events(decode=True, filters={"container": name, "type": "container"})
    try:
        client.containers.run("busybox", ["echo", "x"], detach=True, name=name)
        actions = []
        for event in stream:  # the client's 30 s timeout bounds a stream that stalls
            actions.append(event["Action"])
            if event["Action"] == "die":
                break
    finally:
        stream.close()
    it = iter(actions)
    assert all(a in it for a in ("create", "start", "die")), actions


def test_attach_streams_the_output(client: docker.DockerClient, made: Made) -> None:
    # The output starts a second after the attach: docker-py reads the stream from the raw
    # socket and loses bytes that arrive together with the 101 head (on dockerd too).
    container = client.containers.run(
        "busybox", ["sh", "-c", "sleep 1; echo a; echo b"], detach=True, name=made.name()
    )
    assert b"".join(container.attach(stream=True)) == b"a\nb\n"


def test_prune_by_label(client: docker.DockerClient, made: Made) -> None:
    label = {"lks.prune": made.token}
    kept = client.containers.run(
        "busybox", ["sleep", "60"], detach=True, name=made.name("keep"), labels=label
    )
    done = client.containers.create("busybox", ["echo"], name=made.name("done"), labels=label)
    result = client.containers.prune(filters={"label": f"lks.prune={made.token}"})
    assert result["ContainersDeleted"] == [done.id]
    assert isinstance(result["SpaceReclaimed"], int)
    assert [
        c.id for c in client.containers.list(all=True, filters={"label": f"lks.prune={made.token}"})
    ] == [kept.id]


# --- volumes and networks


def test_volumes(client: docker.DockerClient, made: Made) -> None:
    name = made.volume()
    volume = client.volumes.create(name=name, labels={"lks": "1"})
    assert volume.name == name
    assert volume.attrs["Driver"] == "local"
    assert volume.attrs["Labels"] == {"lks": "1"}
    assert name in [v.name for v in client.volumes.list()]
    assert client.volumes.get(name).name == name
    volume.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(name)


def test_networks(client: docker.DockerClient) -> None:
    names = {network.name for network in client.networks.list()}
    assert {"host", "none"} <= names
    none = client.networks.get("none")
    assert none.attrs["Driver"] == "null"
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("labkit-no-such-network")
