"""Exercises for lesson 03, HTTP over a Unix socket: URLs, curl, versions and error bodies."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from labkit.client.names import familiar, same_name
from labkit.exercises import learner_code
from labkit.exercises.context import LAB_IMAGE, CheckContext, expect, expect_type
from labkit.exercises.tap import EngineTap, RequestSeen, fresh_socket_path
from labkit.exercises.tasks import Lesson, task
from labkit.exercises.verdict import NotYet, Unchecked
from labkit.transport.exchange import exchange

LESSON = Lesson("03", "HTTP over a Unix socket", "03-http-over-a-unix-socket.ipynb", 20)

OTHER_SOCKET = {
    "other-socket": (
        "the check gives your function a socket of its own in `socket_path`, which forwards to "
        "the engine; connect there (not to lab.socket_path or a path typed in), so that the "
        "check sees what you send"
    ),
}


# -- shared by the checks below ---------------------------------------------------------


def _ready(fn: Any, name: str) -> None:
    """Say "not yet" before the check builds any state, if there is no function to call."""
    if not callable(fn):
        raise NotYet(f"this task wants a function, and {type(fn).__name__} {fn!r:.60} is not one")
    if learner_code.is_template(fn):
        raise NotYet(learner_code.unfinished(f"`{name}`"), "unfinished")


def _tap_named(ctx: CheckContext, name: str) -> EngineTap:
    """Like ``ctx.tap()``, at a socket file called ``name`` (spaces and all)."""
    folder, path = fresh_socket_path(name)
    tap = EngineTap(ctx.lab.endpoint, path, folder, drip=False)
    ctx.later(tap.close)
    return tap


def _reached(
    seen: list[RequestSeen], what: str, path: Path, failed: NotYet | None = None
) -> list[RequestSeen]:
    """The connections made to a check's socket; "not yet" if there were none.

    When the learner's code failed before it sent anything, its own error says more than
    "nothing arrived", so that is the verdict.
    """
    new = [s for s in seen if s.data]
    if not new:
        if failed:
            raise failed
        raise NotYet(f"{what} sent nothing to the socket it was given ({path})", "other-socket")
    return new


def _call(ctx: CheckContext, fn: Any, *args: Any, what: str) -> tuple[Any, NotYet | None]:
    """The learner's result, or the "not yet" it ended in (so the traffic can be read first)."""
    try:
        return ctx.call(fn, *args, what=what), None
    except NotYet as miss:
        if miss.mistake in ("unfinished", "hang"):
            raise
        if miss.mistake == "raised" and f"http+unix://{args[0]}" in miss.message:
            raise NotYet(miss.message, "unencoded-socket-path") from None
        return None, miss


def _headers(seen: RequestSeen) -> dict[str, str]:
    lines = seen.head.decode("latin-1").splitlines()[1:]
    pairs = (line.partition(":") for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


def _status_line(reply: bytes) -> str:
    return reply.split(b"\r\n", 1)[0].decode("latin-1").removeprefix("HTTP/1.1 ")


def _engine_message(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("message") if isinstance(data, dict) else None


def _curl() -> str:
    found = shutil.which("curl")
    if found is None:
        raise Unchecked(
            "curl is not installed on this machine, so this check cannot run it; install it "
            "(on Debian or Ubuntu: sudo apt install curl) and run the check again"
        )
    return found


def _run_curl(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=15, env=env)
    except subprocess.TimeoutExpired:
        raise NotYet("curl did not finish within 15 s and was stopped") from None
    except OSError as exc:
        raise NotYet(f"the command could not start: {exc}") from None


# -- 03.1 ------------------------------------------------------------------------------

# Socket file names with what a URL gives meaning to: a space, %, #, ?, &, =, non-ASCII.
ODD_NAMES = ("engine {t}.sock", "50%25 off #{n}?{t}.sock", "déjà vu&{t}=1.sock")


@task(
    "03.1",
    "The http+unix:// URL for any socket path",
    answer="unix_url",
    hints=(
        "The URL is the scheme http+unix://, then the socket's path as the host part, then the "
        "path you ask for: http+unix://SOCKET/_ping.",
        "The socket's path goes in encoded: in a URL a / ends the host part, a # starts a "
        "fragment, a ? a query, and a % an escape. urllib.parse.quote() encodes them.",
        "quote() leaves / alone unless you say otherwise: "
        "'http+unix://' + quote(socket_path, safe='') + path",
    ),
    mistakes={
        "only-slashes-encoded": (
            "only the slashes were encoded; a socket's name may hold anything a URL gives "
            "meaning to (a space, %, #, ?). quote(socket_path, safe='') encodes them all"
        ),
        "wrong-scheme": (
            "requests-unixsocket only takes URLs that start with http+unix://; the encoded socket "
            "path comes right after it"
        ),
    },
)
def check_unix_url(ctx: CheckContext, unix_url: Any) -> str:
    _ready(unix_url, "unix_url")
    import requests_unixsocket

    cases = [(ctx.tap(drip=False), "/_ping")]
    for name, target in zip(ODD_NAMES, ("/version", "/images/json?all=1", "/_ping"), strict=True):
        cases.append((_tap_named(ctx, name.format(t=ctx.token(5), n=ctx.randint(1, 99))), target))
    for tap, target in cases:
        path = str(tap.path)
        what = f"unix_url({path!r}, {target!r})"
        url = ctx.call(unix_url, path, target, what=what)
        expect_type(url, str, what)
        before = len(tap.seen)
        with requests_unixsocket.Session() as session:
            try:
                reply = session.get(url, timeout=5)
            except Exception as exc:
                raise _url_mistake(url, path, target, what, exc) from None
        expect(
            len(tap.seen) > before,
            f"{what} gave {url!r}, and that URL did not lead to the socket",
        )
        asked = tap.seen[before].target
        expect(
            asked == target,
            f"through {url!r} the engine was asked for {asked!r}, not {target!r}: the path goes "
            "right after the encoded socket path, as it is",
        )
        expect(reply.status_code == 200, f"GET {url!r} got {reply.status_code} {reply.reason}")
    return (
        "requests-unixsocket reached the engine through each URL unix_url() built, for socket "
        "names with spaces, %, #, ? and non-ASCII letters"
    )


def _url_mistake(url: str, path: str, target: str, what: str, exc: Exception) -> NotYet:
    """Why requests-unixsocket could not use the URL, named when it is a known mistake."""
    said = f"{what} gave {url!r}"
    prefix = "http+unix://"
    if not url.startswith(prefix):
        return NotYet(said, "wrong-scheme")
    host = url[len(prefix) :].split("/", 1)[0]
    if not host or path in url or quote(path) in url:
        return NotYet(f"{said}, where the socket path is not encoded", "unencoded-socket-path")
    decoded = unquote(host)
    if "%2f" in host.lower():  # the slashes are encoded, so something else in the name is not
        shown = "" if decoded == path else f"; decoded, its host part is {decoded!r}"
        return NotYet(f"{said}{shown}", "only-slashes-encoded")
    if decoded != path:
        return NotYet(f"{said}; decoded, its host part is {decoded!r}, not the socket's path")
    return NotYet(f"requests-unixsocket could not use {url!r}: {type(exc).__name__}: {exc}")


# -- 03.2 ------------------------------------------------------------------------------


@task(
    "03.2",
    "Predict: where curl goes with http://images/json",
    answer="predicted_path",
    kind="prediction",
    hints=(
        "--unix-socket changes where curl connects, not how it reads the URL: http://HOST/PATH.",
        "In http://images/json, what comes between // and the next / is the host name. What is "
        "left is the path.",
    ),
)
def check_predict_curl(ctx: CheckContext, predicted: Any) -> str:
    expect_type(predicted, str, 'predicted_path (a path such as "/containers/json")')
    curl = _curl()
    tap = ctx.tap(drip=False)
    _run_curl([curl, "-s", "--unix-socket", str(tap.path), "http://images/json"])
    seen = tap.first
    if not seen.data:
        raise Unchecked("curl did not reach the check's socket, so there is nothing to compare")
    host = _headers(seen).get("host", "")
    said = f"curl sent GET {seen.target} with Host: {host}"
    answered = f"the engine answered {_status_line(seen.reply)}"
    if predicted.strip().lstrip("/") != seen.target.lstrip("/"):
        raise NotYet(
            f"you predicted {predicted!r}; {said}, and {answered}. curl reads "
            "http://images/json as the host 'images' and the path '/json', whatever socket it "
            "connects to",
            "wrong-prediction",
        )
    return f"as you predicted, {said} (it took 'images' for the host name), and {answered}"


# -- 03.3 ------------------------------------------------------------------------------

_SHELL = re.compile(r"^(\||\|\||&&|;|>|>>|<|2>|2>&1|&)$")


@task(
    "03.3",
    "curl lists this engine's images",
    answer="curl_images",
    hints=(
        "The endpoint that lists images is GET /images/json. curl needs to be told to connect "
        "to a socket file instead of a TCP port.",
        "--unix-socket PATH tells curl where to connect; the URL still needs a host name before "
        "the path, and localhost is the habit.",
        "['curl', '-s', '--unix-socket', socket_path, 'http://localhost/images/json'] (or the "
        "same as one string, with shlex.quote(socket_path) if the path could hold spaces)",
    ),
    mistakes={
        **OTHER_SOCKET,
        "no-unix-socket": (
            "without --unix-socket, curl connects over TCP to the host in the URL; give it "
            "--unix-socket followed by the socket's path"
        ),
        "curl-head-shown": (
            "-i prints the status line and the headers before the body; the check wants curl's "
            "output to be the JSON list alone, so leave -i out"
        ),
    },
)
def check_curl_images(ctx: CheckContext, curl_images: Any) -> str:
    _ready(curl_images, "curl_images")
    _curl()
    tap = ctx.tap()
    tag = _fresh_tag(ctx)
    line = ctx.call(curl_images, str(tap.path), what="curl_images(socket_path)")
    argv = _argv(line)
    if not any(arg.startswith("--unix-socket") for arg in argv):
        raise NotYet(f"the command {shlex.join(argv)!r} has no --unix-socket", "no-unix-socket")
    before = _image_ids(ctx)
    done = _run_curl(argv)
    said = f"curl printed {done.stdout.strip()[:80]!r}" + (
        f" and said {done.stderr.strip()[:80]!r}" if done.stderr.strip() else ""
    )
    seen = _reached(tap.seen, "your curl command", tap.path)[0]
    if seen.target == "/json" or _headers(seen).get("host") == "images":
        raise NotYet(f"curl asked the engine for GET {seen.target}", "curl-host-part")
    if done.stdout.startswith("HTTP/"):
        raise NotYet("curl's output starts with the reply's status line", "curl-head-shown")
    try:
        images = json.loads(done.stdout)
    except ValueError:
        raise NotYet(f"{said}; that is not the JSON list of images") from None
    if isinstance(images, dict) and "message" in images:
        raise NotYet(f"the engine answered GET {seen.target} with: {images['message']}")
    expect(
        isinstance(images, list) and all(isinstance(i, dict) and "Id" in i for i in images),
        f"{said}; that is not the list of images GET /images/json gives",
    )
    # Docker writes lk-check-…:…, Podman docker.io/library/lk-check-…:…: the same name.
    tags = [familiar(str(t)) for i in images for t in (i.get("RepoTags") or [])]
    expect(
        tag in tags,
        f"curl printed {len(images)} entries, and none is tagged {tag}, the tag the check has "
        f"just put on {LAB_IMAGE}: are they the images (GET /images/json)?",
    )
    ids = {i["Id"] for i in images}
    after = _image_ids(ctx)
    expect(
        before & after <= ids <= before | after,
        "the images curl printed are not this engine's images",
    )
    return (
        "your curl command printed this engine's images, the tag the check had just made among them"
    )


def _argv(line: Any) -> list[str]:
    if isinstance(line, str):
        try:
            argv = shlex.split(line.strip().removeprefix("$").strip())
        except ValueError as exc:
            raise NotYet(
                f"the command line {line!r:.80} cannot be split into words: {exc}"
            ) from None
    elif isinstance(line, list | tuple) and all(isinstance(a, str | os.PathLike) for a in line):
        argv = [os.fspath(a) for a in line]
    else:
        raise NotYet(
            f"curl_images() should return the command line as a string or a list of strings, "
            f"and it returned {type(line).__name__} {line!r:.60}"
        )
    expect(bool(argv), "curl_images() returned an empty command line")
    expect(
        Path(argv[0]).name == "curl",
        f"the command line should start with curl, and it starts with {argv[0]!r}",
    )
    shell = [a for a in argv if _SHELL.match(a)]
    expect(
        not shell,
        f"the check runs your command itself, without a shell, so {shell[0] if shell else ''!r} "
        "and what follows would go to curl as arguments; leave them out: the check reads curl's "
        "own output",
    )
    return argv


def _fresh_tag(ctx: CheckContext) -> str:
    """A new tag on the lab's busybox image, removed when the check ends."""
    repo, tag = f"lk-check-{ctx.token(6)}", ctx.token(6)
    try:
        ctx.client.request("POST", f"/images/{LAB_IMAGE}/tag", params={"repo": repo, "tag": tag})
    except Exception as exc:
        raise Unchecked(
            f"the check could not tag the {LAB_IMAGE} image ({exc}); run the notebook's first "
            "code cell, which makes sure it is there"
        ) from None
    ctx.later(ctx.client.request, "DELETE", f"/images/{repo}:{tag}")
    return f"{repo}:{tag}"


def _image_ids(ctx: CheckContext) -> set[str]:
    return {i["Id"] for i in ctx.client.get("/images/json")}


# -- 03.4 ------------------------------------------------------------------------------


@task(
    "03.4",
    "The names of the running containers",
    answer="running_names",
    hints=(
        "GET /containers/json lists containers as JSON: one object per container, with its "
        "names in 'Names'.",
        "Without a query, /containers/json lists only the running containers, which is what "
        "you want. Each name starts with '/': strip it.",
        "session = requests_unixsocket.Session(); url = 'http+unix://' + quote(socket_path, "
        "safe='') + '/containers/json'; then [c['Names'][0].lstrip('/') for c in "
        "session.get(url).json()]",
    ),
    mistakes={
        **OTHER_SOCKET,
        "stopped-included": (
            "all=true (or all=1) asks for stopped containers too; without it, /containers/json "
            "lists only the running ones"
        ),
        "leading-slash": (
            "the engine writes each name with a '/' in front (a leftover of container links); "
            "a name as you would type it has none: name.lstrip('/')"
        ),
    },
)
def check_running_names(ctx: CheckContext, running_names: Any) -> str:
    _ready(running_names, "running_names")
    tap = ctx.tap()
    running = [ctx.container(["sleep", "300"])["Name"] for _ in range(3)]
    stopped = ctx.container(["true"], wait=True)["Name"]
    known = _all_names(ctx)
    got, failed = _call(ctx, running_names, str(tap.path), what="running_names(socket_path)")
    _reached(tap.seen, "running_names()", tap.path, failed)
    if failed:
        raise failed
    expect_type(got, (list, tuple, set), "running_names(socket_path)")
    names = list(got)
    odd = [n for n in names if not isinstance(n, str)]
    expect(not odd, f"running_names() should give names (str), and it gave {odd[:1]!r:.60}")
    slashed = [n for n in names if n.startswith("/")]
    if slashed:
        raise NotYet(f"running_names() gave {slashed[0]!r}", "leading-slash")
    if stopped in names:
        raise NotYet(f"{stopped} is among the names, and it has stopped", "stopped-included")
    missing = [n for n in running if n not in names]
    expect(not missing, f"{missing[:1]} is running, and running_names() left it out")
    strangers = set(names) - known - _all_names(ctx)
    expect(
        not strangers,
        f"{sorted(strangers)[:1]} is not the name of a container on this engine",
    )
    return "running_names() gave the running containers' names, and left out the stopped one"


def _all_names(ctx: CheckContext) -> set[str]:
    listed = ctx.client.get("/containers/json", params={"all": "true"})
    return {name.lstrip("/") for c in listed for name in c.get("Names") or []}


# -- 03.5 ------------------------------------------------------------------------------


@task(
    "03.5",
    "Ask the engine which API version to use",
    answer="versioned_get",
    hints=(
        "Two requests: first GET /version, without a /vX.Y prefix (it works on every engine), "
        "then your path with the prefix.",
        "The version to use is in the JSON of /version: its ApiVersion field (not Version, "
        "which is the engine's own release number).",
        "With base = 'http+unix://' + quote(socket_path, safe=''): version = "
        "session.get(base + '/version').json()['ApiVersion'], then "
        "session.get(f'{base}/v{version}{path}').json()",
    ),
    mistakes={
        **OTHER_SOCKET,
        "engine-version": (
            "Version is the engine's release (like 20.10.24); the API's version is another field "
            "of /version: ApiVersion"
        ),
    },
)
def check_versioned_get(ctx: CheckContext, versioned_get: Any) -> str:
    _ready(versioned_get, "versioned_get")
    fakes = [f"1.{minor}" for minor in _two_minors(ctx)]
    for fake in fakes:
        _against_fake_engine(ctx, versioned_get, fake)
    tap = ctx.tap()
    made = ctx.container(["true"], start=False)
    path = f"/containers/{made['Name']}/json"
    what = f"versioned_get(socket_path, {path!r})"
    got, failed = _call(ctx, versioned_get, str(tap.path), path, what=what)
    _reached(tap.seen, what, tap.path, failed)
    if failed:
        raise failed
    expect_type(got, dict, what)
    expect(
        got.get("Id") == made["Id"],
        f"{what} did not give that container's details (its Id is not {made['Id'][:12]}…)",
    )
    return (
        "versioned_get() asked GET /version first and used the ApiVersion it reported, on two "
        "made-up engines and on this one"
    )


def _two_minors(ctx: CheckContext) -> list[int]:
    """Two API versions' minor numbers, below labkit's newest and unlike this engine's."""
    taken = {41, 44}
    with contextlib.suppress(ValueError, IndexError):
        taken.add(int(str(ctx.lab.api_version).split(".")[1]))
    first = ctx.choice([m for m in range(25, 51) if m not in taken])
    second = ctx.choice([m for m in range(25, 51) if m not in taken | {first}])
    return [first, second]


def _against_fake_engine(ctx: CheckContext, versioned_get: Any, fake: str) -> None:
    token = ctx.token(10)
    release = f"{ctx.randint(21, 28)}.{ctx.randint(0, 5)}.{ctx.randint(1, 9)}"
    answer = {"Name": f"lk-fake-{token}", "Containers": ctx.randint(1, 9)}
    server = ctx.scripted(_fake_engine(fake, release, answer))
    what = "versioned_get(socket_path, '/info')"
    got, failed = _call(ctx, versioned_get, str(server.path), "/info", what=what)
    targets = [s.target for s in _reached(server.seen, what, server.path, failed)]
    info = [t for t in targets if t.split("?", 1)[0].endswith("/info")]
    prefix = info[-1].split("?", 1)[0].removesuffix("/info") if info else None
    if prefix is not None and prefix != f"/v{fake}":
        asked = f"versioned_get() asked for {prefix}/info"
        if prefix == f"/v{release}":
            raise NotYet(asked, "engine-version")
        if re.fullmatch(r"/v\d+\.\d+", prefix):
            raise NotYet(
                f"{asked} from an engine whose /version said ApiVersion {fake}",
                "fixed-api-version",
            )
        if not prefix:
            raise NotYet(
                "versioned_get() asked for /info with no /vX.Y prefix; this task wants the "
                f"engine's version in front of the path (here /v{fake}/info)"
            )
        raise NotYet(f"{asked}; the engine's /version said ApiVersion {fake}")
    if failed:
        raise failed
    expect(prefix is not None, f"versioned_get() never asked for /info; it asked for {targets}")
    if isinstance(got, str | bytes):
        raise NotYet(
            f"versioned_get() returned the body as it came, {got!r:.60}; decode the JSON "
            "(reply.json() or json.loads())"
        )
    expect(
        got == answer,
        f"versioned_get() returned {got!r:.80}; the engine's JSON reply was {answer!r:.80}",
    )


def _fake_engine(fake: str, release: str, answer: dict[str, Any]) -> Callable[[RequestSeen], bytes]:
    """Replies of an engine that speaks API ``fake``: /version, /_ping and /vFAKE/info."""

    def reply(seen: RequestSeen) -> bytes:
        target = seen.target.split("?", 1)[0]
        status, body = "404 Not Found", {"message": "page not found"}
        if re.fullmatch(r"(/v[0-9.]+)?/version", target):
            status = "200 OK"
            body = {"Version": release, "ApiVersion": fake, "MinAPIVersion": "1.12", "Os": "linux"}
        elif target == "/_ping":
            return _http("200 OK", b"OK", "text/plain; charset=utf-8", fake)
        elif target == f"/v{fake}/info":
            status, body = "200 OK", answer
        elif re.fullmatch(r"/v[0-9.]+/.*", target):
            version = target[2:].split("/", 1)[0]
            status = "400 Bad Request"
            body = {
                "message": f"client version {version} is too new. Maximum supported API "
                f"version is {fake}"
            }
        return _http(status, json.dumps(body).encode() + b"\n", "application/json", fake)

    return reply


def _http(status: str, body: bytes, content_type: str, api: str) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nApi-Version: {api}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# -- 03.6 ------------------------------------------------------------------------------


@task(
    "03.6",
    "Read an error body",
    answer="container_error",
    hints=(
        "A request for a container that does not exist still gets a reply: a status code, and a "
        "JSON body that explains.",
        "requests raises nothing for a 404: reply.status_code is the code, and reply.json() "
        "decodes the body, a dict with one key.",
        "return reply.status_code, reply.json()['message']",
    ),
    mistakes={
        **OTHER_SOCKET,
        "whole-body": (
            "that is the whole body; the engine's explanation is one field of its JSON, "
            "reply.json()['message']"
        ),
        "raise-for-status": (
            "raise_for_status() turns the 404 into an exception, so the body is never read; "
            "here the error reply is what you want: read its status and body as they are"
        ),
    },
)
def check_container_error(ctx: CheckContext, container_error: Any) -> str:
    _ready(container_error, "container_error")
    tap = ctx.tap()
    ghost = ctx.name("ghost")
    what = f"container_error(socket_path, {ghost!r})"
    got, failed = _call(ctx, container_error, str(tap.path), ghost, what=what)
    _reached(tap.seen, what, tap.path, failed)
    if failed:
        if failed.mistake == "raised" and "HTTPError" in failed.message:
            raise NotYet(failed.message, "raise-for-status")
        raise failed
    real = exchange(ctx.lab.endpoint, "GET", f"/containers/{ghost}/json")
    message = _engine_message(real.body)
    if message is None:
        raise Unchecked(f"the engine's reply to GET /containers/{ghost}/json has no message")
    expect_type(got, (tuple, list), what)
    expect(len(got) == 2, f"{what} should return 2 values, (status, message)")
    status, said = got
    expect(
        status == real.status,
        f"{what} gave the status {status!r}; the engine answered {real.status}",
    )
    if said in (real.body, real.body.decode("utf-8", "replace"), real.body.decode().strip()):
        raise NotYet(f"{what} gave the message {said!r:.80}", "whole-body")
    if isinstance(said, dict):
        raise NotYet(f"{what} gave the message {said!r:.80}", "whole-body")
    expect(
        said == message,
        f"{what} gave the message {said!r:.80}; the engine's was {message!r}",
    )
    return "container_error() read the 404 and the engine's own message for a missing container"


# -- 03.7 ------------------------------------------------------------------------------


@task(
    "03.7",
    "Create a container with http.client alone",
    answer="create_container",
    stretch=True,
    hints=(
        "Lesson 03's UnixHTTPConnection is http.client with connect() replaced; a POST "
        "goes through conn.request(method, target, body=..., headers=...).",
        "POST /containers/create?name=NAME with the JSON body {'Image': 'busybox', 'Cmd': "
        "command}. The engine wants to be told that the body is JSON.",
        "conn.request('POST', f'/containers/create?name={name}', body=json.dumps(config), "
        "headers={'Content-Type': 'application/json'}); then json.loads(conn.getresponse()"
        ".read())['Id']",
    ),
    mistakes={
        **OTHER_SOCKET,
        "no-content-type": (
            "the body is JSON, and the request does not say so: dockerd refuses a body without "
            "Content-Type: application/json (400). http.client adds no Content-Type by itself"
        ),
        "python-repr-body": (
            "the body is Python's repr of a dict, with single quotes; JSON wants double quotes: "
            "json.dumps(config)"
        ),
        "not-http-client": (
            "this task is about http.client, from Python's standard library: subclass "
            "http.client.HTTPConnection and give it a connect() that opens the Unix socket"
        ),
    },
)
def check_create_container(ctx: CheckContext, create_container: Any) -> str:
    _ready(create_container, "create_container")
    tap = ctx.tap()
    name = ctx.name("made")
    command = ["echo", ctx.token(10)]
    ctx.later(_remove_container, ctx, name)
    what = f"create_container(socket_path, {name!r}, {command!r})"
    got, failed = _call(ctx, create_container, str(tap.path), name, command, what=what)
    seen = _reached(tap.seen, what, tap.path, failed)
    post = _diagnose_create(seen, what)
    if failed:
        status = _status_line(post.reply)
        if not status.startswith("2"):
            message = _engine_message(post.reply.partition(b"\r\n\r\n")[2])
            said = f"the engine answered {status}" + (f" ({message})" if message else "")
            raise NotYet(f"{said}, and {failed.message}", failed.mistake)
        raise failed
    real = exchange(ctx.lab.endpoint, "GET", f"/containers/{name}/json")
    expect(
        real.status == 200,
        f"after {what}, the engine has no container called {name}: "
        f"{_engine_message(real.body) or real.status}",
    )
    info = json.loads(real.body)
    config = info.get("Config") or {}
    expect(config.get("Cmd") == command, f"the container's command is {config.get('Cmd')!r}")
    expect(
        same_name(str(config.get("Image")), LAB_IMAGE),
        f"the container's image is {config.get('Image')!r}, not {LAB_IMAGE}",
    )
    if isinstance(got, dict) and got.get("Id") == info["Id"]:
        raise NotYet(f"{what} returned the whole JSON reply; return its Id alone")
    expect(
        got == info["Id"],
        f"{what} returned {got!r:.80}; the container's Id is {info['Id']}",
    )
    return "create_container() made the container through http.client, and returned its Id"


OTHER_CLIENTS = ("python-requests", "python-httpx", "docker-sdk", "curl/", "docker/")


def _remove_container(ctx: CheckContext, name: str) -> None:
    ctx.client.request("DELETE", f"/containers/{name}", params={"force": "true"})


def _diagnose_create(seen: list[RequestSeen], what: str) -> RequestSeen:
    """The mistakes a POST /containers/create shows in its bytes, whatever the engine said."""
    posts = [s for s in seen if s.request_line.startswith("POST ")]
    if not posts:
        lines = ", ".join(s.request_line for s in seen)
        raise NotYet(f"{what} sent no POST; it sent {lines:.100}")
    post = posts[-1]
    headers = _headers(post)
    agent = headers.get("user-agent", "")
    if agent.lower().startswith(OTHER_CLIENTS):
        raise NotYet(f"{what} sent its request with User-Agent: {agent}", "not-http-client")
    expect(
        re.match(r"(/v[\d.]+)?/containers/create", post.target) is not None,
        f"{what} sent POST {post.target}; containers are made by POST /containers/create",
    )
    body = post.data[len(post.head) :]
    if body.lstrip().startswith(b"{'"):
        raise NotYet(f"{what} sent the body {body[:60]!r}", "python-repr-body")
    content_type = headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        shown = f"Content-Type: {content_type}" if content_type else "no Content-Type"
        raise NotYet(f"{what} sent a JSON body with {shown}", "no-content-type")
    return post
