"""The real docker CLI against the lab engine: pull, run (attach, wait, start), logs, stop, rm."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from labkit.engine import control

pytestmark = [
    pytest.mark.lab_engine,
    pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI"),
]


def docker(engine, *args: str, input: str | None = None, check: bool = True):
    result = subprocess.run(
        ["docker", *args],
        env=engine.env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def test_pull_then_up_to_date(lab_engine) -> None:
    first = docker(lab_engine, "pull", "busybox")
    assert "latest: Pulling from library/busybox" in first.stdout
    assert "Status: Downloaded newer image for busybox:latest" in first.stdout
    again = docker(lab_engine, "pull", "busybox")
    assert "Status: Image is up to date for busybox:latest" in again.stdout
    missing = docker(lab_engine, "pull", "nosuchimage", check=False)
    assert missing.returncode == 1
    assert "pull access denied for nosuchimage" in missing.stderr
    listed = docker(lab_engine, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert listed.stdout.split() == ["busybox:latest"]


def test_run_output_exit_codes_and_stdin(lab_engine) -> None:
    first = docker(lab_engine, "run", "--rm", "busybox", "echo", "hi")
    assert first.stdout == "hi\n"
    assert "Unable to find image 'busybox:latest' locally" in first.stderr
    failed = docker(lab_engine, "run", "--rm", "busybox", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    piped = docker(lab_engine, "run", "--rm", "-i", "busybox", "cat", input="hello\n")
    assert piped.stdout == "hello\n"
    missing = docker(lab_engine, "run", "--rm", "busybox", "nosuch", check=False)
    assert missing.returncode == 127
    assert "executable file not found" in missing.stderr
    assert docker(lab_engine, "ps", "-aq").stdout == ""


def test_detached_logs_exec_stop_rm(lab_engine) -> None:
    docker(lab_engine, "pull", "busybox")
    cid = docker(
        lab_engine, "run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo started; sleep 60"
    ).stdout.strip()
    assert len(cid) == 64
    ps = docker(lab_engine, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert ps.stdout.split("\n")[0] == "bg running"
    logs = docker(lab_engine, "logs", "bg")
    assert logs.stdout == "started\n"
    inside = docker(lab_engine, "exec", "bg", "hostname")
    assert inside.stdout.strip() == cid[:12]
    docker(lab_engine, "stop", "-t", "1", "bg")  # sh is pid 1 and ignores SIGTERM: killed
    code = docker(lab_engine, "inspect", "-f", "{{.State.ExitCode}}", "bg").stdout.strip()
    assert code == "137"
    docker(lab_engine, "rm", "bg")
    gone = docker(lab_engine, "inspect", "bg", check=False)
    assert gone.returncode == 1 and "No such object: bg" in gone.stderr


def test_state_survives_an_engine_restart(lab_engine) -> None:
    docker(lab_engine, "pull", "busybox")
    docker(lab_engine, "run", "--name", "done", "busybox", "echo", "kept")
    docker(lab_engine, "run", "-d", "--name", "busy", "busybox", "sleep", "300")
    docker(lab_engine, "volume", "create", "notes")
    docker(lab_engine, "run", "-d", "--init", "--name", "init", "busybox", "sleep", "300")
    lab_engine.restart()  # a clean stop: like dockerd, the engine stops what runs
    states = docker(lab_engine, "ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert "done Exited (0)" in states
    assert "busy Exited (137)" in states  # pid 1 ignores SIGTERM: killed (dockerd after 10 s)
    assert "init Exited (143)" in states  # docker-init passes SIGTERM on
    assert docker(lab_engine, "logs", "done").stdout == "kept\n"
    assert "notes" in docker(lab_engine, "volume", "ls", "-q").stdout
    assert docker(lab_engine, "images", "-q").stdout.strip() != ""


def test_restart_policies_bring_containers_back_when_the_engine_restarts(lab_engine) -> None:
    """As dockerd 20.10 did here when it was stopped and started again (tried by hand)."""
    docker(lab_engine, "pull", "busybox")

    def run(name: str, policy: str, *then: str) -> None:
        docker(
            lab_engine, "run", "-d", "--restart", policy, "--name", name, "busybox", "sleep", "300"
        )
        if then:
            docker(lab_engine, *then, name)

    run("always", "always")
    run("always-stopped", "always", "stop", "-t", "1")
    run("always-killed", "always", "kill")
    run("unless", "unless-stopped")
    run("unless-stopped", "unless-stopped", "stop", "-t", "1")
    run("failure", "on-failure")
    run("plain", "no")
    docker(lab_engine, "run", "--restart", "on-failure", "--name", "ok", "busybox", "true")
    docker(lab_engine, "create", "--restart", "always", "--name", "never", "busybox", "true")
    again = ["run", "-d", "--restart", "on-failure:1", "--name", "spent", "busybox", "sh", "-c"]
    docker(lab_engine, *again, "exit 3")
    for _ in range(200):  # until its one retry is spent
        spent = docker(lab_engine, "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "spent")
        if spent.stdout.split() == ["exited", "1"]:
            break
        time.sleep(0.05)
    lab_engine.restart()
    shown = docker(lab_engine, "inspect", "-f", "{{.Name}} {{.State.Status}} {{.RestartCount}}",
                   "always", "always-stopped", "always-killed", "unless", "unless-stopped",
                   "failure", "plain", "ok", "never", "spent").stdout  # fmt: skip
    assert shown.split("\n")[:-1] == [
        "/always running 0",
        "/always-stopped running 0",  # always: even one the user stopped
        "/always-killed running 0",
        "/unless running 0",
        "/unless-stopped exited 0",  # the user stopped it: it stays stopped
        "/failure running 0",  # the engine's stop ended it with a signal: a failure
        "/plain exited 0",
        "/ok exited 0",  # it succeeded
        "/never created 0",  # never started: no policy applies yet
        "/spent exited 1",  # its one retry was spent
    ]


def test_a_killed_engine_comes_back_with_running_containers_exited_255(lab_engine) -> None:
    docker(lab_engine, "pull", "busybox")
    docker(lab_engine, "run", "-d", "--name", "busy", "busybox", "sleep", "300")
    assert lab_engine.pid is not None
    os.kill(lab_engine.pid, signal.SIGKILL)
    for _ in range(100):  # until the process is gone
        try:
            os.kill(lab_engine.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    lab_engine.pid = control.start(lab_engine.labkit_env).pid
    code = docker(lab_engine, "inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "busy")
    assert code.stdout.strip() == "255 exited"


def test_exec_bind_mounts_and_events(lab_engine, tmp_path) -> None:
    docker(lab_engine, "pull", "busybox")
    (tmp_path / "note.txt").write_text("from the host\n")
    seen = docker(
        lab_engine, "run", "--rm", "-v", f"{tmp_path}:/host:ro", "busybox", "cat", "/host/note.txt"
    )
    assert seen.stdout == "from the host\n"
    refused = docker(
        lab_engine,
        "run",
        "--rm",
        "-v",
        f"{tmp_path}:/host:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /host/new.txt",
        check=False,
    )
    assert refused.returncode != 0 and not (tmp_path / "new.txt").exists()
    docker(lab_engine, "run", "-d", "--name", "box", "busybox", "sleep", "60")
    missing = docker(lab_engine, "exec", "box", "nosuch", check=False)
    assert missing.returncode == 126
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stdout
    assert docker(lab_engine, "exec", "box", "sh", "-c", "exit 7", check=False).returncode == 7
    piped = docker(lab_engine, "exec", "-i", "box", "cat", input="typed\n")
    assert piped.stdout == "typed\n"
    docker(lab_engine, "rm", "-f", "box")
    # the engine's own "now" (its clock is fixed in tests): an until that has just passed
    now = docker(lab_engine, "info", "--format", "{{.SystemTime}}").stdout.strip()
    events = docker(
        lab_engine,
        "events",
        "--since",
        "0",
        "--until",
        now,
        "--filter",
        "container=box",
        "--format",
        "{{.Action}}",
    )
    actions = events.stdout.split("\n")
    assert actions[:2] == ["create", "start"]
    assert {"exec_die", "kill", "die", "destroy"} <= set(actions)


@pytest.fixture
def real_clock_engine():
    """A lab engine on the host's real clock (no LABKIT_CLOCK), as a learner's terminal has
    it: the CLI computes ``--since 1m`` and ``--until 0s`` from the host's clock."""
    from engine_fixtures import running_lab_engine

    with running_lab_engine(LABKIT_CLOCK="") as engine:
        yield engine


def test_run_rm_of_a_missing_command_answers_like_dockerd(real_clock_engine) -> None:
    lab_engine = real_clock_engine
    docker(lab_engine, "pull", "busybox")
    for extra in ([], ["-i"], ["-d"]):
        missing = docker(lab_engine, "run", "--rm", *extra, "busybox", "nosuchcmd", check=False)
        assert missing.returncode == 127, extra
        assert missing.stderr.endswith(
            "docker: Error response from daemon: failed to create shim task: OCI runtime create "
            'failed: runc create failed: unable to start container process: exec: "nosuchcmd": '
            "executable file not found in $PATH: unknown\n\n"
            "Run 'docker run --help' for more information\n"
        )
    assert docker(lab_engine, "ps", "-aq").stdout == ""
    time.sleep(1.1)  # the CLI sends --until in whole seconds: let this second end first
    events = docker(
        lab_engine, "events", "--since", "1m", "--until", "0s", "--format", "{{.Action}}"
    ).stdout.split()
    assert events.count("destroy") == 3 and "die" not in events


def test_pause_unpause_like_dockerd(lab_engine) -> None:
    docker(lab_engine, "pull", "busybox")
    docker(
        lab_engine, "run", "-d", "--name", "pz", "busybox", "sh", "-c",
        "i=0; while true; do echo t$i; i=$((i+1)); sleep 0.1; done",
    )  # fmt: skip
    assert docker(lab_engine, "pause", "pz").stdout == "pz\n"
    state = docker(lab_engine, "inspect", "pz", "--format", "{{.State.Status}} {{.State.Paused}}")
    assert state.stdout == "paused true\n"
    again = docker(lab_engine, "pause", "pz", check=False)
    assert "is already paused" in again.stderr
    refused = docker(lab_engine, "exec", "pz", "true", check=False)
    assert "Container pz is paused, unpause the container before exec" in refused.stderr
    frozen = docker(lab_engine, "logs", "pz").stdout
    time.sleep(0.5)  # a running loop would print about five lines meanwhile
    assert docker(lab_engine, "logs", "pz").stdout == frozen
    docker(lab_engine, "unpause", "pz")
    assert "is not paused" in docker(lab_engine, "unpause", "pz", check=False).stderr
    docker(lab_engine, "pause", "pz")
    docker(lab_engine, "stop", "pz")  # a paused container is killed: it cannot act on SIGTERM
    code = docker(lab_engine, "inspect", "pz", "--format", "{{.State.ExitCode}}").stdout
    assert code == "137\n"
    assert "is not running" in docker(lab_engine, "pause", "pz", check=False).stderr


def test_cp_in_and_out(lab_engine, tmp_path) -> None:
    docker(lab_engine, "pull", "busybox")
    docker(lab_engine, "run", "-d", "--name", "box", "busybox", "sleep", "60")
    out = tmp_path / "out"
    out.mkdir()
    docker(lab_engine, "cp", "box:/etc/passwd", str(out))
    assert (out / "passwd").read_text().startswith("root:x:0:0:")
    docker(lab_engine, "cp", "box:/etc", str(out / "etc"))
    assert (out / "etc" / "group").is_file()
    docker(lab_engine, "cp", "box:/bin/sh", str(out))
    assert os.readlink(out / "sh") == "busybox"
    note = tmp_path / "note.txt"
    note.write_text("from the host\n")
    docker(lab_engine, "cp", str(note), "box:/tmp/")
    assert docker(lab_engine, "exec", "box", "cat", "/tmp/note.txt").stdout == "from the host\n"
    docker(lab_engine, "cp", str(out / "etc"), "box:/tmp/etc2")
    assert "group" in docker(lab_engine, "exec", "box", "ls", "/tmp/etc2").stdout.split()
    missing = docker(lab_engine, "cp", "box:/nope", str(out), check=False)
    assert "Could not find the file /nope in container box" in missing.stderr
    docker(lab_engine, "stop", "-t", "0", "box")
    docker(lab_engine, "cp", str(note), "box:/kept.txt")  # into a stopped container: kept
    docker(lab_engine, "start", "box")
    assert docker(lab_engine, "exec", "box", "cat", "/kept.txt").stdout == "from the host\n"
    exported = tmp_path / "box.tar"
    docker(lab_engine, "export", "box", "-o", str(exported))
    with tarfile.open(exported) as tar:
        assert tar.extractfile("kept.txt").read() == b"from the host\n"  # type: ignore[union-attr]
        assert "bin/busybox" in tar.getnames()


def test_stats_no_stream(lab_engine) -> None:
    docker(lab_engine, "pull", "busybox")
    docker(lab_engine, "run", "-d", "--name", "busy", "busybox", "sleep", "60")
    shown = docker(
        lab_engine, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}"
    ).stdout
    assert shown == "busy 0.00% 1\n"
