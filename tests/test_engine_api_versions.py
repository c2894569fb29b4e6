"""Fields and behaviours that follow the API version a client asks for, as moby's version
history lists them (the differential test compares the rest with dockerd at 1.41 and at the
lab engine's newest version)."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_fixtures import http_call, pull_busybox, unique_token
from stream_probe import api, remove

pytestmark = pytest.mark.lab_engine

NEWEST = "1.51"


@pytest.fixture
def sock(lab_engine) -> Path:
    path = Path(lab_engine.socket)
    pull_busybox(path)
    return path


def test_logs_have_no_content_type_before_1_42(sock: Path) -> None:
    name = f"lkv-{unique_token()}"
    body = {"Image": "busybox", "Cmd": ["echo", "hi"]}
    status, reply = api(sock, "POST", "/containers/create", body, name=name)
    assert status == 201, reply
    api(sock, "POST", f"/containers/{name}/start")
    api(sock, "POST", f"/containers/{name}/wait")
    try:
        old = http_call(sock, "GET", f"/v1.41/containers/{name}/logs?stdout=1")
        new = http_call(sock, "GET", f"/v1.42/containers/{name}/logs?stdout=1")
        assert old.status == new.status == 200
        assert old.header("Content-Type") is None
        assert new.header("Content-Type") == "application/vnd.docker.multiplexed-stream"
        assert old.body == new.body == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    finally:
        remove(sock, [name])


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        ("1.41", {"BridgeNfIptables", "BridgeNfIp6tables"}, {"CDISpecDirs"}),
        ("1.44", {"CDISpecDirs", "BridgeNfIptables"}, set()),
        ("1.50", {"CDISpecDirs"}, {"BridgeNfIptables", "BridgeNfIp6tables"}),
    ],
)
def test_info_fields_follow_the_version(
    sock: Path, version: str, present: set[str], absent: set[str]
) -> None:
    _status, info = api(sock, "GET", "/info", api_version=version)
    assert present <= set(info) and not absent & set(info)
    allow = {"AllowNondistributableArtifactsCIDRs", "AllowNondistributableArtifactsHostnames"}
    assert (allow <= set(info["RegistryConfig"])) is (version < "1.47")
    assert ("Expected" in info["RuncCommit"]) is (version < "1.49")
    assert info["DefaultRuntime"] in info["Runtimes"]


def test_info_runtimes_name_runc_as_containers_do(sock: Path) -> None:
    _status, info = api(sock, "GET", "/info", api_version=NEWEST)
    assert info["DefaultRuntime"] == "runc"
    assert set(info["Runtimes"]) == {"io.containerd.runc.v2", "runc"}


def test_volume_prune_took_named_volumes_before_1_42(sock: Path) -> None:
    named = f"lkv-{unique_token()}"
    assert api(sock, "POST", "/volumes/create", {"Name": named})[0] == 201
    _status, pruned = api(sock, "POST", "/volumes/prune", api_version=NEWEST)
    assert named not in (pruned["VolumesDeleted"] or [])  # 1.42+: anonymous ones only
    _status, pruned = api(sock, "POST", "/volumes/prune", api_version="1.41")
    assert named in pruned["VolumesDeleted"]


def test_system_df_builder_size_before_1_42(sock: Path) -> None:
    assert api(sock, "GET", "/system/df", api_version="1.41")[1]["BuilderSize"] == 0
    assert "BuilderSize" not in api(sock, "GET", "/system/df", api_version="1.42")[1]


def test_image_list_shapes_by_version(sock: Path) -> None:
    # an image with no tag left: alpine, once its only tags have moved or gone
    repo = f"lkv-{unique_token()}"
    reply = http_call(sock, "POST", "/images/create?fromImage=alpine&tag=latest")
    assert reply.status == 200
    assert api(sock, "POST", "/images/alpine/tag", repo=repo, tag="1")[0] == 201
    assert api(sock, "DELETE", "/images/alpine:latest")[0] == 200
    assert api(sock, "POST", "/images/busybox/tag", repo=repo, tag="1")[0] == 201
    _status, old = api(sock, "GET", "/images/json", api_version="1.42")
    _status, new = api(sock, "GET", "/images/json", api_version="1.43")
    untagged_old = [i for i in old if i["RepoTags"] == ["<none>:<none>"]]
    untagged_new = [i for i in new if i["RepoTags"] == []]
    assert len(untagged_old) == len(untagged_new) == 1
    assert untagged_old[0]["RepoDigests"] in (["<none>@<none>"], untagged_new[0]["RepoDigests"])
    # the legacy `filter` parameter: honoured before 1.41 only
    _status, filtered = api(sock, "GET", "/images/json", api_version="1.40", filter=repo)
    assert [i["RepoTags"] for i in filtered] == [[f"{repo}:1"]]
    _status, ignored = api(sock, "GET", "/images/json", api_version="1.41", filter=repo)
    assert len(ignored) == len(new)


def test_image_list_counts_containers_from_1_51(sock: Path) -> None:
    name = f"lkv-{unique_token()}"
    assert api(sock, "POST", "/containers/create", {"Image": "busybox"}, name=name)[0] == 201
    try:
        ref = {"filters": '{"reference": ["busybox"]}'}
        [old] = api(sock, "GET", "/images/json", api_version="1.50", **ref)[1]
        [new] = api(sock, "GET", "/images/json", api_version="1.51", **ref)[1]
        assert (old["Containers"], new["Containers"]) == (-1, 1)
    finally:
        remove(sock, [name])


def test_image_inspect_config_without_container_fields_from_1_50(sock: Path) -> None:
    old = api(sock, "GET", "/images/busybox/json", api_version="1.49")[1]["Config"]
    new = api(sock, "GET", "/images/busybox/json", api_version="1.50")[1]["Config"]
    gone = {"Hostname", "Domainname", "AttachStdin", "Tty", "OpenStdin", "StdinOnce", "Image"}
    assert gone <= set(old) and not gone & set(new)
    assert new["Cmd"] == old["Cmd"]


def test_networks_say_enable_ipv4_from_1_48(sock: Path) -> None:
    assert "EnableIPv4" not in api(sock, "GET", "/networks/none", api_version="1.47")[1]
    assert api(sock, "GET", "/networks/none", api_version="1.48")[1]["EnableIPv4"] is True
