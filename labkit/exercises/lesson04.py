"""Exercises for lesson 04, the Engine API: images, containers, frames and events over HTTP.

The learner's functions get an ``api`` client (labkit's, as in the lesson). Where a
check needs to see the learner's requests, or to know when an event stream is
open, that client talks through a tap (:meth:`CheckContext.tap`), which forwards to
the engine and records what passed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import struct
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from labkit.client.http import Client
from labkit.client.names import familiar
from labkit.exercises import learner_code
from labkit.exercises.context import CheckContext, expect, expect_type
from labkit.exercises.tap import EngineTap
from labkit.exercises.tasks import Lesson, task
from labkit.exercises.verdict import NotYet, Unchecked
from labkit.wire.frames import STDERR, STDOUT, FrameDecoder

LESSON = Lesson("04", "The Engine API", "04-the-engine-api.ipynb", 20)

STREAM_WORDS = {STDOUT: "stdout", STDERR: "stderr"}


def tapped_client(ctx: CheckContext, tap: EngineTap, timeout: float = 30) -> Client:
    """A client like the lesson's ``api``, whose requests pass through ``tap``."""
    client = Client(f"unix://{tap.path}", api_version=ctx.client.api_version, timeout=timeout)
    ctx.later(client.close)
    return client


def requested(tap: EngineTap) -> list[str]:
    """The targets of every request that passed through ``tap``, keep-alive ones included."""
    found = []
    for seen in list(tap.seen):
        found += [m.decode("latin-1") for m in _REQUEST_LINE.findall(seen.data)]
    return found


_REQUEST_LINE = re.compile(rb"(?m)^(?:GET|HEAD|POST|PUT|DELETE) (\S+) HTTP/1\.[01]\r?$")
_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)/")


def request_mistake(ctx: CheckContext, tap: EngineTap, miss: NotYet) -> NotYet:
    """``miss``, or what the learner's requests show went wrong: a fixed version, a bad filter."""
    if miss.mistake not in (None, "raised", "returned-none"):
        return miss

    def seen(what: str) -> str:  # a raised APIError already shows the request
        return "" if miss.mistake == "raised" else f" (it sent {what!r:.60})"

    for target in requested(tap):
        version = _VERSION_PREFIX.match(target)
        if version and version[1] != ctx.client.api_version:
            return NotYet(f"{miss.message}{seen(target)}", "fixed-api-version")
        for value in parse_qs(urlsplit(target).query).get("filters", []):
            try:
                filters = json.loads(value)
            except ValueError:
                filters = None
            lists = isinstance(filters, dict) and all(
                isinstance(v, (list, dict)) for v in filters.values()
            )
            if not lists:
                return NotYet(f"{miss.message}{seen(value)}", "filter-shape")
    return miss


def _as_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    expect_type(value, (bytes, bytearray), what)
    return bytes(value)


# -- 04.1 ------------------------------------------------------------------------------


@task(
    "04.1",
    "The names in one repository",
    answer="names_in",
    hints=(
        "GET /images/json lists every image; its `filters` parameter asks the engine for fewer.",
        "The filter you want is `reference`, and its value is a list: "
        "params={'filters': {'reference': [repository]}}.",
        "Each image in the reply has a list RepoTags; collect the names from all of them into "
        "one list: [name for image in images for name in image['RepoTags']].",
    ),
    mistakes={
        "other-repositories": (
            "the list holds names from other repositories: let the engine pick the images, "
            "with filters={'reference': [repository]} in the query"
        ),
        "filter-shape": (
            "the value of `filters` is a JSON object whose values are lists, even for one "
            "value: {'reference': [repository]}, not {'reference': repository} nor "
            "'reference=…'. The engine refuses anything else (dockerd 20.10 with a puzzling 500)"
        ),
        "prefix-match": (
            "a repository's name must match exactly, not just its start: a `*` in the "
            "reference filter, or str.startswith(), also takes in 'web-old' when you asked for "
            "'web'. Give the filter the repository's name as it is"
        ),
    },
)
def check_names_in(ctx: CheckContext, names_in: Any) -> str:
    tap = ctx.tap(drip=False)
    try:
        return _check_names_in(ctx, names_in, tap)
    except NotYet as miss:
        raise request_mistake(ctx, tap, miss) from None


def _check_names_in(ctx: CheckContext, names_in: Any, tap: EngineTap) -> str:
    repository = ctx.name("repo")
    wanted = [
        ("busybox", f"{repository}:{ctx.token(4)}"),
        ("busybox", f"{repository}:{ctx.token(5)}"),
        ("alpine", f"{repository}:{ctx.token(6)}"),
    ]
    decoy = f"{repository}-old:{ctx.token(4)}"
    for image, name in [*wanted, ("hello-world", decoy)]:
        _tag(ctx, image, name)
    expected = sorted(name for _, name in wanted)
    api = tapped_client(ctx, tap)
    got = ctx.call(names_in, api, repository, what=f"names_in(api, {repository!r})")
    expect_type(got, (list, tuple, set), f"names_in(api, {repository!r})")
    # Docker writes repo:tag, Podman docker.io/library/repo:tag: the same name.
    got_names = sorted(familiar(str(n)) for n in got)
    if got_names == expected:
        return "names_in() found every name in a fresh repository, and only those"
    along = _names_along(ctx, repository, expected)
    if along and got_names == sorted({*expected, *along}):
        return (
            "names_in() found every name in a fresh repository. This engine's reference filter "
            f"picks whole images, so their other names ({', '.join(along)}) came along; Docker "
            "lists only the names that match"
        )
    extra = [n for n in got_names if n not in expected and n not in along]
    if extra:
        if _sent_no_reference_filter(tap):
            raise NotYet(f"names_in() also returned {extra[0]!r}", "other-repositories")
        if decoy in got_names:
            raise NotYet(f"names_in() also returned {decoy!r}", "prefix-match")
        strangers = [n for n in extra if not n.startswith(f"{repository}:")]
        if strangers:
            raise NotYet(f"names_in() also returned {strangers[0]!r}", "other-repositories")
    missing = [n for n in expected if n not in got_names]
    if missing:
        raise NotYet(
            f"names_in() returned {len(got_names)} name(s); the repository has {len(expected)}, "
            f"among them {missing[0]!r}. An image can carry several of them: take every name "
            "in each image's RepoTags"
        )
    raise NotYet(f"names_in() returned {got_names!r:.120}; expected {expected!r:.120}")


def _names_along(ctx: CheckContext, repository: str, expected: list[str]) -> list[str]:
    """Names the engine's own reference filter lists beside ``expected`` (often none).

    None on Docker, which lists only the names that match. Podman lists every
    name of each image the filter picks (here busybox:latest and alpine:latest).
    """
    images = ctx.client.get("/images/json", params={"filters": {"reference": [repository]}})
    names = {familiar(str(n)) for image in images for n in (image.get("RepoTags") or [])}
    return sorted(names - set(expected))


def _sent_no_reference_filter(tap: EngineTap) -> bool:
    """The learner's requests went through the tap, and none of them had a reference filter."""
    targets = requested(tap)
    for target in targets:
        for value in parse_qs(urlsplit(target).query).get("filters", []):
            with contextlib.suppress(ValueError):
                filters = json.loads(value)
                if isinstance(filters, dict) and filters.get("reference"):
                    return False
    return bool(targets)


def _tag(ctx: CheckContext, image: str, name: str) -> None:
    """Give ``image`` the extra name ``name`` (repo:tag), taken off again when the check ends."""
    repo, _, tag = name.rpartition(":")
    try:
        ctx.client.request("POST", f"/images/{image}/tag", params={"repo": repo, "tag": tag})
    except Exception as exc:
        raise Unchecked(
            f"the check could not tag the image {image} ({exc}); run the notebook's first "
            "cell, which makes sure the lab's images are there"
        ) from None
    ctx.later(ctx.client.request, "DELETE", f"/images/{name}")


# -- 04.2 ------------------------------------------------------------------------------


@task(
    "04.2",
    "A container's state",
    answer="state_of",
    hints=(
        "Inspecting one container is GET /containers/{name}/json: a name works as well as an id.",
        "The reply is a large object; the part you want is under 'State'.",
        "info = api.get(f'/containers/{name}/json'); return info['State']['Status'], "
        "info['State']['ExitCode']",
    ),
    mistakes={
        "list-without-all": (
            "GET /containers/json lists running containers only (as `docker ps` does), so a "
            "created or exited one is not in it. Inspect the one container instead: "
            "GET /containers/{name}/json"
        ),
        "status-prose": (
            "that is the list's Status column, written for people ('Exited (3) 5 seconds ago'). "
            "The state as one word is in the inspect reply: State.Status"
        ),
    },
)
def check_state_of(ctx: CheckContext, state_of: Any) -> str:
    tap = ctx.tap(drip=False)
    api = tapped_client(ctx, tap)
    code = ctx.randint(1, 120)
    made = [
        ctx.container(["sleep", "60"], start=False),
        ctx.container(["sh", "-c", f"exit {code}"], wait=True),
        ctx.container(["sleep", "60"]),
    ]
    order = sorted(made, key=lambda _: ctx.randint(0, 1000))
    for container in order:
        name = container["Name"]
        state = ctx.client.get(f"/containers/{container['Id']}/json")["State"]
        want = (state["Status"], state["ExitCode"])
        what = f"state_of(api, {name!r})"
        try:
            got = ctx.call(state_of, api, name, what=what)
            expect_type(got, (tuple, list), what)
            expect(len(got) == 2, f"{what} should return (status, exit_code): 2 values")
        except NotYet as miss:
            raise _relabel(ctx, miss, tap, want) from None
        status, exit_code = got
        if isinstance(status, str) and status.split(" ")[0] in ("Exited", "Up", "Created"):
            raise NotYet(f"{what} returned the status {status!r}", "status-prose")
        if (status, exit_code) != want:
            miss = NotYet(f"{what} returned {tuple(got)!r}; the engine says {want!r}")
            raise _relabel(ctx, miss, tap, want)
    return "state_of() read the state of a created, a running and an exited container"


def _relabel(ctx: CheckContext, miss: NotYet, tap: EngineTap, want: tuple[str, int]) -> NotYet:
    """Name the mistake of looking in the list of running containers for one that is not."""
    listed_running = any(
        target.split("?")[0].endswith("/containers/json") and "all=" not in target
        for target in requested(tap)
    )
    if (
        listed_running
        and want[0] != "running"
        and miss.mistake in (None, "raised", "returned-none")
    ):
        return NotYet(f"for a container that is {want[0]}, {miss.message}", "list-without-all")
    return request_mistake(ctx, tap, miss)


# -- 04.3 ------------------------------------------------------------------------------


@task(
    "04.3",
    "Run a command from start to finish",
    answer="run",
    time_limit=30.0,
    hints=(
        "Five requests, in the lesson's order: create, start, wait, logs, remove. Create "
        "answers with the new container's Id; the others take it in their path.",
        "POST /containers/create with json={'Image': 'busybox', 'Cmd': command}; "
        "POST /containers/{id}/wait answers {'StatusCode': …} once the command has ended; "
        "GET /containers/{id}/logs wants params={'stdout': True}.",
        "The logs body is framed: demux(logs.body) from labkit.wire.frames gives (stdout, "
        "stderr). Remove with DELETE /containers/{id} before you return.",
    ),
    mistakes={
        "container-left": (
            "your function left its container behind: end with DELETE /containers/{id}, as "
            "`docker run --rm` does, or the engine keeps every stopped container"
        ),
        "frames-kept": (
            "the output still holds the frames' 8-byte headers (b'\\x01\\x00\\x00\\x00…'): a "
            "container without a TTY sends its logs framed. Take the payloads out, e.g. with "
            "demux() from labkit.wire.frames"
        ),
    },
)
def check_run(ctx: CheckContext, run: Any) -> str:
    # The first word also finds the learner's container among all of the engine's (and
    # removes it at the end): long enough that no stranger's command holds it by chance.
    words = [ctx.token(ctx.randint(12, 16)), *(ctx.token(ctx.randint(4, 10)) for _ in range(2))]
    code = ctx.randint(1, 120)
    command = ["sh", "-c", f"echo {words[0]}; echo {words[1]} {words[2]}; exit {code}"]
    ctx.later(_remove_leftovers, ctx, words[0])
    what = "run(api, command)"
    got = ctx.call(run, ctx.client, command, what=what)
    expect_type(got, (tuple, list), what)
    expect(len(got) == 2, f"{what} should return (exit_code, output): 2 values")
    exit_code, output = got
    output = _as_bytes(output, f"the output {what} returned")
    want = f"{words[0]}\n{words[1]} {words[2]}\n".encode()
    if output != want:
        if output.startswith((b"\x01\x00\x00\x00", b"\x02\x00\x00\x00")):
            raise NotYet(f"{what} returned the output {output!r:.60}", "frames-kept")
        if not output:
            raise NotYet(
                f"{what} returned no output: did it read the logs before the container had "
                "finished? Wait for it first"
            )
        raise NotYet(f"{what} returned the output {output!r:.80}; the command wrote {want!r:.80}")
    expect(
        exit_code == code,
        f"{what} returned the exit code {exit_code!r}; the command ended with {code} "
        "(the StatusCode in wait's reply)",
    )
    left = _leftovers(ctx, words[0])
    expect(
        not left,
        f"after {what}, its container {left[0] if left else ''} is still there",
        "container-left",
    )
    return "run() ran a command to its end, returned its exit code and output, and cleaned up"


def _leftovers(ctx: CheckContext, word: str) -> list[str]:
    """Containers whose command holds ``word`` (random, so only the learner's can)."""
    listed = ctx.client.get("/containers/json", params={"all": True})
    return [c["Id"][:12] for c in listed if word in str(c.get("Command", ""))]


def _remove_leftovers(ctx: CheckContext, word: str) -> None:
    for cid in _leftovers(ctx, word):
        ctx.client.request("DELETE", f"/containers/{cid}", params={"force": True}, timeout=30)


# -- 04.4 ------------------------------------------------------------------------------

# The sleeps keep the order of the lines: the engine reads stdout and stderr separately.
PREDICT_COMMAND = [
    "sh",
    "-c",
    "echo begin; echo still; sleep 0.3; echo oops >&2; sleep 0.3; echo end",
]


@task(
    "04.4",
    "Predict: frames and their streams",
    answer="predicted_streams",
    kind="prediction",
    time_limit=20.0,
    hints=(
        "A frame carries the bytes of one stream, but one stream's bytes need not all be in "
        "one frame. The engine keeps a container's logs line by line.",
        "Each line the container wrote comes back in a frame of its own, even two stdout lines "
        "in a row. Count the echos in order, and note which one writes to stderr (`>&2`).",
    ),
)
def check_predicted_streams(ctx: CheckContext, predicted: Any) -> str:
    expect_type(predicted, (list, tuple), "predicted_streams (a list such as [1, 2])")
    words = {"stdout": STDOUT, "stderr": STDERR}
    guess = [words.get(p, p) if isinstance(p, str) else p for p in predicted]
    container = ctx.container(PREDICT_COMMAND, wait=True)
    logs = ctx.client.request(
        "GET", f"/containers/{container['Id']}/logs", params={"stdout": True, "stderr": True}
    ).body
    real = [frame.stream for frame in FrameDecoder().feed(logs)]
    named = ", ".join(STREAM_WORDS.get(s, str(s)) for s in real)
    seen = f"the logs came in {len(real)} frames: {named}"
    if guess != real:
        raise NotYet(
            f"you predicted {list(predicted)!r}; {seen}, that is {real!r}. The engine keeps "
            "a container's logs line by line, and sends each line in a frame of its own",
            "wrong-prediction",
        )
    return f"{seen}, as you said"


# -- 04.5 ------------------------------------------------------------------------------


@task(
    "04.5",
    "stdout and stderr apart, by hand",
    answer="split_streams",
    time_limit=15.0,
    hints=(
        "Join the pieces as they come and take whole frames off the front: an 8-byte header, "
        "then exactly the length it gives.",
        "struct.unpack('>BxxxL', header) gives (stream, length); stream 1 is stdout, 2 is "
        "stderr. Add each payload to the bytes of its stream.",
        "A piece may end in the middle of a header or of a payload: keep what is left over in "
        "a buffer, and take a frame only once all 8 + length bytes of it are there.",
    ),
    mistakes={
        "frame-split": (
            "your function works when each piece holds whole frames, and not when a frame is "
            "cut across pieces, as a stream may cut it anywhere. Keep the bytes in a buffer and "
            "take a frame off its front only once the whole frame is there"
        ),
        "streams-swapped": (
            "stdout and stderr are the wrong way round: stream 1 is stdout, 2 is stderr"
        ),
    },
)
def check_split_streams(ctx: CheckContext, split_streams: Any) -> str:
    frames = _random_frames(ctx)
    raw = b"".join(struct.pack(">BxxxL", s, len(d)) + d for s, d in frames)
    want = (
        b"".join(d for s, d in frames if s == STDOUT),
        b"".join(d for s, d in frames if s == STDERR),
    )
    whole = [struct.pack(">BxxxL", s, len(d)) + d for s, d in frames]
    _judge_split(ctx, split_streams, whole, want)
    try:
        _judge_split(ctx, split_streams, _cut(ctx, raw, frames), want)
    except NotYet as miss:
        mistake = "frame-split" if miss.mistake in (None, "raised") else miss.mistake
        raise NotYet(f"with the frames cut across pieces: {miss.message}", mistake) from None
    if miss_real := _judge_real(ctx, split_streams):
        raise miss_real
    return (
        "split_streams() sorted frames of random sizes into stdout and stderr, however they "
        "were cut, and a real container's logs too"
    )


def _random_frames(ctx: CheckContext) -> list[tuple[int, bytes]]:
    count = ctx.randint(7, 11)
    streams = [STDOUT, STDERR, STDOUT] + [ctx.choice([STDOUT, STDERR]) for _ in range(count - 3)]
    streams = sorted(streams, key=lambda _: ctx.randint(0, 1000))
    sizes = [ctx.randint(1, 60) for _ in streams]
    sizes[ctx.randint(0, len(sizes) - 1)] = ctx.randint(2000, 6000)
    return [
        (s, f"{STREAM_WORDS[s]}:{ctx.token(n)}\n".encode())
        for s, n in zip(streams, sizes, strict=True)
    ]


def _cut(ctx: CheckContext, raw: bytes, frames: list[tuple[int, bytes]]) -> list[bytes]:
    """``raw`` in pieces: one cut inside a header, one inside a payload, others anywhere."""
    starts, offset = [], 0
    for _, data in frames:
        starts.append(offset)
        offset += 8 + len(data)
    k = ctx.randint(1, len(frames) - 1)
    cuts = {
        starts[k] + ctx.randint(1, 7),
        starts[k - 1] + 8 + ctx.randint(0, len(frames[k - 1][1]) - 1),
    }
    cuts |= {ctx.randint(1, len(raw) - 1) for _ in range(ctx.randint(3, 8))}
    cuts.discard(0)
    edges = [0, *sorted(cuts), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges) if b > a]


def _judge_split(
    ctx: CheckContext,
    split_streams: Any,
    pieces: Iterable[bytes],
    want: tuple[bytes, bytes],
) -> None:
    what = "split_streams(pieces)"
    got = ctx.call(split_streams, iter(pieces), what=what)
    expect_type(got, (tuple, list), what)
    expect(len(got) == 2, f"{what} should return (stdout, stderr): 2 values")
    out = _as_bytes(got[0], f"the stdout {what} returned")
    err = _as_bytes(got[1], f"the stderr {what} returned")
    if (out, err) == want:
        return
    if (out, err) == (want[1], want[0]):
        raise NotYet(f"{what} returned stderr first", "streams-swapped")
    # Each payload is one line: both streams in one heap hold every line, in some order.
    every_line = sorted(want[0].splitlines(True) + want[1].splitlines(True))
    heaps = [side for side in (out, err) if side]
    if len(heaps) == 1 and sorted(heaps[0].splitlines(True)) == every_line:
        raise NotYet(
            f"{what} put the payloads of both streams together ({len(out)} and {len(err)} "
            f"bytes; {len(want[0])} were stdout's and {len(want[1])} stderr's)",
            "stream-type-ignored",
        )
    raise NotYet(
        f"{what} returned {len(out)} bytes of stdout and {len(err)} of stderr; the frames "
        f"held {len(want[0])} and {len(want[1])}"
    )


def _judge_real(ctx: CheckContext, split_streams: Any) -> NotYet | None:
    out_words = [ctx.token(ctx.randint(3, 12)) for _ in range(2)]
    err_words = [ctx.token(ctx.randint(3, 12)) for _ in range(2)]
    lines = [out_words[0], f"{err_words[0]} >&2", out_words[1], f"{err_words[1]} >&2"]
    script = "; ".join(f"echo {line}" for line in lines)
    container = ctx.container(["sh", "-c", script], wait=True)
    stream = ctx.client.stream(
        "GET", f"/containers/{container['Id']}/logs", params={"stdout": True, "stderr": True}
    )
    ctx.later(stream.close)
    want = (
        "".join(f"{w}\n" for w in out_words).encode(),
        "".join(f"{w}\n" for w in err_words).encode(),
    )
    try:
        _judge_split(ctx, split_streams, stream, want)
    except NotYet as miss:
        return NotYet(f"on a container's real logs: {miss.message}", miss.mistake)
    return None


# -- 04.6 ------------------------------------------------------------------------------


@task(
    "04.6",
    "Wait for one event",
    answer="wait_for_event",
    stretch=True,
    time_limit=10.0,
    hints=(
        "Open the event stream with api.stream('GET', '/events', timeout=None) and go through "
        "its events (stream.json() gives one dict per line) until the one you want comes.",
        "An event says what happened in event['Action'] ('create', 'start', 'die'…) and to "
        "which container in event['Actor']['Attributes']['name']. Both must match.",
        "Return the event as soon as it matches: `return` inside a `with api.stream(...) as "
        "events:` block also hangs up the stream. A filter such as "
        "{'type': ['container'], 'container': [name], 'event': [action]} makes the engine "
        "skip the others for you.",
    ),
    mistakes={
        "other-container": (
            "that event happened to another container: the same Action alone is not enough, "
            "the container's name (event['Actor']['Attributes']['name']) must match as well"
        ),
        "earlier-event": (
            "that is an earlier event of the right container: a container goes through "
            "several (create, start, die, destroy…), so the Action must match as well"
        ),
    },
)
def check_wait_for_event(ctx: CheckContext, wait_for_event: Any) -> str:
    if learner_code.is_template(wait_for_event):  # said as ctx.call says it for the others
        raise NotYet(learner_code.unfinished("`wait_for_event`"), "unfinished")
    tap = ctx.tap(drip=True)
    api = tapped_client(ctx, tap)
    action = ctx.choice(["start", "die", _removed_action(ctx)])
    name, decoy = ctx.name("ev"), ctx.name("ev")
    what = f"wait_for_event(api, {name!r}, {action!r})"
    running = ctx.start(wait_for_event, api, name, action, what="wait_for_event()")
    ctx.later(tap.close)  # runs before the thread is stopped: hangs up a stream left open
    # Trigger only once the learner's stream is open (the engine has answered its head),
    # or after a while if it uses a client of its own; then a random moment later.
    ctx.wait_for(lambda: _events_open(tap) or not running.alive, timeout=5)
    time.sleep(0.3 + ctx.randint(0, 700) / 1000)
    expect(
        running.alive or running.error is not None,
        f"{what} returned {running.result!r:.80} before anything happened: it should wait for "
        "the event",
    )
    running.raise_error()
    earlier = ctx.container(["true"], name=decoy, wait=True)
    ctx.client.request("DELETE", f"/containers/{earlier['Id']}")
    target = ctx.container(["true"], name=name, wait=True)
    ctx.client.request("DELETE", f"/containers/{target['Id']}")
    if not running.join(ctx.task.time_limit):
        raise NotYet(
            f"{what} had not returned {ctx.task.time_limit:g} s after the container's "
            f"{action!r} event; is it reading the event stream, and comparing the right fields?",
            "hang",
        )
    running.raise_error()
    event = running.result
    expect_type(event, dict, what)
    actor = event.get("Actor") or {}
    got_name = (actor.get("Attributes") or {}).get("name")
    got_action = event.get("Action") or event.get("status")
    if got_name == decoy or (actor.get("ID") == earlier["Id"]):
        raise NotYet(f"{what} returned the {got_action!r} event of {decoy!r}", "other-container")
    if actor.get("ID") != target["Id"] and got_action == action:
        # On a real engine other people's containers have events too.
        other = got_name or str(actor.get("ID") or "?")[:12]
        raise NotYet(
            f"{what} returned the {got_action!r} event of another container, {other!r}",
            "other-container",
        )
    if actor.get("ID") == target["Id"] and got_action != action:
        raise NotYet(f"{what} returned the container's {got_action!r} event", "earlier-event")
    expect(
        actor.get("ID") == target["Id"] and got_action == action,
        f"{what} returned {event!r:.120}, which is not the engine's {action!r} event for {name!r}",
    )
    return "wait_for_event() returned the event asked for, and none of those before it"


def _removed_action(ctx: CheckContext) -> str:
    """A container's last event: ``destroy`` on Docker and the lab engine, ``remove`` on Podman."""
    return "remove" if ctx.lab.engine.product == "Podman" else "destroy"


def _events_open(tap: EngineTap) -> bool:
    return any("/events" in seen.target and seen.reply for seen in list(tap.seen))
