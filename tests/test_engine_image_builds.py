"""Making images over the API: build (classic builder), commit, save, load, import.

Each test runs on the lab engine (``[lab]``) and on a real dockerd (``[dockerd]``, skipped
without one): the expectations are what dockerd 20.10 sends, ids aside.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_fixtures import (
    Target,
    build_target,
    ensure_real_busybox,
    http_call,
    json_call,
    pull_busybox,
    target_from_lab_engine,
    target_from_real,
    unique_token,
)

ENGINES = [
    pytest.param("lab", marks=pytest.mark.lab_engine, id="lab"),
    pytest.param("dockerd", marks=pytest.mark.real_engine, id="dockerd"),
]
HEX = re.compile(r"[0-9a-f]{12,64}")


@pytest.fixture(scope="module", params=ENGINES)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    config = tmp_path_factory.mktemp("docker-config")
    if request.param == "lab":
        found = target_from_lab_engine(request.getfixturevalue("lab_engine_session"), config)
        pull_busybox(found.socket)
    else:
        found = target_from_real(request.getfixturevalue("real_engine_url"), config)
        ensure_real_busybox(found.socket)
    return found


@pytest.fixture
def refs(target: Target) -> Iterator[list[str]]:
    """Image references a test makes; removed (with their build parents) afterwards."""
    made: list[str] = []
    yield made
    for ref in made:
        http_call(target.socket, "DELETE", f"/v1.41/images/{ref}?force=1")


def context_tar(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def build(target: Target, files: dict[str, str], **query: object):
    return http_call(
        target.socket,
        "POST",
        build_target("/v1.41/build", query),
        body=context_tar(files),
        headers={"Content-Type": "application/x-tar"},
        timeout=120,
    )


def normalised(messages: list) -> list:
    """The stream with ids replaced by ``ID`` and a RUN's output joined (its pieces vary)."""
    out: list = []
    for message in messages:
        text = HEX.sub("ID", json.dumps(message, sort_keys=True))
        item = json.loads(text)
        if (
            out
            and "stream" in item
            and "stream" in out[-1]
            and not item["stream"].startswith((" ---> ", "Removing", "Step", "Successfully"))
            and not out[-1]["stream"].startswith((" ---> ", "Removing", "Step", "Successfully"))
            and item["stream"] != "\n"
            and out[-1]["stream"] != "\n"
        ):
            out[-1] = {"stream": out[-1]["stream"] + item["stream"]}
            continue
        out.append(item)
    return out


def step(n: int, total: int, line: str) -> list[dict[str, str]]:
    return [{"stream": f"Step {n}/{total} : {line}"}, {"stream": "\n"}]


RAN = [{"stream": " ---> Running in ID\n"}]
REMOVED = [{"stream": "Removing intermediate container ID\n"}, {"stream": " ---> ID\n"}]
NEW = [{"stream": " ---> ID\n"}]
CACHED = [{"stream": " ---> Using cache\n"}, {"stream": " ---> ID\n"}]

DOCKERFILE = """\
# a comment
FROM busybox
ARG WHO=world
ENV GREETING=hello \\
    PLACE=lab
COPY greeting.txt /app/
WORKDIR /app
RUN echo "$GREETING $WHO from $PLACE" > out.txt && cat out.txt
LABEL purpose=test
CMD ["cat", "/app/out.txt"]
"""


def test_build_stream_as_dockerd_sends_it(target: Target, refs: list[str]) -> None:
    ref = f"lkb-{unique_token()}:one"
    other = ref.replace(":one", ":two")
    refs.extend([ref, other])
    files = {"Dockerfile": DOCKERFILE, "greeting.txt": "hi\n"}
    reply = build(target, files, t=ref, nocache=1, buildargs={"WHO": "you"}, labels={"extra": "1"})
    assert reply.status == 200, reply.body
    assert reply.header("Content-Type") == "application/json"
    got = normalised(reply.json_lines())
    total = 9
    expected = [
        *step(1, total, "FROM busybox"), *NEW,
        *step(2, total, "ARG WHO=world"), *RAN, *REMOVED,
        *step(3, total, "ENV GREETING=hello     PLACE=lab"), *RAN, *REMOVED,
        *step(4, total, "COPY greeting.txt /app/"), *NEW,
        *step(5, total, "WORKDIR /app"), *RAN, *REMOVED,
        *step(6, total, 'RUN echo "$GREETING $WHO from $PLACE" > out.txt && cat out.txt'),
        *RAN, {"stream": "hello you from lab\n"}, *REMOVED,
        *step(7, total, "LABEL purpose=test"), *RAN, *REMOVED,
        *step(8, total, 'CMD ["cat", "/app/out.txt"]'), *RAN, *REMOVED,
        *step(9, total, "LABEL extra=1"), *RAN, *REMOVED,
        {"aux": {"ID": "sha256:ID"}},
        {"stream": "Successfully built ID\n"},
        {"stream": f"Successfully tagged {ref}\n"},
    ]  # fmt: skip
    assert got == expected
    image = json_call(target.socket, "GET", f"/v1.41/images/{ref}/json").json()
    config = image["Config"]
    assert config["Cmd"] == ["cat", "/app/out.txt"]
    assert config["WorkingDir"] == "/app"
    assert "GREETING=hello" in config["Env"] and "PLACE=lab" in config["Env"]
    assert config["Labels"]["purpose"] == "test" and config["Labels"]["extra"] == "1"
    history = json_call(target.socket, "GET", f"/v1.41/images/{ref}/history").json()
    created_by = [row["CreatedBy"] for row in history]
    assert created_by[:3] == [
        "/bin/sh -c #(nop)  LABEL extra=1",
        '/bin/sh -c #(nop)  CMD ["cat" "/app/out.txt"]',
        "/bin/sh -c #(nop)  LABEL purpose=test",
    ]
    assert created_by[3] == (
        '|1 WHO=you /bin/sh -c echo "$GREETING $WHO from $PLACE" > out.txt && cat out.txt'
    )
    assert created_by[4] == "/bin/sh -c #(nop) WORKDIR /app"
    assert re.fullmatch(r"/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in /app/ ", created_by[5])
    assert history[0]["Id"] == image["Id"] and history[0]["Tags"] == [ref]
    assert history[3]["Size"] == len("hello you from lab\n")
    # The same build again comes from the cache, step by step, and tags a second name.
    again = build(target, files, t=other, buildargs={"WHO": "you"}, labels={"extra": "1"})
    cached = normalised(again.json_lines())
    assert cached.count(CACHED[0]) == 8, cached
    assert (
        json_call(target.socket, "GET", f"/v1.41/images/{other}/json").json()["Id"] == (image["Id"])
    )
    third = ref.replace(":one", ":three")
    refs.append(third)
    fresh = build(target, files, t=third, nocache=1, buildargs={"WHO": "you"})
    fresh = normalised(fresh.json_lines())
    assert CACHED[0] not in fresh


def test_build_dockerignore_multistage_and_warnings(target: Target, refs: list[str]) -> None:
    ref = f"lkb-{unique_token()}:multi"
    refs.append(ref)
    files = {
        "build.Dockerfile": (
            "FROM busybox AS base\nCOPY . /ctx/\nRUN ls /ctx\n"
            'FROM busybox\nCOPY --from=base /ctx/keep.txt /kept\nENTRYPOINT ["cat"]\n'
            'CMD ["/kept"]\n'
        ),
        "keep.txt": "kept\n",
        "secret.log": "no\n",
        ".dockerignore": "*.log\n",
    }
    reply = build(
        target, files, t=ref, nocache=1, dockerfile="build.Dockerfile", buildargs={"UNUSED": "x"}
    )
    got = normalised(reply.json_lines())
    # The client leaves out what .dockerignore names; dockerd itself drops only that file.
    assert {"stream": "build.Dockerfile\nkeep.txt\nsecret.log\n"} in got, got
    assert got.count({"aux": {"ID": "sha256:ID"}}) == 2, got  # one per stage
    assert {"stream": "[Warning] One or more build-args [UNUSED] were not consumed\n"} in got
    config = json_call(target.socket, "GET", f"/v1.41/images/{ref}/json").json()["Config"]
    assert (config["Entrypoint"], config["Cmd"]) == (["cat"], ["/kept"])


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM busybox\nFROBNICATE x\n",
            "dockerfile parse error line 2: unknown instruction: FROBNICATE",
        ),
        ("RUN echo no base\n", "no build stage in current context"),
    ],
)
def test_build_refuses_a_bad_dockerfile(target: Target, dockerfile: str, message: str) -> None:
    reply = build(target, {"Dockerfile": dockerfile})
    assert (reply.status, reply.json()) == (400, {"message": message})


def test_build_without_its_dockerfile(target: Target) -> None:
    reply = build(target, {"other": "x"}, dockerfile="Nope.Dockerfile")
    assert (reply.status, reply.json()) == (
        500,
        {"message": "Cannot locate specified Dockerfile: Nope.Dockerfile"},
    )


def test_build_failing_run(target: Target) -> None:
    files = {"Dockerfile": "FROM busybox\nRUN echo first && exit 7\n"}
    reply = build(target, files, nocache=1, forcerm=1)  # forcerm: no failed container left
    assert reply.status == 200
    got = normalised(reply.json_lines())
    message = "The command '/bin/sh -c echo first && exit 7' returned a non-zero code: 7"
    assert got[-3:] == [
        {"stream": "first\n"},
        {"stream": "Removing intermediate container ID\n"},
        {"errorDetail": {"code": 7, "message": message}, "error": message},
    ]


def test_commit_changes_comment_author(target: Target, refs: list[str]) -> None:
    token = unique_token()
    name = f"lkb-{token}-c"
    ref = f"lkb-{token}:committed"
    refs.append(ref)
    made = json_call(
        target.socket,
        "POST",
        f"/v1.41/containers/create?name={name}",
        {"Image": "busybox", "Cmd": ["sh", "-c", "echo made > /made.txt"]},
    )
    assert made.status == 201, made.body
    try:
        assert http_call(target.socket, "POST", f"/v1.41/containers/{name}/start").status == 204
        json_call(target.socket, "POST", f"/v1.41/containers/{name}/wait", timeout=60)
        query = [
            ("container", name), ("repo", ref.split(":")[0]), ("tag", "committed"),
            ("comment", "snap"), ("author", "me"), ("changes", 'CMD ["cat", "/made.txt"]'),
            ("changes", "ENV MODE=x"),
        ]  # fmt: skip
        import urllib.parse

        reply = http_call(target.socket, "POST", "/v1.41/commit?" + urllib.parse.urlencode(query))
        assert reply.status == 201, reply.body
        image_id = reply.json()["Id"]
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
        image = json_call(target.socket, "GET", f"/v1.41/images/{ref}/json").json()
        assert image["Id"] == image_id
        assert (image["Comment"], image["Author"]) == ("snap", "me")
        assert image["Config"]["Cmd"] == ["cat", "/made.txt"]
        assert "MODE=x" in image["Config"]["Env"]
        assert image["Container"].startswith(made.json()["Id"][:12])
        bad = http_call(target.socket, "POST", f"/v1.41/commit?container={name}&changes=RUN+echo")
        assert (bad.status, bad.json()) == (400, {"message": "run is not a valid change command"})
    finally:
        http_call(target.socket, "DELETE", f"/v1.41/containers/{name}?force=1")


def test_save_format_and_load_back(target: Target, refs: list[str]) -> None:
    ref = f"lkb-{unique_token()}:saved"
    refs.append(ref)
    built = build(target, {"Dockerfile": "FROM busybox\nRUN echo x > /x\n"}, t=ref, nocache=1)
    assert built.status == 200
    image = json_call(target.socket, "GET", f"/v1.41/images/{ref}/json").json()
    saved = http_call(target.socket, "GET", f"/v1.41/images/{ref}/get", timeout=60)
    assert saved.status == 200
    assert saved.header("Content-Type") == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(saved.body)) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
    repo, tag = ref.split(":")
    assert manifest[0]["RepoTags"] == [ref]
    assert manifest[0]["Config"] == image["Id"].split(":")[1] + ".json"
    assert len(manifest[0]["Layers"]) == len(image["RootFS"]["Layers"])
    for layer in manifest[0]["Layers"]:
        folder = layer.split("/")[0]
        assert {f"{folder}/VERSION", f"{folder}/json", f"{folder}/layer.tar"} <= names
    assert repositories == {repo: {tag: manifest[0]["Layers"][-1].split("/")[0]}}
    assert config["rootfs"]["diff_ids"] == image["RootFS"]["Layers"]
    # Both names of the multi-image endpoint, and load of what was saved.
    many = http_call(target.socket, "GET", build_target("/v1.41/images/get", {"names": ref}))
    assert many.status == 200
    assert http_call(target.socket, "DELETE", f"/v1.41/images/{ref}").status == 200
    loaded = http_call(
        target.socket,
        "POST",
        "/v1.41/images/load?quiet=1",
        body=saved.body,
        headers={"Content-Type": "application/x-tar"},
        timeout=60,
    )
    assert loaded.status == 200
    assert loaded.json_lines() == [{"stream": f"Loaded image: {ref}\n"}]
    again = json_call(target.socket, "GET", f"/v1.41/images/{ref}/json").json()
    assert again["Id"] == image["Id"]


def test_load_refuses_what_is_not_an_image_archive(target: Target) -> None:
    """dockerd answers 200 and puts the error in the stream (its words name a temporary
    folder; the lab engine's say what the archive lacks)."""
    reply = http_call(
        target.socket,
        "POST",
        "/v1.41/images/load?quiet=1",
        body=context_tar({"hello.txt": "hi"}),
        headers={"Content-Type": "application/x-tar"},
    )
    assert reply.status == 200
    [message] = reply.json_lines()
    assert set(message) == {"errorDetail", "error"}  # type: ignore[arg-type]
    assert "repositories" in message["error"]  # type: ignore[index]


def test_import_with_changes_and_message(target: Target, refs: list[str]) -> None:
    repo = f"lkb-{unique_token()}"
    refs.append(f"{repo}:v1")
    query = {"fromSrc": "-", "repo": repo, "tag": "v1", "message": "from a tarball",
             "changes": 'CMD ["/bin/sh"]'}  # fmt: skip
    reply = http_call(
        target.socket,
        "POST",
        build_target("/v1.41/images/create", query),
        body=context_tar({"etc/motd": "imported\n"}),
        headers={"Content-Type": "application/x-tar"},
    )
    assert reply.status == 200, reply.body
    [status] = reply.json_lines()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", status["status"])  # type: ignore[index]
    image = json_call(target.socket, "GET", f"/v1.41/images/{repo}:v1/json").json()
    assert image["Id"] == status["status"]  # type: ignore[index]
    assert image["Comment"] == "from a tarball"
    assert image["Config"]["Cmd"] == ["/bin/sh"]
    assert len(image["RootFS"]["Layers"]) == 1
    history = json_call(target.socket, "GET", f"/v1.41/images/{repo}:v1/history").json()
    assert [(row["Comment"], row["CreatedBy"]) for row in history] == [("from a tarball", "")]


@pytest.mark.real_engine
def test_dockerd_archives_load_into_the_lab_engine(
    real_engine_url: str, lab_engine_session: object, tmp_path: Path
) -> None:
    """dockerd's own save of its busybox loads into the lab engine, and its programs run."""
    real = real_engine_url.removeprefix("unix://")
    ensure_real_busybox(real)
    saved = http_call(real, "GET", "/v1.41/images/busybox:latest/get", timeout=120)
    assert saved.status == 200
    lab = str(lab_engine_session.socket)  # type: ignore[attr-defined]
    http_call(lab, "DELETE", "/v1.41/images/busybox:latest?force=1")
    try:
        loaded = http_call(lab, "POST", "/v1.41/images/load", body=saved.body, timeout=120)
        assert loaded.status == 200, loaded.body
        assert {"stream": "Loaded image: busybox:latest\n"} in loaded.json_lines()
        real_id = json_call(real, "GET", "/v1.41/images/busybox:latest/json").json()["Id"]
        lab_image = json_call(lab, "GET", "/v1.41/images/busybox:latest/json").json()
        assert lab_image["Id"] == real_id
        name = f"lkb-{unique_token()}"
        made = json_call(
            lab, "POST", f"/v1.41/containers/create?name={name}",
            {"Image": "busybox:latest", "Cmd": ["sh", "-c", "echo from-real | tr a-z A-Z"]},
        )  # fmt: skip
        assert made.status == 201, made.body
        assert http_call(lab, "POST", f"/v1.41/containers/{name}/start").status == 204
        json_call(lab, "POST", f"/v1.41/containers/{name}/wait", timeout=60)
        logs = http_call(lab, "GET", f"/v1.41/containers/{name}/logs?stdout=1")
        assert logs.body.endswith(b"FROM-REAL\n")
        http_call(lab, "DELETE", f"/v1.41/containers/{name}?force=1")
    finally:
        http_call(lab, "DELETE", "/v1.41/images/busybox:latest?force=1")
        pull_busybox(lab)


def test_built_images_survive_a_restart_and_leave_no_layers_behind(tmp_path: Path) -> None:
    """Images made here are in the engine's state: a restart keeps them, rmi and prune free
    their layers (and the build's intermediate images) once nothing uses them."""
    from engine_fixtures import running_lab_engine

    with running_lab_engine() as engine:
        socket = str(engine.socket)
        pull_busybox(socket)
        files = {"Dockerfile": 'FROM busybox\nRUN echo kept > /kept\nCMD ["cat", "/kept"]\n'}
        assert build(Target("lab", engine.url, Path(socket)), files, t="keep:1").status == 200
        listed = json_call(socket, "GET", "/v1.41/images/json").json()
        assert sorted(t for i in listed for t in i["RepoTags"]) == ["busybox:latest", "keep:1"]
        every = json_call(socket, "GET", "/v1.41/images/json?all=1").json()
        assert len(every) == 3  # busybox, keep:1 and the RUN step's image under it
        engine.restart()
        made = json_call(socket, "POST", "/v1.41/containers/create", {"Image": "keep:1"})
        cid = made.json()["Id"]
        assert http_call(socket, "POST", f"/v1.41/containers/{cid}/start").status == 204
        json_call(socket, "POST", f"/v1.41/containers/{cid}/wait", timeout=60)
        logs = http_call(socket, "GET", f"/v1.41/containers/{cid}/logs?stdout=1")
        assert logs.body.endswith(b"kept\n")
        http_call(socket, "DELETE", f"/v1.41/containers/{cid}")
        deleted = json_call(socket, "DELETE", "/v1.41/images/keep:1").json()
        assert [list(d) for d in deleted] == [["Untagged"], ["Deleted"], ["Deleted"]]
        assert len(json_call(socket, "GET", "/v1.41/images/json?all=1").json()) == 1
        import sqlite3

        db = sqlite3.connect(str(Path(engine.home) / "engine" / "state.db"))
        try:
            assert db.execute("SELECT count(*) FROM layers").fetchone() == (0,)
        finally:
            db.close()


def test_an_abandoned_build_leaves_no_container(lab_engine_session: object) -> None:
    """A client that goes away mid-RUN takes the step's container with it."""
    from image_fixtures import _UnixConnection, wait_until

    socket = str(lab_engine_session.socket)  # type: ignore[attr-defined]
    pull_busybox(socket)
    conn = _UnixConnection(socket, 30)
    try:
        body = context_tar({"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
        conn.request("POST", "/v1.41/build?nocache=1", body=body)
        reply = conn.getresponse()
        short = ""
        while not short:
            line = reply.readline()
            assert line, "the build stream ended before its RUN step started"
            found = re.search(rb"Running in ([0-9a-f]{12})", line)
            short = found.group(1).decode() if found else ""
    finally:
        conn.close()

    def gone() -> bool:
        listed = json_call(socket, "GET", "/v1.41/containers/json?all=1").json()
        return not any(c["Id"].startswith(short) for c in listed)  # type: ignore[union-attr]

    assert wait_until(gone, timeout=20), f"the step's container {short} is still there"


def test_add_unpacks_a_local_tar_and_copy_does_not(target: Target, refs: list[str]) -> None:
    ref = f"lkb-{unique_token()}:add"
    refs.append(ref)
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        data = b"inside\n"
        info = tarfile.TarInfo("dir/inside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        dockerfile = (
            b"FROM busybox\nADD bundle.tar /unpacked/\nCOPY bundle.tar /copied/\n"
            b"RUN cat /unpacked/dir/inside.txt && ls /copied\n"
        )
        for name, payload in (("Dockerfile", dockerfile), ("bundle.tar", inner.getvalue())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    reply = http_call(
        target.socket,
        "POST",
        build_target("/v1.41/build", {"t": ref, "nocache": 1}),
        body=outer.getvalue(),
        headers={"Content-Type": "application/x-tar"},
        timeout=120,
    )
    got = normalised(reply.json_lines())
    assert {"stream": "inside\nbundle.tar\n"} in got, got


def test_a_parent_of_built_images_is_only_untagged(target: Target, refs: list[str]) -> None:
    """dockerd keeps an image that others were built from: untagged by name, 409 by id."""
    repo = f"lkb-{unique_token()}"
    parent, child = f"{repo}:parent", f"{repo}:child"
    refs.extend([child, parent])
    imported = http_call(
        target.socket,
        "POST",
        build_target("/v1.41/images/create", {"fromSrc": "-", "repo": repo, "tag": "parent"}),
        body=context_tar({"a.txt": "a\n"}),
        headers={"Content-Type": "application/x-tar"},
    )
    parent_id = imported.json_lines()[0]["status"]  # type: ignore[index]
    built = build(target, {"Dockerfile": f'FROM {parent}\nCMD ["x"]\n'}, t=child, nocache=1)
    assert built.status == 200
    by_id = http_call(target.socket, "DELETE", f"/v1.41/images/{parent_id}?force=1")
    assert (by_id.status, by_id.json()) == (
        409,
        {
            "message": f"conflict: unable to delete {parent_id[7:19]} (cannot be forced) - "
            "image has dependent child images"
        },
    )
    by_name = http_call(target.socket, "DELETE", f"/v1.41/images/{parent}")
    assert (by_name.status, by_name.json()) == (200, [{"Untagged": parent}])
    gone = http_call(target.socket, "DELETE", f"/v1.41/images/{child}").json()
    deleted = [d["Deleted"] for d in gone if "Deleted" in d]  # type: ignore[union-attr]
    assert parent_id in deleted[:2]  # the untagged parent goes with its last child
