"""Image, volume, network and info handlers, called directly with Request objects."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from labkit.engine.api import images as api
from labkit.engine.api import info as api_info
from labkit.engine.api import networks as api_net
from labkit.engine.api import volumes as api_vol
from labkit.engine.model import Engine
from labkit.engine.replies import ApiError, EmptyReply, Request, StreamReply


def req(engine: Engine, method: str = "GET", body: Any = None, **query: Any) -> Request:
    raw = b"" if body is None else json.dumps(body).encode()
    q = {k: [str(v)] for k, v in query.items()}
    return Request(method, "/", "1.51", q, body=raw, engine=engine)


async def lines(reply: StreamReply) -> list[dict[str, Any]]:
    data = b""
    async for chunk in reply.chunks:
        data += chunk
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def with_engine(tmp_path: Path, test) -> None:
    async def go():
        engine = await Engine.open(tmp_path, clock="2026-01-01T00:00:00Z", seed=5)
        try:
            await test(engine)
        finally:
            await engine.close()

    asyncio.run(go())


async def pull(e: Engine, image: str, tag: str = "latest") -> list[dict[str, Any]]:
    return await lines(await api.create_image(req(e, "POST", fromImage=image, tag=tag)))


def test_pull_stream_like_dockerd(tmp_path: Path) -> None:
    async def test(e: Engine) -> None:
        out = await pull(e, "busybox")
        statuses = [m["status"] for m in out]
        assert statuses[0] == "Pulling from library/busybox" and out[0]["id"] == "latest"
        for step in (
            "Pulling fs layer",
            "Downloading",
            "Verifying Checksum",
            "Download complete",
            "Extracting",
            "Pull complete",
        ):
            assert step in statuses
        downloading = [m for m in out if m["status"] == "Downloading"]
        assert (
            downloading[-1]["progressDetail"]["current"]
            == downloading[-1]["progressDetail"]["total"]
        )
        assert downloading[-1]["progress"].startswith("[" + "=" * 50 + ">]")
        assert statuses[-2].startswith("Digest: sha256:")
        assert statuses[-1] == "Status: Downloaded newer image for busybox:latest"
        again = [m["status"] for m in await pull(e, "docker.io/library/busybox")]
        assert again[-1] == "Status: Image is up to date for busybox:latest"
        assert len(again) == 3
        same_content = [m["status"] for m in await pull(e, "busybox", "1.37")]
        assert "Already exists" in same_content
        with pytest.raises(ApiError) as caught:
            await api.create_image(req(e, "POST", fromImage="nosuch", tag="latest"))
        assert caught.value.status == 404
        assert caught.value.message.startswith(
            "pull access denied for nosuch, repository does not exist or may require 'docker login'"
        )

    with_engine(tmp_path, test)


def test_list_inspect_history_filters(tmp_path: Path) -> None:
    async def test(e: Engine) -> None:
        assert (await api.list_images(req(e))).obj == []
        await pull(e, "busybox")
        await pull(e, "alpine", "3.20")
        listed = (await api.list_images(req(e))).obj
        assert [i["RepoTags"] for i in listed] == [["busybox:latest"], ["alpine:3.20"]]
        assert set(listed[0]) >= {"Id", "RepoTags", "RepoDigests", "Created", "Size", "Labels"}
        only = (await api.list_images(req(e, filters=json.dumps({"reference": ["alp*"]})))).obj
        assert [i["RepoTags"] for i in only] == [["alpine:3.20"]]
        view = (await api.inspect_image(req(e), name="alpine:3.20")).obj
        assert view["Config"]["Cmd"] == ["/bin/sh"]
        assert view["Id"].startswith("sha256:") and len(view["Id"]) == 71
        assert view["Os"] == "linux" and view["RootFS"]["Type"] == "layers"
        assert view["Created"].endswith("Z")
        history = (await api.image_history(req(e), name="busybox")).obj
        assert history[0]["Id"] == listed[0]["Id"]
        with pytest.raises(ApiError, match="No such image: hello-world:latest"):
            await api.inspect_image(req(e), name="hello-world")

    with_engine(tmp_path, test)


def test_tag_delete_prune(tmp_path: Path) -> None:
    async def test(e: Engine) -> None:
        await pull(e, "hello-world")
        reply = await api.tag_image(req(e, "POST", repo="mine", tag="v1"), name="hello-world")
        assert isinstance(reply, EmptyReply) and reply.status == 201
        with pytest.raises(ApiError) as caught:
            await api.delete_image(req(e, "DELETE"), name=e.images.resolve("mine:v1").id)
        assert caught.value.status == 409 and "multiple repositories" in caught.value.message
        gone = (await api.delete_image(req(e, "DELETE"), name="mine:v1")).obj
        assert gone == [{"Untagged": "mine:v1"}]
        pruned = (await api.prune_images(req(e, "POST"))).obj
        assert pruned == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        everything = json.dumps({"dangling": ["false"]})
        pruned = (await api.prune_images(req(e, "POST", filters=everything))).obj
        assert {"Untagged": "hello-world:latest"} in pruned["ImagesDeleted"]
        assert e.images.images == {}
        actions = [ev["Action"] for ev in e.events.history(0, None) if ev["Type"] == "image"]
        assert actions[:3] == ["pull", "tag", "untag"] and "delete" in actions

    with_engine(tmp_path, test)


def test_volumes_and_networks(tmp_path: Path) -> None:
    async def test(e: Engine) -> None:
        made = await api_vol.create_volume(req(e, "POST", {"Name": "data", "Labels": {"a": "1"}}))
        assert made.status == 201 and made.obj["Name"] == "data"
        listed = (await api_vol.list_volumes(req(e))).obj
        assert listed["Warnings"] is None and [v["Name"] for v in listed["Volumes"]] == ["data"]
        with pytest.raises(ApiError, match="get nope: no such volume"):
            await api_vol.inspect_volume(req(e), name="nope")
        assert (await api_vol.remove_volume(req(e, "DELETE"), name="data")).status == 204
        nets = [n["Name"] for n in (await api_net.list_networks(req(e))).obj]
        assert sorted(nets) == ["bridge", "host", "none"]
        nid = (await api_net.create_network(req(e, "POST", {"Name": "lab"}))).obj["Id"]
        assert (await api_net.inspect_network(req(e), id="lab")).obj["Id"] == nid
        with pytest.raises(ApiError) as caught:
            await api_net.create_network(req(e, "POST", {"Name": "lab"}))
        assert caught.value.status == 409
        with pytest.raises(ApiError) as caught:
            await api_net.remove_network(req(e, "DELETE"), id="bridge")
        assert caught.value.status == 403
        await api_net.remove_network(req(e, "DELETE"), id=nid[:6])
        with pytest.raises(ApiError, match="network lab not found"):
            await api_net.inspect_network(req(e), id="lab")

    with_engine(tmp_path, test)


def test_info_counts(tmp_path: Path) -> None:
    async def test(e: Engine) -> None:
        await pull(e, "busybox")
        e.create_container("one", {"Image": "busybox"})
        body = (await api_info.info(req(e))).obj
        assert (body["Containers"], body["ContainersStopped"], body["Images"]) == (1, 1, 1)
        assert body["OSType"] == "linux" and body["ID"] == (await api_info.info(req(e))).obj["ID"]
        df = (await api_info.disk_usage(req(e))).obj
        assert df["Images"][0]["Containers"] == 1

    with_engine(tmp_path, test)
