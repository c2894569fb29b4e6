"""Exercises for lesson 05, the CLI is just a client: traces, the SDK, a client and a server.

The checks record the real ``docker`` command (and the docker SDK) through the recording
proxy, with random container names and versions, and hand the learner the transcript; or
they run the learner's client against a socket of their own, or the real ``docker
version`` against the learner's server. Without a ``docker`` command on the machine, the
checks that need one say so ("could not check"): that is not the learner's fault.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from labkit.exercises.context import LAB_IMAGE, CheckContext, expect, expect_type
from labkit.exercises.learner_code import Running, is_template, unfinished
from labkit.exercises.tasks import Lesson, task
from labkit.exercises.verdict import NotYet, Unchecked
from labkit.proxy.recorder import Exchange, Recorder, Transcript

LESSON = Lesson("05", "The CLI is just a client", "05-the-cli-is-just-a-client.ipynb", 20)

DOCKER_TIMEOUT = 60.0  # seconds a docker command the check runs may take
SERVER_TIMEOUT = 10.0  # seconds `docker version` may wait for the learner's server
NO_CLI = (
    "no docker CLI on this machine, so this check cannot run: it needs the real `docker` "
    "command (install Docker's CLI, or do this task where Docker is installed)"
)


# -- what the checks share --------------------------------------------------------------


def docker_cli() -> str:
    """The ``docker`` command on PATH, or Unchecked: not the learner's fault."""
    found = shutil.which("docker")
    if found is None:
        raise Unchecked(NO_CLI)
    return found


def run_docker(
    ctx: CheckContext,
    docker_host: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = DOCKER_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` against ``docker_host``, with an empty configuration of its own.

    No ``DOCKER_*`` variable of the caller's gets through, so that the learner's own
    contexts and settings play no part.
    """
    docker = docker_cli()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    environment.update(DOCKER_HOST=docker_host, DOCKER_CONFIG=str(ctx.temp_dir()), **(env or {}))
    return subprocess.run(
        [docker, *args], env=environment, capture_output=True, text=True, timeout=timeout
    )


def recorder(ctx: CheckContext, engine: Any = None) -> Recorder:
    """A recording proxy on a fresh socket in front of ``engine`` (the lab's engine), stopped
    when the check ends."""
    proxy = Recorder(engine if engine is not None else ctx.lab.endpoint, ctx.socket_path("p.sock"))
    proxy.start()
    ctx.later(proxy.stop)
    return proxy


def need_image(ctx: CheckContext) -> None:
    """The lab's busybox must be there: a check never pulls, nor leaves an image behind."""
    if not exists(ctx, f"/images/{LAB_IMAGE}/json"):
        raise Unchecked(
            f"the lab's {LAB_IMAGE} image is not on this engine, so the check cannot run a "
            "container: run the notebook's setup cell, or `labkit provision` in a terminal"
        )


def remove_container(ctx: CheckContext, name_or_id: str) -> None:
    with contextlib.suppress(Exception):
        ctx.client.request(
            "DELETE", f"/containers/{name_or_id}", params={"force": "true"}, timeout=30
        )


def exists(ctx: CheckContext, path: str) -> bool:
    """Whether the engine knows the object at ``path`` (an image's or a container's JSON)."""
    from labkit.client.http import APIError

    try:
        ctx.client.request("GET", path)
    except APIError as exc:
        return exc.status != 404
    return True


def record_cli(ctx: CheckContext, *args: str, env: dict[str, str] | None = None) -> Transcript:
    """A fresh recording of ``docker ARGS`` against the engine; Unchecked if docker fails."""
    proxy = recorder(ctx)
    try:
        result = run_docker(ctx, proxy.docker_host, *args, env=env)
    except subprocess.TimeoutExpired:
        raise Unchecked(
            f"`docker {' '.join(args)}` did not finish within {DOCKER_TIMEOUT:g} s, so there is "
            "no trace to check your answer against; is the engine busy?"
        ) from None
    proxy.wait_idle()
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["(nothing)"])[-1]
        raise Unchecked(f"`docker {' '.join(args)}` failed, so there is no trace to check: {said}")
    return proxy.transcript


def record_run(ctx: CheckContext) -> Transcript:
    """A fresh ``docker run --rm`` of busybox, under a random name, echoing a random word."""
    need_image(ctx)
    name = ctx.name("run")
    ctx.later(remove_container, ctx, name)
    return record_cli(ctx, "run", "--rm", "--name", name, LAB_IMAGE, "echo", ctx.token())


def record_sdk_run(ctx: CheckContext) -> Transcript:
    """A fresh ``containers.run(..., remove=True)`` through the docker SDK."""
    import docker

    need_image(ctx)
    name = ctx.name("sdk")
    ctx.later(remove_container, ctx, name)
    proxy = recorder(ctx)
    sdk = docker.DockerClient(base_url=proxy.docker_host, version=ctx.client.api_version)
    try:
        sdk.containers.run(LAB_IMAGE, ["echo", ctx.token()], name=name, remove=True)
    except Exception as exc:
        raise Unchecked(f"the docker SDK could not run the check's container ({exc})") from None
    finally:
        sdk.close()
    proxy.wait_idle()
    return proxy.transcript


def ready(fn: Any, name: str) -> None:
    """A function that is not the template any more, before the check does costly work."""
    if not callable(fn):
        raise NotYet(f"`{name}` should be a function, and it is a {type(fn).__name__}")
    if is_template(fn):
        raise NotYet(unfinished(f"`{name}`"), mistake="unfinished")


def request_line(exchange: Exchange) -> str:
    return f"{exchange.method} {exchange.path}"


def shown(text: str, limit: int = 100) -> str:
    """Text for a verdict: container ids cut to 12 digits, as docker shows them; not too long."""
    text = re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1…", text)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# -- 05.1 ------------------------------------------------------------------------------


@task(
    "05.1",
    "Which API version did the CLI use?",
    answer="api_version_used",
    hints=(
        "Look at the paths in the transcript: print(trace) shows one line per request. Every "
        "request after the ping starts with /vX.Y/.",
        "The ping, the first request, has no version in its path: take one of the requests "
        "after it. Each exchange has an .api_version property that reads the /vX.Y prefix.",
        "For example: next(e.api_version for e in transcript if e.api_version) (the "
        "exchanges of a transcript, in order, are what a for loop gives you).",
    ),
    mistakes={
        "ping-header": (
            "the ping's Api-Version header is the newest version the engine speaks, not the one "
            "the client chose; the version the CLI used is in the path of each later request: "
            "/vX.Y/containers/json"
        ),
        "unversioned-ping": (
            "the first request, the ping, is the one request with no /vX.Y in its path (it is "
            "how the CLI finds out which versions the engine speaks); the version is in the "
            "paths of the requests after it"
        ),
        "fixed-api-version": (
            "your function gives the same answer whatever the trace says; read the version "
            "from the transcript you are given (the /vX.Y at the start of a request's path)"
        ),
    },
)
def check_api_version_used(ctx: CheckContext, api_version_used: Any) -> str:
    ready(api_version_used, "api_version_used")
    docker_cli()
    info = ctx.client.version_info
    newest = _minor(str(info.get("ApiVersion", "")))
    oldest = max(_minor(str(info.get("MinAPIVersion", ""))) or 24, 24)
    if newest is None or newest - oldest < 3:
        raise Unchecked(f"the engine's API versions ({info.get('ApiVersion')}) leave no choice")
    # Two versions the CLI would not choose by itself: neither is the engine's newest.
    first, second = _two_distinct(ctx, oldest, newest - 1)
    answers = []
    for minor in (first, second):
        version = f"1.{minor}"
        trace = record_cli(ctx, "ps", "-a", env={"DOCKER_API_VERSION": version})
        got = ctx.call(api_version_used, trace, what="api_version_used(transcript)")
        answers.append((version, trace, got))
    for index, (version, trace, got) in enumerate(answers):
        what = f"for a trace of `docker ps -a` whose requests went to /v{version}/…"
        if got is None:
            raise NotYet(f"api_version_used() returned None {what}", "unversioned-ping")
        if isinstance(got, float):
            raise NotYet(
                f"api_version_used() returned the number {got!r}; return the version as text, "
                "like '1.41' (as a number, 1.40 would read 1.4)"
            )
        expect_type(got, str, "what api_version_used() returned")
        if got.strip().lstrip("v") == version:
            continue
        pings = trace.find(endpoint="/_ping")
        header = pings[0].response_headers.get("Api-Version") if pings else None
        if got.strip() == header:
            raise NotYet(
                f"api_version_used() returned {got!r}, the ping's Api-Version header, {what}",
                "ping-header",
            )
        if version in got:
            raise NotYet(f"api_version_used() returned {got!r} {what}; return the version alone")
        if answers[0][2] == answers[1][2]:
            other = answers[1 - index][0]
            raise NotYet(
                f"api_version_used() returned {got!r} {what}, and the same for a trace at "
                f"/v{other}/…",
                "fixed-api-version",
            )
        raise NotYet(f"api_version_used() returned {got!r} {what}")
    return "api_version_used() read the version from two traces at different API versions"


def _minor(version: str) -> int | None:
    match = re.fullmatch(r"1\.(\d+)", version.strip())
    return int(match[1]) if match else None


def _two_distinct(ctx: CheckContext, low: int, high: int) -> tuple[int, int]:
    first = ctx.randint(low, high)
    second = ctx.randint(low, high - 1)
    return first, second + 1 if second >= first else second


# -- 05.2 ------------------------------------------------------------------------------

_NOT_START = {
    "/containers/create": "create-not-start",
    "/containers/{id}/attach": "attach-not-start",
    "/containers/{id}/wait": "wait-not-start",
}


@task(
    "05.2",
    "Name the request that starts the container",
    answer="start_request",
    hints=(
        "print(trace) shows every request of a recorded run. Creating a container does not "
        "run it; which request does?",
        "The start is POST /vX.Y/containers/<id>/start. It may come before or after the wait, "
        "and the SDK sends its requests in another order than the CLI: find it by what it is, "
        "not by its position.",
        "trace.first('POST', '/containers/{id}/start') finds it ({id} stands for any one path "
        "segment); return its method and path: f'{e.method} {e.path}'.",
    ),
    mistakes={
        "create-not-start": (
            "create only makes the container (the engine answers 201 with its Id); nothing runs "
            "until a later request asks the engine to start it"
        ),
        "attach-not-start": (
            "the attach connects the client to the container's output (it is the 101 upgrade); "
            "it starts nothing. Look for the request whose path ends in /start"
        ),
        "wait-not-start": (
            "the wait asks to be told when the container has finished; it does not start it"
        ),
        "fixed-id": (
            "the container id in your answer is not this run's: every run makes a new container "
            "with a new id, so take the request from the transcript you are given"
        ),
    },
)
def check_start_request(ctx: CheckContext, start_request: Any) -> str:
    ready(start_request, "start_request")
    traces = []
    if shutil.which("docker"):
        traces.append(("a `docker run`", record_run(ctx)))
    traces.append(("a docker SDK run", record_sdk_run(ctx)))
    for which, trace in traces:
        try:
            start = trace.first("POST", "/containers/{id}/start")
        except LookupError as exc:
            raise Unchecked(f"the recording of {which} has no start ({exc})") from None
        got = ctx.call(start_request, trace, what=f"start_request(trace of {which})")
        _judge_start(got, start, trace, which)
    said = " and ".join(which for which, _ in traces)
    return f"start_request() named the start, POST /containers/{{id}}/start, in {said}"


def _judge_start(got: Any, start: Exchange, trace: Transcript, which: str) -> None:
    if isinstance(got, Exchange):
        got = request_line(got)
    expect_type(got, str, f"what start_request() returned for {which}")
    method, _, target = got.strip().partition(" ")
    path = target.strip().split("?", 1)[0]

    def named(exchange: Exchange) -> bool:
        return method.upper() == exchange.method and path in (exchange.path, exchange.endpoint)

    if named(start):
        return
    said = f"for {which}, start_request() returned {shown(got)}"
    for endpoint, mistake in _NOT_START.items():
        if any(named(e) for e in trace.find("POST", endpoint)):
            raise NotYet(said, mistake)
    if any(named(e) for e in trace):
        raise NotYet(f"{said}: that request is in the trace, but it is not the start")
    if re.search(r"/containers/[^/]+/start$", path):
        raise NotYet(said, "fixed-id")
    raise NotYet(
        f"{said}, which is not a request of this trace; give its method and path, like "
        f"{shown(request_line(trace[min(1, len(trace) - 1)]))}"
    )


# -- 05.3 ------------------------------------------------------------------------------


@task(
    "05.3",
    "Predict: on which connection does the attach go?",
    answer="attach_connection",
    kind="prediction",
    hints=(
        "What does the engine's 101 UPGRADED answer do to the connection it comes back on?",
        "After the 101, the attach connection carries the container's raw output until it "
        "ends: no more HTTP can go on it. Could the create's connection be used for it, and "
        "what would then carry the wait and the start?",
    ),
)
def check_attach_connection(ctx: CheckContext, predicted: Any) -> str:
    if not isinstance(predicted, str) or predicted.strip().lower() not in ("same", "new"):
        raise NotYet(f"attach_connection should be 'same' or 'new', and it is {predicted!r:.40}")
    trace = record_run(ctx)
    try:
        create = trace.first("POST", "/containers/create")
        attach = trace.first("POST", "/containers/{id}/attach")
    except LookupError as exc:
        raise Unchecked(f"the recording of `docker run` is not complete ({exc})") from None
    really = "same" if attach.connection == create.connection else "new"
    why = (
        "after its 101 that connection carries the container's raw stream, never HTTP again"
        if really == "new"
        else "this client had nothing else to send on it after the create"
    )
    if predicted.strip().lower() != really:
        raise NotYet(
            f"you predicted {predicted.strip()!r}; the create went on connection "
            f"{create.connection} and the attach on connection {attach.connection}: {why}",
            "wrong-prediction",
        )
    where = "a new connection" if really == "new" else "the create's connection"
    return f"the attach went on {where}, as you said: {why}"


# -- 05.4 ------------------------------------------------------------------------------


@task(
    "05.4",
    "The docker SDK, pointed at a socket",
    answer="run_with_sdk",
    time_limit=40.0,
    hints=(
        "docker.DockerClient(base_url=docker_host) is an SDK client for the engine at that "
        "address; its .containers.run(image, command) runs a container and returns its output.",
        "containers.run(..., remove=True) removes the container once it has its output, like "
        "docker run --rm. Leave the version out (or say version='auto'): the SDK then asks "
        "the engine which API version to use.",
        "client = docker.DockerClient(base_url=docker_host, version='auto'); then return "
        "client.containers.run('busybox', command, remove=True).",
    ),
    mistakes={
        "sdk-elsewhere": (
            "hand the address you were given to the SDK: docker.DockerClient("
            "base_url=docker_host). docker.from_env() goes to DOCKER_HOST or "
            "/var/run/docker.sock instead, and any other address skips the check's recorder"
        ),
        "sdk-too-new": (
            "the engine refused the API version your SDK client asked for as too new; leave "
            "the version out (or say version='auto') so that the SDK asks the engine first"
        ),
        "not-sdk": (
            "the requests did not come from the docker SDK (its User-Agent says "
            "docker-sdk-python); this task is about the SDK: docker.DockerClient(base_url=...)"
        ),
        "left-behind": (
            "containers.run(..., remove=True) asks the SDK to remove the container once it has "
            "the output, as docker run --rm does"
        ),
    },
)
def check_run_with_sdk(ctx: CheckContext, run_with_sdk: Any) -> str:
    ready(run_with_sdk, "run_with_sdk")
    need_image(ctx)
    words = [ctx.token(), ctx.token()]
    # The SDK follows the logs from the start; Podman 4.3 may end that stream as the
    # container exits, before its last line (a known race): the container lingers a moment.
    command = ["sh", "-c", f"echo {words[0]}; echo {words[1]}; sleep 0.5"]
    proxy = recorder(ctx)
    failed: NotYet | None = None
    got: Any = None
    try:
        got = ctx.call(run_with_sdk, proxy.docker_host, command, what="run_with_sdk(…)")
    except NotYet as miss:
        failed = miss
    proxy.wait_idle(5)
    seen = proxy.transcript
    made = _created_ids(seen)
    for cid in made:
        ctx.later(remove_container, ctx, cid)
    if not len(seen):
        said = f" ({failed.message})" if failed else ""
        raise NotYet(f"the recorder listening at docker_host saw no request{said}", "sdk-elsewhere")
    if any(e.status == 400 and b"too new" in e.response_body for e in seen):
        raise NotYet("the engine answered 400, client version too new", "sdk-too-new")
    if failed:
        raise failed
    if not all("docker-sdk-python" in (e.request_headers.get("User-Agent") or "") for e in seen):
        raise NotYet("the requests that reached the engine were not the SDK's", "not-sdk")
    want = f"{words[0]}\n{words[1]}\n"
    if isinstance(got, str):
        got = got.encode()
    expect_type(got, bytes, "what run_with_sdk() returned")
    expect(
        got == want.encode(),
        f"run_with_sdk() returned {got!r:.80}; the container printed {want.encode()!r}",
    )

    def gone(cid: str) -> bool:
        return not exists(ctx, f"/containers/{cid}/json")

    left = [cid for cid in made if not ctx.wait_for(lambda c=cid: gone(c), 5)]
    expect(not left, "the container run_with_sdk() made is still there", "left-behind")
    return (
        "run_with_sdk() ran a container through the address it was given, returned its "
        "output and left nothing behind"
    )


def _created_ids(trace: Transcript) -> list[str]:
    ids = []
    for exchange in trace.find("POST", "/containers/create"):
        body = exchange.response_json()
        if isinstance(body, dict) and isinstance(body.get("Id"), str):
            ids.append(body["Id"])
    return ids


# -- 05.5 ------------------------------------------------------------------------------


@task(
    "05.5",
    "A client of your own: the names of all containers",
    answer="container_names",
    hints=(
        "GET /containers/json lists containers as JSON; each item's 'Names' is a list, and "
        "its first name is the one docker ps shows, with a '/' in front.",
        "Without a query the engine lists only running containers; ?all=1 gives stopped ones "
        "too. Read the reply whole: http.client does that for you, including a chunked body.",
        "With lesson 03's UnixHTTPConnection: conn.request('GET', '/containers/json?all=1'); "
        "items = json.loads(conn.getresponse().read()); return [i['Names'][0].lstrip('/') for "
        "i in items].",
    ),
    mistakes={
        "running-only": (
            "GET /containers/json lists only the running containers, like docker ps; docker "
            "ps -a sends ?all=1 to get the stopped ones too"
        ),
        "leading-slash": (
            "the engine keeps each name with a '/' in front (/web); docker ps shows it without, "
            "and so should your function: name.lstrip('/')"
        ),
        "used-sdk": (
            "this task is about talking HTTP yourself: a socket, or http.client with a Unix "
            "socket (lesson 03), not the docker SDK"
        ),
        "one-recv": (
            "the JSON could not be read because the reply was not read whole: one recv() gives "
            "whatever has arrived so far. Read to the end of the body (http.client does), or "
            "send Connection: close and read until the engine hangs up"
        ),
    },
)
def check_container_names(ctx: CheckContext, container_names: Any) -> str:
    ready(container_names, "container_names")
    need_image(ctx)
    stopped = ctx.container(["true"], wait=True)["Name"]
    running = ctx.container(["sleep", "60"])["Name"]
    tap = ctx.tap(drip=True)
    since = ctx.engine_now()
    before = _all_names(ctx)
    failed: NotYet | None = None
    try:
        got = ctx.call(container_names, str(tap.path), what="container_names(socket_path)")
    except NotYet as miss:
        failed = miss
    for sent in tap.seen:
        if b"docker-sdk-python" in sent.head:
            raise NotYet("container_names() used the docker SDK", "used-sdk")
        if sent.mistake():
            raise NotYet(f"container_names() sent {sent.data!r:.90}", sent.mistake())
    if failed is not None:
        if failed.mistake == "raised" and "JSONDecodeError" in failed.message:
            raise NotYet(failed.message, "one-recv")
        raise failed
    if isinstance(got, (str, bytes)):
        raise NotYet(f"container_names() returned {type(got).__name__}; return a list of names")
    expect_type(got, (list, tuple, set), "what container_names() returned")
    names = list(got)
    expect(all(isinstance(n, str) for n in names), "every name should be a str")
    if f"/{stopped}" in names or f"/{running}" in names:
        raise NotYet(f"container_names() returned '/{running}'", "leading-slash")
    if running in names and stopped not in names:
        raise NotYet(
            f"container_names() missed {stopped!r}, a container that has exited", "running-only"
        )
    missing = [n for n in (stopped, running) if n not in names]
    expect(not missing, f"container_names() missed {', '.join(missing)}, which the check made")
    known = before | _all_names(ctx)
    strangers = [n for n in names if n not in known]
    if strangers:  # on a busy engine, a container may have come and gone meanwhile
        events = ctx.engine_events(since, ctx.engine_now(), {"type": ["container"]})
        known |= {str(e.get("Actor", {}).get("Attributes", {}).get("name")) for e in events}
        strangers = [n for n in strangers if n not in known]
    if strangers:
        raise NotYet(f"container_names() returned {strangers[0]!r:.60}, which names no container")
    return (
        "container_names() listed the containers the check made, the running one and the "
        "stopped one, by their names"
    )


def _all_names(ctx: CheckContext) -> set[str]:
    every = ctx.client.get("/containers/json", params={"all": "1"})
    return {n.lstrip("/") for c in every for n in c.get("Names") or []}


# -- 05.6 ------------------------------------------------------------------------------


@task(
    "05.6",
    "A server that `docker version` accepts",
    answer="serve_engine",
    stretch=True,
    hints=(
        "Lesson 05's FakeEngine is most of it: a BaseHTTPRequestHandler with protocol_version "
        "'HTTP/1.1', served by a UnixStreamServer on socket_path with serve_forever().",
        "The CLI puts the version it agreed on in front of its paths (GET /vX.Y/version): "
        "strip a leading /vX.Y before you look the path up. It pings first, with HEAD /_ping: answer it too.",
        "Answer /_ping with the header Api-Version: api_version, and /version with JSON that "
        "has at least Version and ApiVersion; every reply needs its Content-Length (and a "
        "reply to HEAD has no body).",
    ),
    mistakes={
        "version-prefix": (
            "the CLI puts the API version in front of every path but the ping's (/vX.Y/version), "
            "so strip a leading /vX.Y before you look the path up"
        ),
        "no-version": (
            "docker version cannot do without GET /version: answer it with a JSON object "
            "holding Version and ApiVersion"
        ),
        "ping-no-api-version": (
            "answer the ping (HEAD /_ping, or GET) with 200 and the header Api-Version: "
            "api_version; without it the CLI cannot tell which API version your server speaks "
            "and falls back to the oldest it knows"
        ),
        "fixed-version": (
            "use the arguments version and api_version in your replies: the check picks new "
            "ones each time"
        ),
        "no-length": (
            "the CLI waited for the end of a reply that never came: with HTTP/1.1 a reply must "
            "say where its body ends (Content-Length), or the client keeps waiting"
        ),
        "not-listening": (
            "nothing answered on socket_path: your function should create a Unix socket "
            "server there and keep serving (serve_forever) until the check stops it"
        ),
    },
)
def check_serve_engine(ctx: CheckContext, serve_engine: Any) -> str:
    ready(serve_engine, "serve_engine")
    docker_cli()
    version = f"{ctx.randint(1, 9)}.{ctx.randint(0, 30)}.{ctx.randint(0, 9)}-{ctx.token(5)}"
    api_version = f"1.{ctx.randint(30, 45)}"
    path = ctx.socket_path("engine.sock")
    running = ctx.start(serve_engine, str(path), version, api_version, what="serve_engine(…)")
    ctx.later(_wake_until_stopped, running, path)  # runs before ctx.start's stop: see there
    _wait_listening(running, path)
    proxy = recorder(ctx, path)
    try:
        result = run_docker(ctx, proxy.docker_host, "version", timeout=SERVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        result = None
    proxy.wait_idle(1)
    seen = proxy.transcript  # before stop(), which ends what is still waiting
    proxy.stop()
    if result is None:
        _explain_hang(seen)
    assert result is not None
    server = result.stdout.partition("Server:")[2]
    _explain_failure(result, server, seen)
    showed = {
        "Version": _field(server, "Version"),
        "API version": (_field(server, "API version") or "").split(" ")[0],
    }
    for name, field in (("Version", "Version"), ("API version", "ApiVersion")):
        if not showed[name]:
            raise NotYet(
                f"docker version showed no {name}: your /version has no {field}", "no-version"
            )
    if showed["Version"] != version or showed["API version"] != api_version:
        raise NotYet(
            f"docker version showed Version {showed['Version']!r} and API version "
            f"{showed['API version']!r}; the check passed in {version!r} and {api_version!r}",
            "fixed-version",
        )
    pings = seen.find(endpoint="/_ping")
    answered = [e for e in pings if e.status == 200]
    if not answered:
        statuses = ", ".join(f"{e.method} {e.status}" for e in pings) or "no ping at all"
        raise NotYet(
            f"your server did not answer the ping with 200 ({statuses})", "ping-no-api-version"
        )
    said = [e.response_headers.get("Api-Version") for e in answered]
    if api_version not in said:
        asked = _version_request(seen)
        then = f"; the CLI then asked for {asked}" if asked else ""
        given = next((v for v in said if v), None)
        if given:
            raise NotYet(
                f"your server's answer to the ping said Api-Version: {given}, not {api_version}"
                + then,
                "fixed-version",
            )
        raise NotYet(
            f"your server's answer to the ping had no Api-Version header{then}",
            "ping-no-api-version",
        )
    return (
        "the real docker version talked to your server and showed the Version and API version "
        "the check chose"
    )


def _wait_listening(running: Running, path: Path, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running.alive:
            running.raise_error()
            raise NotYet(
                "serve_engine() returned at once; it should keep serving until the check stops it",
                "not-listening",
            )
        if _answers(path):
            return
        time.sleep(0.05)
    raise NotYet(f"after {timeout:g} s nothing listened at socket_path", "not-listening")


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _wake_until_stopped(running: Running, path: Path) -> None:
    """Connect now and then while the learner's server is being stopped.

    The check stops the server by raising into its thread, which takes effect only when
    the thread runs Python again; a server blocked in ``accept()`` does so when a client
    comes. This runs just before that stop, in a thread of its own, until the server is gone.
    """

    def poke() -> None:
        deadline = time.monotonic() + 10
        while running.alive and time.monotonic() < deadline:
            _answers(path)
            time.sleep(0.1)

    threading.Thread(target=poke, name="labkit-check-wake", daemon=True).start()


def _field(section: str, name: str) -> str | None:
    match = re.search(rf"^\s*{re.escape(name)}:[ \t]*(.*?)\s*$", section, re.M)
    return match[1] if match else None


def _version_request(seen: Transcript) -> str | None:
    found = [e for e in seen if e.endpoint == "/version"]
    return request_line(found[0]) if found else None


def _explain_hang(seen: Transcript) -> None:
    waiting = [e for e in seen if e.status is None or not e.complete]
    for exchange in waiting:
        if exchange.status is not None and exchange.method != "HEAD":
            length = exchange.response_headers.get("Content-Length")
            chunked = "chunked" in (exchange.response_headers.get("Transfer-Encoding") or "")
            if length is None and not chunked:
                raise NotYet(
                    f"docker version waited {SERVER_TIMEOUT:g} s for the end of your answer to "
                    f"{request_line(exchange)}, which has no Content-Length",
                    "no-length",
                )
    stuck = f" (it was waiting for the answer to {request_line(waiting[0])})" if waiting else ""
    raise NotYet(
        f"docker version did not finish within {SERVER_TIMEOUT:g} s{stuck}; does your server "
        "answer every request, and say how long each body is?"
    )


def _explain_failure(
    result: subprocess.CompletedProcess[str], server: str, seen: Transcript
) -> None:
    if result.returncode == 0 and server.strip():
        return
    said = (result.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
    found = [e for e in seen if e.endpoint == "/version"]
    if found and found[0].status is not None and found[0].status >= 400:
        answer = f"{found[0].status} {found[0].reason}".strip()
        said = f"your server answered {request_line(found[0])} with {answer}"
        if found[0].status == 404 and found[0].api_version:
            raise NotYet(said, "version-prefix")
        raise NotYet(said, "no-version")
    if not found:
        raise NotYet(f"docker version failed ({said:.160}) before it asked for /version")
    raise NotYet(f"docker version failed: {said:.200}")
