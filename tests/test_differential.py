"""The differential test: the same scripted requests to the lab engine, a real dockerd and Podman.

The script and the judge live in ``differential_requests.py``; the allowed
differences, with their reasons, in ``ALLOWED`` (the lab engine) and
``PODMAN_ALLOWED`` (Podman) there and in ``docs/differential.md``. Each step is
its own test on each engine, so a failure names the request and every way that
engine's reply differs from dockerd's, the reference.

The engines compared start from the same material (``busybox:latest``: pulled
from the lab engine's catalogue, imported into the offline dockerd and Podman)
and talk the lower of their two API versions. What the script creates carries a
random token and is removed afterwards on every engine.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from differential_requests import (
    ALLOWED,
    PODMAN_ALLOWED,
    SCRIPT,
    VERSION_CHANGES,
    Allowance,
    Difference,
    Outcome,
    Step,
    cleanup,
    compare,
    compare_as,
    compare_shapes,
    demux,
    merge,
    new_context,
    report,
    run_script,
    shape_of,
    substitute,
    unexplained,
)
from image_fixtures import (
    api_version,
    ensure_real_busybox,
    lower_version,
    pull_busybox,
    unique_token,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "differential.md"


@pytest.fixture(scope="module")
def negotiated(request: pytest.FixtureRequest, real_engine_socket: Path) -> tuple[Path, Path, str]:
    """(lab socket, dockerd socket, API version both speak), with busybox on both."""
    lab = request.getfixturevalue("lab_engine_session")
    lab_socket = Path(lab.socket)
    ensure_real_busybox(real_engine_socket)
    pull_busybox(lab_socket)
    version = lower_version(api_version(lab_socket), api_version(real_engine_socket))
    return lab_socket, real_engine_socket, version


def run_on_both(
    ours: Path, real: Path, version: str
) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """The script's replies from (``ours``, dockerd at ``real``), under one token."""
    token = unique_token()
    results = []
    for socket_path in (ours, real):
        ctx = new_context(token)
        try:
            results.append(run_script(socket_path, version, ctx))
        finally:
            cleanup(socket_path, version, ctx)
    return results[0], results[1]


@pytest.fixture(scope="module")
def outcomes(negotiated: tuple[Path, Path, str]) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """The script's replies from (the lab engine, dockerd), each run once for the module."""
    return run_on_both(*negotiated)


@pytest.fixture(scope="module")
def podman_outcomes(
    real_engine_socket: Path, podman_engine_socket: Path
) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """The script's replies from (Podman, dockerd), at the lower of their API versions."""
    for socket_path in (real_engine_socket, podman_engine_socket):
        ensure_real_busybox(socket_path)
    version = lower_version(api_version(podman_engine_socket), api_version(real_engine_socket))
    return run_on_both(podman_engine_socket, real_engine_socket, version)


# --- the comparison, one test per step


@pytest.mark.lab_engine
@pytest.mark.real_engine
@pytest.mark.parametrize("step", SCRIPT, ids=[step.name for step in SCRIPT])
def test_step_matches_dockerd(
    step: Step, outcomes: tuple[dict[str, Outcome], dict[str, Outcome]]
) -> None:
    lab, real = outcomes[0][step.name], outcomes[1][step.name]
    assert real.error is None and real.status_expected(), (
        f"the script is wrong, not the lab engine: dockerd answered {real.describe()} with "
        f"{real.status} (expected {step.status}): {real.error or real.body[:300]!r}"
    )
    diffs = unexplained(compare(lab, real))
    assert not diffs, report(lab, real, diffs)


@pytest.mark.real_engine
@pytest.mark.parametrize("step", SCRIPT, ids=[step.name for step in SCRIPT])
def test_podman_step_matches_dockerd(
    step: Step, podman_outcomes: tuple[dict[str, Outcome], dict[str, Outcome]]
) -> None:
    podman, real = podman_outcomes[0][step.name], podman_outcomes[1][step.name]
    assert real.error is None and real.status_expected(), (
        f"the script is wrong, not Podman: dockerd answered {real.describe()} with "
        f"{real.status} (expected {step.status}): {real.error or real.body[:300]!r}"
    )
    diffs = unexplained(compare_as("Podman", podman, real), PODMAN_ALLOWED)
    assert not diffs, report(podman, real, diffs, "Podman")


@pytest.mark.real_engine
def test_every_podman_allowance_is_still_needed(
    podman_outcomes: tuple[dict[str, Outcome], dict[str, Outcome]],
) -> None:
    """A rule no difference needs any more (a newer Podman) must go, here and in the docs."""
    found = [
        diff
        for step in SCRIPT
        for diff in compare_as(
            "Podman", podman_outcomes[0][step.name], podman_outcomes[1][step.name]
        )
    ]
    unused = [rule for rule in PODMAN_ALLOWED if not any(rule.covers(d) for d in found)]
    assert unused == [], [f"{rule.steps} / {rule.where}" for rule in unused]


# --- the lab engine at its newest API version against dockerd at its own (1.41)


@pytest.fixture(scope="module")
def newest_outcomes(
    negotiated: tuple[Path, Path, str],
    outcomes: tuple[dict[str, Outcome], dict[str, Outcome]],
) -> tuple[dict[str, Outcome], dict[str, Outcome], str]:
    """The script's replies from the lab engine at its newest version, and dockerd's at its
    own (from ``outcomes``), with that newest version."""
    lab_socket, _real_socket, _version = negotiated
    newest = api_version(lab_socket)
    ctx = new_context(unique_token())
    try:
        lab = run_script(lab_socket, newest, ctx)
    finally:
        cleanup(lab_socket, newest, ctx)
    return lab, outcomes[1], newest


@pytest.mark.lab_engine
@pytest.mark.real_engine
@pytest.mark.parametrize("step", SCRIPT, ids=[step.name for step in SCRIPT])
def test_step_at_the_newest_version_differs_only_as_the_version_history_says(
    step: Step, newest_outcomes: tuple[dict[str, Outcome], dict[str, Outcome], str]
) -> None:
    """A client at the lab engine's newest version gets dockerd's shapes but for what moby's
    version history lists between dockerd's version and that one (``VERSION_CHANGES``)."""
    lab_all, real_all, newest = newest_outcomes
    lab, real = lab_all[step.name], real_all[step.name]
    diffs = unexplained(compare(lab, real), (*ALLOWED, *VERSION_CHANGES))
    assert not diffs, f"at API {newest}:\n" + report(lab, real, diffs)


# --- the script itself


def test_script_is_long_enough_and_names_are_unique() -> None:
    names = [step.name for step in SCRIPT]
    assert len(names) >= 40
    assert len(set(names)) == len(names), "two steps share a name"


def test_every_placeholder_is_captured_before_it_is_used() -> None:
    known = set(new_context("t0k3n")) | {"now"}
    for step in SCRIPT:
        text = f"{step.path} {step.query} {step.body!r}"
        used = set(re.findall(r"\{([a-z_0-9]+)\}", text))
        assert used <= known, f"{step.name} uses {used - known} before any step captures it"
        known |= set(step.capture)


def test_script_covers_the_issue_list() -> None:
    names = {step.name for step in SCRIPT}
    required = {
        "ping",
        "ping-head",
        "version",
        "info",
        "images-list",
        "images-list-reference",
        "image-inspect",
        "image-history",
        "image-inspect-404",
        "image-tag",
        "containers-list",
        "containers-list-all-name",
        "create-a",
        "create-404-image",
        "create-409-name",
        "create-400-bad-json",
        "inspect-created",
        "start-a",
        "start-b-again-304",
        "wait-a",
        "logs-a",
        "top-b",
        "stop-b",
        "restart-b",
        "kill-stopped-409",
        "rename-a",
        "delete-running-409",
        "delete-a",
        "inspect-deleted-404",
        "exec-create",
        "exec-inspect",
        "networks-list",
        "network-inspect",
        "volumes-list",
        "volume-create",
        "volume-inspect",
        "volume-delete",
        "events-container",
        "unknown-path-404",
        "version-too-new-400",
    }
    assert required <= names, f"missing steps: {sorted(required - names)}"


def test_every_allowance_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    lab_part, _, podman_part = doc.partition("## Podman")
    for rule in ALLOWED:
        assert f"`{rule.steps}`" in lab_part and f"`{rule.where}`" in lab_part, (
            f"docs/differential.md does not list the allowance {rule.steps} / {rule.where}"
        )
    for rule in PODMAN_ALLOWED:
        assert f"`{rule.steps}`" in podman_part and f"`{rule.where}`" in podman_part, (
            f"docs/differential.md's Podman part does not list {rule.steps} / {rule.where}"
        )
    for rule in (*ALLOWED, *PODMAN_ALLOWED):
        assert rule.reason.strip(), f"allowance {rule.steps} / {rule.where} gives no reason"


def test_every_version_change_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = doc.split("## At the lab engine's newest API version", 1)[1].split("\n## ", 1)[0]
    for rule in VERSION_CHANGES:
        where = rule.where
        if where.startswith("$.Config.") and where != "$.Config.Hostname":
            where = where.removeprefix("$.Config.")  # listed in the Hostname row
        assert f"`{rule.steps}`" in section and f"`{where}`" in section, (
            f"docs/differential.md does not list the version change {rule.steps} / {rule.where}"
        )
        assert "API 1." in rule.reason, f"{rule.where}: name the API version that changed it"


# --- the judge, on made-up replies (no engine needed)


def _outcome(
    body: bytes, status: int = 200, ctype: str = "application/json", check: str = "shape"
) -> Outcome:
    step = Step("probe", "GET", "/probe", 200, check=check)
    return Outcome(step, "/probe", status, [("Content-Type", ctype)], body)


def test_shapes_compare_key_sets_and_types_at_every_depth() -> None:
    lab = shape_of({"Id": "x", "State": {"Running": True, "Pid": "7"}, "New": 1})
    real = shape_of({"Id": "y", "State": {"Running": False, "Pid": 7, "Health": None}})
    found = {(d.where, d.kind) for d in compare_shapes("s", lab, real)}
    assert found == {("$.State.Pid", "type"), ("$.State.Health", "missing"), ("$.New", "extra")}


def test_values_are_not_compared() -> None:
    lab = _outcome(b'{"Id": "aaa", "Size": 1, "Tags": ["x"]}')
    real = _outcome(b'{"Id": "bbb", "Size": 99, "Tags": ["y", "z"]}')
    assert compare(lab, real) == []


def test_lists_are_judged_by_their_merged_element_shape() -> None:
    lab = shape_of([{"Id": "a", "Labels": {}}, {"Id": "b", "Labels": {"k": "v"}}])
    real = shape_of([{"Id": "c", "Labels": None}])
    assert compare_shapes("s", lab, real) == []
    odd = shape_of([{"Id": "a"}, {"Name": "b"}])
    assert odd == {"array": {"object": {"Id": "string", "Name": "string"}}}
    mixed = merge("string", "number")
    assert mixed == {"union": ["string", "number"]}


def test_null_matches_containers_but_not_scalars() -> None:
    assert compare_shapes("s", shape_of({"A": None}), shape_of({"A": []})) == []
    assert compare_shapes("s", shape_of({"A": None}), shape_of({"A": {"k": 1}})) == []
    [diff] = compare_shapes("s", shape_of({"A": None}), shape_of({"A": "text"}))
    assert (diff.where, diff.kind, diff.lab, diff.real) == ("$.A", "type", "null", "string")


def test_labels_are_maps_not_structs() -> None:
    lab = shape_of({"Config": {"Labels": {"one": "1"}}})
    real = shape_of({"Config": {"Labels": {"two": "2", "three": "3"}}})
    assert compare_shapes("s", lab, real) == []
    [diff] = compare_shapes("s", lab, shape_of({"Config": {"Labels": {"n": 2}}}))
    assert diff.where == "$.Config.Labels.*"


def test_status_content_type_and_exact_bodies() -> None:
    lab = _outcome(b"OK", ctype="text/plain", check="exact")
    real = _outcome(b"OK", ctype="text/plain; charset=utf-8", check="exact")
    [diff] = compare(lab, real)
    assert diff.where == "header Content-Type"
    assert "text/plain;charset=utf-8" in str(diff)
    [diff] = compare(_outcome(b"{}", status=500), _outcome(b"{}", status=400))
    assert (diff.where, diff.lab, diff.real) == ("status", "500", "400")
    [diff] = compare(_outcome(b"ok", check="exact"), _outcome(b"OK", check="exact"))
    assert diff.where == "body"


def test_frames_compare_the_demultiplexed_streams() -> None:
    out = b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    err = b"\x02\x00\x00\x00\x00\x00\x00\x03ho\n"
    assert demux(out + err) == (b"hi\n", b"ho\n", b"")
    ctype = "application/vnd.docker.raw-stream"
    assert (
        compare(
            _outcome(err + out, ctype=ctype, check="frames"),
            _outcome(out + err, ctype=ctype, check="frames"),
        )
        == []
    )
    [diff] = compare(
        _outcome(out, ctype=ctype, check="frames"), _outcome(out + err, ctype=ctype, check="frames")
    )
    assert "ho" in diff.real and diff.where == "body"


def test_a_body_that_is_not_json_is_a_difference() -> None:
    [diff] = compare(_outcome(b"<html>"), _outcome(b'{"message": "x"}'))
    assert diff.where == "body" and "not JSON" in diff.lab


def test_json_lines_are_judged_as_a_list() -> None:
    one = _outcome(b'{"Type": "container", "time": 1}\n', check="lines")
    two = _outcome(
        b'{"Type": "container", "time": 1}\n{"Type": "image", "time": 2}\n', check="lines"
    )
    assert compare(one, two) == []
    [diff] = compare(_outcome(b'{"Type": 5, "time": 3}\n', check="lines"), two)
    assert diff.where == "$[].Type"


def test_allowances_filter_only_what_they_name() -> None:
    rule = Allowance("logs-*", "header Content-Type", "value", "added in API 1.42")
    wanted = Difference("logs-a", "header Content-Type", "value", "x", "None")
    other = Difference("logs-a", "status", "value", "500", "200")
    assert unexplained([wanted, other], [rule]) == [other]


def test_placeholders_fill_paths_queries_and_bodies() -> None:
    ctx = new_context("abc123")
    assert substitute("/containers/{a}/json", ctx) == "/containers/lkd-abc123-a/json"
    body = substitute({"Labels": {"k": "{token}"}, "Cmd": ["{b}"]}, ctx)
    assert body == {"Labels": {"k": "abc123"}, "Cmd": ["lkd-abc123-b"]}
    assert substitute("{now}", ctx, lambda: "123.000000001") == "123.000000001"


def test_counts_and_sequences_where_the_script_makes_them_certain() -> None:
    step = Step("events", "GET", "/events", 200, check="lines", sequence="Action")
    one = b'{"Action": "create"}\n{"Action": "start"}\n'
    other = b'{"Action": "create"}\n{"Action": "die"}\n'
    lab = Outcome(step, "/events", 200, [("Content-Type", "application/json")], one)
    real = Outcome(step, "/events", 200, [("Content-Type", "application/json")], other)
    [diff] = compare(lab, real)
    assert diff.where == "$[].Action in order"
    assert "start" in diff.lab and "die" in diff.real
    counted = Step("vols", "GET", "/volumes", 200, count="$.Volumes")
    lab = Outcome(counted, "/volumes", 200, [], b'{"Volumes": []}')
    real = Outcome(counted, "/volumes", 200, [], b'{"Volumes": [{"Name": "v"}]}')
    [diff] = compare(lab, real)
    assert (diff.where, diff.lab, diff.real) == ("$.Volumes length", "0", "1")
