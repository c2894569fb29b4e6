"""Offline stand-in images for a real engine: built from busybox-static, imported over the API."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path

import pytest

from labkit.client.http import APIError, Client
from labkit.client.provision import (
    LAB_IMAGES,
    PROVISIONED_LABEL,
    ProvisionError,
    build_rootfs_tar,
    busybox_applets,
    find_static_busybox,
    image_changes,
    is_static_elf,
    provision,
    remove_provisioned,
)
from labkit.hello import HELLO_TEXT
from labkit.transport.hosts import parse_host


@pytest.fixture(scope="module")
def busybox() -> Path:
    try:
        return find_static_busybox()
    except ProvisionError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI installs busybox-static: {exc}")
        pytest.skip(str(exc))


def test_a_static_busybox_is_recognised(busybox: Path) -> None:
    assert is_static_elf(busybox)


def test_a_dynamic_executable_is_not_static() -> None:
    assert not is_static_elf(Path(sys.executable).resolve())


def test_without_busybox_the_error_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProvisionError, match="busybox-static"):
        find_static_busybox([str(tmp_path / "nope")])


def _members(tar_bytes: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_the_hello_world_stand_in_is_a_script_that_prints_the_lab_greeting(busybox: Path) -> None:
    data = build_rootfs_tar("hello-world", busybox, busybox_applets(busybox))
    members = _members(data)
    assert members["hello"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        script = tar.extractfile("hello").read().decode()
    assert script.startswith("#!/bin/sh\n")
    assert HELLO_TEXT.splitlines()[0] in script


def test_the_tar_is_reproducible(busybox: Path) -> None:
    applets = busybox_applets(busybox)
    assert build_rootfs_tar("alpine", busybox, applets) == build_rootfs_tar(
        "alpine", busybox, applets
    )


def test_every_stand_in_is_labelled_and_has_a_command() -> None:
    for name in LAB_IMAGES:
        changes = image_changes(name)
        assert f"LABEL {PROVISIONED_LABEL}=true" in changes
        assert any(c.startswith("CMD [") for c in changes)


def test_an_unknown_image_name_is_refused() -> None:
    with pytest.raises(ProvisionError, match="not a lab image"):
        provision(object(), ["nginx"])


def _run(client: Client, image: str, cmd: list[str]) -> str:
    created = client.request("POST", "/containers/create", json={"Image": image, "Cmd": cmd}).json()
    cid = created["Id"]
    try:
        client.request("POST", f"/containers/{cid}/start")
        status = client.request("POST", f"/containers/{cid}/wait").json()
        assert status["StatusCode"] == 0
        logs = client.request("GET", f"/containers/{cid}/logs", params={"stdout": 1}).body
        from labkit.wire.frames import demux

        return demux(logs)[0].decode()
    finally:
        client.request("DELETE", f"/containers/{cid}", params={"force": 1})


def _forget(client: Client, name: str) -> None:
    try:
        client.request("DELETE", f"/images/{name}", params={"force": 1})
    except APIError as exc:
        if exc.status != 404:
            raise


@pytest.mark.real_engine
def test_stand_ins_are_imported_into_a_real_engine_and_run(
    real_engine_url: str, busybox: Path
) -> None:
    client = Client(parse_host(real_engine_url, source="test"))
    try:
        _forget(client, "alpine")
        _forget(client, "hello-world")
        outcomes = provision(client, ["alpine", "hello-world"], busybox=busybox)
        assert [o.action for o in outcomes] == ["imported", "imported"]
        image = client.get("/images/alpine/json")
        assert image["Config"]["Labels"][PROVISIONED_LABEL] == "true"
        assert "Alpine" in _run(client, "alpine", ["cat", "/etc/os-release"])
        assert "Hello from the Docker IPC Lab" in _run(client, "hello-world", ["/hello"])
        again = provision(client, ["alpine"], busybox=busybox)
        assert [o.action for o in again] == ["present"]
        removed = {o.name: o for o in remove_provisioned(client)}
        assert removed["alpine:latest"].action == "removed"
        assert removed["hello-world:latest"].action == "removed"
        assert all(o.action == "removed" or "being used" in o.detail for o in removed.values())
        with pytest.raises(APIError) as gone:
            client.get("/images/alpine/json")
        assert gone.value.status == 404
    finally:
        # leave the engine as CI provisioned it for the tests that follow
        provision(client, LAB_IMAGES, busybox=busybox)


class _PodmanLikeImages:
    """Answers the two calls remove_provisioned() makes, with names as Podman writes them."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def request(self, method: str, path: str, params: object = None) -> object:
        if method == "GET":
            images = [
                {"Id": "sha256:a1", "RepoTags": ["docker.io/library/alpine:latest"]},
                {"Id": "sha256:b2", "RepoTags": None},
            ]
            return type("Reply", (), {"json": lambda self: images})()
        self.deleted.append(path)
        return None


def test_removed_stand_ins_are_named_as_the_docker_cli_names_them() -> None:
    client = _PodmanLikeImages()
    outcomes = remove_provisioned(client)
    assert [(o.name, o.action) for o in outcomes] == [
        ("alpine:latest", "removed"),
        ("sha256:b2", "removed"),
    ]
    assert client.deleted == ["/images/sha256:a1", "/images/sha256:b2"]
