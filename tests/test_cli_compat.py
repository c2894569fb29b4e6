"""The real docker CLI (28) against the lab engine: what the lessons type must work, byte for byte.

Every test runs twice: against the lab engine (``[lab]``) and against a real
dockerd (``[dockerd]``, skipped without one). The dockerd run is the reference:
it proves each expectation here is what Docker really does, so a ``[lab]``
failure is the lab engine's to fix, not the test's.

The CLI runs as a subprocess with a timeout, ``DOCKER_HOST`` at the engine and
an empty ``DOCKER_CONFIG`` so the host's config and contexts play no part.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_fixtures import (
    Target,
    api_version,
    engine_now_ns,
    ensure_real_busybox,
    lower_version,
    pull_busybox,
    target_from_lab_engine,
    target_from_real,
    unique_token,
    unix_time_arg,
    wait_until,
)

DOCKER = "/usr/local/bin/docker"
CLI_TIMEOUT = 60
# The newest API version docker CLI 28.x speaks; it negotiates down from here.
CLI_API_MAX = "1.50"
HEX64 = re.compile(r"^[0-9a-f]{64}$")

ENGINES = [
    pytest.param("lab", marks=pytest.mark.lab_engine, id="lab"),
    pytest.param("dockerd", marks=pytest.mark.real_engine, id="dockerd"),
]


@pytest.fixture(scope="session")
def cli_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty DOCKER_CONFIG for every CLI call."""
    return Path(tmp_path_factory.mktemp("docker-config"))


@pytest.fixture(scope="module", params=ENGINES)
def target(request: pytest.FixtureRequest, cli_config_dir: Path) -> Target:
    """The engine under test, with ``busybox:latest`` already on it."""
    if request.param == "lab":
        found = target_from_lab_engine(
            request.getfixturevalue("lab_engine_session"), cli_config_dir
        )
        pull_busybox(found.socket)
    else:
        found = target_from_real(request.getfixturevalue("real_engine_url"), cli_config_dir)
        ensure_real_busybox(found.socket)
    return found


def docker(
    target: Target, *args: str, stdin: str | None = None, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI against ``target``; never hangs longer than ``timeout``."""
    return subprocess.run(
        [DOCKER, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=target.env,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        check=False,
    )


def docker_bytes(target: Target, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Like :func:`docker`, but the output as bytes: text mode would turn CRLF into LF."""
    return subprocess.run(
        [DOCKER, *args],
        capture_output=True,
        env=target.env,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def ok(target: Target, *args: str, stdin: str | None = None) -> str:
    """Run the CLI, insist on exit 0 (showing stderr otherwise) and return stdout."""
    result = docker(target, *args, stdin=stdin)
    assert result.returncode == 0, (
        f"`docker {' '.join(args)}` exited {result.returncode}\n"
        f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    )
    return result.stdout


class Names:
    """Unique names for one test, and removal of whatever carries them afterwards."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.token = unique_token()
        self.containers: list[str] = []
        self.volumes: list[str] = []
        self.images: list[str] = []
        self.networks: list[str] = []

    def container(self, label: str = "c") -> str:
        name = f"lkc-{self.token}-{label}"
        self.containers.append(name)
        return name

    def volume(self, label: str = "v") -> str:
        name = f"lkc-{self.token}-{label}"
        self.volumes.append(name)
        return name

    def image(self, label: str = "img", tag: str = "latest") -> str:
        """A unique ``repo:tag`` reference, untagged afterwards."""
        ref = f"lkc-{self.token}-{label}:{tag}"
        self.images.append(ref)
        return ref

    def network(self, label: str = "net") -> str:
        name = f"lkc-{self.token}-{label}"
        self.networks.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.containers:
            docker(self.target, "rm", "-f", name)
        for name in self.networks:
            docker(self.target, "network", "rm", name)
        for name in self.volumes:
            docker(self.target, "volume", "rm", "-f", name)
        for name in self.images:
            docker(self.target, "rmi", name)


@pytest.fixture(autouse=True)
def busybox_ready(target: Target) -> None:
    """busybox again before each test: on a shared dockerd another suite may remove it."""
    if not target.is_lab:
        ensure_real_busybox(target.socket)


@pytest.fixture
def names(target: Target) -> Iterator[Names]:
    made = Names(target)
    yield made
    made.cleanup()


def inspect(target: Target, name: str, fmt: str) -> str:
    return ok(target, "inspect", "--format", fmt, name).strip()


def run_detached(target: Target, name: str, *command: str) -> str:
    """``docker run -d``; returns the full container id it printed."""
    out = ok(target, "run", "-d", "--name", name, "busybox", *command).strip()
    assert HEX64.match(out), f"docker run -d printed {out!r}, not a 64-hex container id"
    return out


# --- system


def test_version_shows_client_and_server(target: Target) -> None:
    out = ok(target, "version")
    assert "Client:" in out
    assert "Server:" in out
    server_api = ok(target, "version", "--format", "{{.Server.APIVersion}}").strip()
    assert re.fullmatch(r"1\.\d+", server_api), server_api
    assert server_api == api_version(target.socket)


def test_version_negotiates_the_lower_api_version(target: Target) -> None:
    client_api = ok(target, "version", "--format", "{{.Client.APIVersion}}").strip()
    assert client_api == lower_version(CLI_API_MAX, api_version(target.socket))


def test_info(target: Target) -> None:
    out = ok(target, "info", "--format", "{{.OSType}}|{{.ServerVersion}}|{{.Driver}}")
    os_type, server_version, _driver = out.strip().split("|")
    assert os_type == "linux"
    assert server_version
    plain = ok(target, "info")
    assert "Server Version:" in plain
    assert "Containers:" in plain


# --- images


def test_pull_unknown_image_fails_with_the_daemon_error(target: Target) -> None:
    result = docker(target, "pull", "labkit-no-such-image-anywhere")
    assert result.returncode == 1
    assert "Error response from daemon" in result.stderr


def test_images_lists_busybox(target: Target) -> None:
    out = ok(target, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    refs = [line.split()[0] for line in out.splitlines()]
    assert "busybox:latest" in refs
    only = ok(target, "images", "busybox", "--format", "{{.Repository}}:{{.Tag}}")
    assert only.splitlines() == ["busybox:latest"]
    quiet = ok(target, "images", "-q", "busybox").strip()
    assert re.fullmatch(r"[0-9a-f]{12}", quiet), quiet


def test_tag_and_rmi(target: Target, names: Names) -> None:
    ref = names.image("tag", "v1")
    repo = ref.split(":")[0]
    assert ok(target, "tag", "busybox", ref) == ""
    listed = ok(target, "images", repo, "--format", "{{.Repository}}:{{.Tag}}")
    assert listed.splitlines() == [ref]
    same = {
        ok(target, "image", "inspect", "--format", "{{.Id}}", name).strip()
        for name in ("busybox", ref)
    }
    assert len(same) == 1, f"a tag must name the same image: {same}"
    out = ok(target, "rmi", ref)
    assert out.splitlines() == [f"Untagged: {repo}:v1"]
    gone = docker(target, "image", "inspect", ref)
    assert gone.returncode == 1
    assert "No such image" in gone.stderr
    assert ok(target, "image", "inspect", "--format", "{{.Id}}", "busybox").strip() in same


def test_image_inspect_with_format(target: Target) -> None:
    image_id = ok(target, "image", "inspect", "--format", "{{.Id}}", "busybox").strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id), image_id
    assert ok(target, "inspect", "--format", "{{json .Config.Cmd}}", "busybox").strip() == '["sh"]'
    tags = ok(target, "image", "inspect", "--format", "{{json .RepoTags}}", "busybox").strip()
    assert "busybox:latest" in tags
    assert inspect(target, "busybox", "{{.Os}}") == "linux"


# --- run


def test_run_rm_prints_exactly_the_output(target: Target) -> None:
    result = docker(target, "run", "--rm", "busybox", "echo", "hi")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")


def test_run_keeps_stdout_and_stderr_apart(target: Target) -> None:
    result = docker(target, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert result.returncode == 0
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


@pytest.mark.parametrize("code", [0, 3, 42])
def test_run_exit_code_is_the_containers(target: Target, code: int) -> None:
    result = docker(target, "run", "--rm", "busybox", "sh", "-c", f"exit {code}")
    assert result.returncode == code


def test_run_interactive_reads_piped_stdin(target: Target) -> None:
    text = "hello\nworld\n"
    result = docker(target, "run", "--rm", "-i", "busybox", "cat", stdin=text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == text


def test_run_interactive_streams_a_large_stdin(target: Target) -> None:
    text = "".join(f"line {n:06d} of a longer stdin\n" for n in range(8000))  # ~232 KiB
    result = docker(target, "run", "--rm", "-i", "busybox", "cat", stdin=text)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == len(text)
    assert result.stdout == text


def test_run_interactive_shell_reads_a_script_from_stdin(target: Target) -> None:
    result = docker(target, "run", "--rm", "-i", "busybox", "sh", stdin="echo from-stdin\nexit 7\n")
    assert (result.returncode, result.stdout) == (7, "from-stdin\n")


def test_run_with_a_tty_merges_streams_with_crlf(target: Target) -> None:
    result = docker_bytes(
        target, "run", "--rm", "-t", "busybox", "sh", "-c", "echo hi; echo err >&2"
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (b"hi\r\nerr\r\n", b"")


def test_logs_of_a_tty_container(target: Target, names: Names) -> None:
    name = names.container("tty")
    ok(target, "run", "-d", "-t", "--name", name, "busybox", "echo", "hi")
    assert ok(target, "wait", name).strip() == "0"
    assert docker_bytes(target, "logs", name).stdout == b"hi\r\n"
    assert inspect(target, name, "{{.Config.Tty}}") == "true"


def test_run_with_env(target: Target) -> None:
    out = ok(target, "run", "--rm", "-e", "GREETING=hola", "busybox", "sh", "-c", "echo $GREETING")
    assert out == "hola\n"


def test_run_with_workdir(target: Target) -> None:
    assert ok(target, "run", "--rm", "-w", "/tmp", "busybox", "sh", "-c", "pwd") == "/tmp\n"


def test_run_with_name_leaves_a_named_exited_container(target: Target, names: Names) -> None:
    name = names.container("named")
    assert ok(target, "run", "--name", name, "busybox", "echo", "named") == "named\n"
    out = ok(target, "ps", "-a", "--format", "{{.Names}} {{.Status}}")
    line = next((row for row in out.splitlines() if row.split()[0] == name), None)
    assert line is not None, f"{name} missing from `docker ps -a`:\n{out}"
    assert line.startswith(f"{name} Exited (0)"), line


def test_run_rm_removes_the_container(target: Target, names: Names) -> None:
    name = names.container("gone")
    assert ok(target, "run", "--rm", "--name", name, "busybox", "echo", "x") == "x\n"
    assert wait_until(lambda: docker(target, "inspect", name).returncode != 0)


def test_run_unknown_image_fails_with_125(target: Target) -> None:
    result = docker(target, "run", "--rm", "labkit-no-such-image-anywhere")
    assert result.returncode == 125
    assert "Unable to find image 'labkit-no-such-image-anywhere:latest' locally" in result.stderr


def test_run_name_conflict_fails_with_125(target: Target, names: Names) -> None:
    name = names.container("dup")
    ok(target, "create", "--name", name, "busybox", "echo")
    result = docker(target, "run", "-d", "--name", name, "busybox", "echo")
    assert result.returncode == 125
    assert f'The container name "/{name}" is already in use' in result.stderr


def test_run_unknown_command_fails_with_127(target: Target) -> None:
    result = docker(target, "run", "--rm", "busybox", "labkit-no-such-command")
    assert result.returncode == 127
    assert 'exec: "labkit-no-such-command": executable file not found in $PATH' in result.stderr


def test_run_with_entrypoint(target: Target) -> None:
    assert ok(target, "run", "--rm", "--entrypoint", "echo", "busybox", "from", "entry") == (
        "from entry\n"
    )


def test_run_with_a_bind_mount_reads_a_host_file(target: Target, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "secret.txt").write_text("from the host\n")
    folder.chmod(0o755)
    out = ok(
        target, "run", "--rm", "-v", f"{folder}:/host:ro", "busybox", "cat", "/host/secret.txt"
    )
    assert out == "from the host\n"


def test_a_named_volume_outlives_its_containers(target: Target, names: Names) -> None:
    volume = names.volume("data")
    mount = f"{volume}:/data"
    ok(target, "run", "--rm", "-v", mount, "busybox", "sh", "-c", "echo persisted > /data/x")
    assert ok(target, "run", "--rm", "-v", mount, "busybox", "cat", "/data/x") == "persisted\n"


def test_a_containers_files_survive_a_restart_and_stay_private(
    target: Target, names: Names
) -> None:
    name = names.container("fs")
    ok(target, "run", "-d", "--name", name, "-e", "X=from-run", "busybox", "sleep", "60")
    assert ok(target, "exec", name, "sh", "-c", "echo $X; echo data > /tmp/f") == "from-run\n"
    ok(target, "stop", "-t", "1", name)
    ok(target, "start", name)
    assert ok(target, "exec", name, "cat", "/tmp/f") == "data\n"
    other = docker(target, "run", "--rm", "busybox", "cat", "/tmp/f")
    assert other.returncode == 1
    assert "can't open '/tmp/f'" in other.stderr


def test_run_detached_prints_the_id_and_shows_up_in_ps(target: Target, names: Names) -> None:
    name = names.container("bg")
    cid = run_detached(target, name, "sleep", "30")
    out = ok(target, "ps", "--filter", f"name={name}", "--format", "{{.ID}} {{.Names}} {{.Status}}")
    rows = out.splitlines()
    assert len(rows) == 1, out
    short_id, listed_name, status = rows[0].split(" ", 2)
    assert cid.startswith(short_id) and len(short_id) == 12
    assert listed_name == name
    assert status.startswith("Up"), status
    assert inspect(target, name, "{{.State.Status}} {{.State.Running}}") == "running true"
    assert ok(target, "rm", "-f", name).strip() == name


def test_create_then_start_attached(target: Target, names: Names) -> None:
    name = names.container("created")
    cid = ok(target, "create", "--name", name, "busybox", "echo", "created").strip()
    assert HEX64.match(cid), cid
    assert inspect(target, name, "{{.State.Status}}") == "created"
    assert ok(target, "start", "-a", name) == "created\n"
    assert inspect(target, name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"


# --- ps


def test_ps_filters_and_format(target: Target, names: Names) -> None:
    ok_name, failed_name, running_name = (names.container(x) for x in ("ok", "fail", "run"))
    token_label = f"lkc.test={names.token}"
    ok(target, "run", "--label", token_label, "--name", ok_name, "busybox", "echo", "x")
    docker(
        target,
        "run",
        "--label",
        token_label,
        "--name",
        failed_name,
        "busybox",
        "sh",
        "-c",
        "exit 3",
    )
    run_detached(target, running_name, "sleep", "30")

    def ps(*args: str) -> list[str]:
        out = ok(target, "ps", *args, "--format", "{{.Names}} {{.Status}}")
        return sorted(out.splitlines())

    labelled = ps("-a", "--filter", f"label={token_label}")
    assert [row.split(" ", 1)[0] for row in labelled] == sorted([ok_name, failed_name])
    statuses = {row.split(" ", 1)[0]: row.split(" ", 1)[1] for row in labelled}
    assert statuses[ok_name].startswith("Exited (0)")
    assert statuses[failed_name].startswith("Exited (3)")

    running = ps("--filter", f"name={names.token}")
    assert [row.split(" ", 1)[0] for row in running] == [running_name]
    assert running[0].split(" ", 1)[1].startswith("Up")

    exited3 = ps("-a", "--filter", f"name={names.token}", "--filter", "exited=3")
    assert [row.split(" ", 1)[0] for row in exited3] == [failed_name]
    by_status = ps("-a", "--filter", f"name={names.token}", "--filter", "status=exited")
    assert [row.split(" ", 1)[0] for row in by_status] == sorted([ok_name, failed_name])

    by_image = ps("-a", "--filter", f"name={names.token}", "--filter", "ancestor=busybox")
    assert len(by_image) == 3, by_image

    quiet = ok(target, "ps", "-aq", "--filter", f"label={token_label}").split()
    assert len(quiet) == 2 and all(re.fullmatch(r"[0-9a-f]{12}", q) for q in quiet), quiet


def test_ps_format_shows_image_and_command(target: Target, names: Names) -> None:
    name = names.container("fmt")
    ok(target, "run", "--name", name, "busybox", "echo", "x")
    out = ok(target, "ps", "-a", "--filter", f"name={name}", "--format", "{{.Image}}|{{.Command}}")
    assert out.strip() == 'busybox|"echo x"'


# --- logs


def test_logs_of_an_exited_container(target: Target, names: Names) -> None:
    name = names.container("logs")
    run_detached(target, name, "sh", "-c", "echo one; echo two; echo oops >&2")
    assert ok(target, "wait", name).strip() == "0"
    result = docker(target, "logs", name)
    assert (result.returncode, result.stdout, result.stderr) == (0, "one\ntwo\n", "oops\n")
    followed = docker(target, "logs", "-f", name)
    assert (followed.returncode, followed.stdout) == (0, "one\ntwo\n")


def test_logs_tail(target: Target, names: Names) -> None:
    # One stream only: dockerd copies stdout and stderr concurrently, so the order of
    # lines *across* the two streams in its log is not fixed, and neither is a tail of both.
    name = names.container("tail")
    run_detached(target, name, "sh", "-c", "echo one; echo two; echo three")
    assert ok(target, "wait", name).strip() == "0"
    assert ok(target, "logs", "--tail", "2", name) == "two\nthree\n"
    assert ok(target, "logs", "--tail", "0", name) == ""
    assert ok(target, "logs", "--tail", "all", name) == "one\ntwo\nthree\n"


def test_logs_follow_ends_when_the_container_exits(target: Target, names: Names) -> None:
    name = names.container("follow")
    run_detached(target, name, "sh", "-c", "echo first; sleep 1; echo second")
    result = docker(target, "logs", "-f", name, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "first\nsecond\n"


def test_logs_of_unknown_container(target: Target) -> None:
    result = docker(target, "logs", "labkit-no-such-container")
    assert result.returncode == 1
    assert "No such container: labkit-no-such-container" in result.stderr


# --- lifecycle


def test_stop_start_restart_kill_wait(target: Target, names: Names) -> None:
    name = names.container("life")
    run_detached(target, name, "sleep", "60")
    assert ok(target, "stop", "-t", "1", name).strip() == name
    assert inspect(target, name, "{{.State.Status}} {{.State.Running}} {{.State.Pid}}") == (
        "exited false 0"
    )
    assert ok(target, "start", name).strip() == name
    assert inspect(target, name, "{{.State.Status}}") == "running"
    assert int(inspect(target, name, "{{.State.Pid}}")) > 0
    started = inspect(target, name, "{{.State.StartedAt}}")
    assert ok(target, "restart", "-t", "1", name).strip() == name
    assert inspect(target, name, "{{.State.Status}}") == "running"
    assert inspect(target, name, "{{.State.StartedAt}}") != started
    assert ok(target, "kill", name).strip() == name
    assert ok(target, "wait", name).strip() == "137"
    assert inspect(target, name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def stop_events(target: Target, name: str, since: str) -> list[str]:
    """What the engine logged for ``name`` since then: ``action signal`` per event."""
    until = unix_time_arg(engine_now_ns(target.socket))
    fmt = '{{.Action}} {{index .Actor.Attributes "signal"}}'
    out = ok(target, "events", "--since", since, "--until", until,
             "--filter", f"container={name}", "--format", fmt)  # fmt: skip
    return [row.strip() for row in out.splitlines() if not row.startswith("exec_")]


@pytest.mark.parametrize("command", [["sleep", "60"], ["sh", "-c", "sleep 60"]])
def test_stop_waits_for_a_pid_1_that_ignores_sigterm(
    target: Target, names: Names, command: list[str]
) -> None:
    """The container's command is pid 1: SIGTERM, for which it has no handler, never reaches
    it, so stop waits its timeout and kills (137), and says so in its events."""
    name = names.container("pid1")
    run_detached(target, name, *command)
    since = unix_time_arg(engine_now_ns(target.socket))
    ok(target, "stop", "-t", "1", name)
    assert inspect(target, name, "{{.State.ExitCode}}") == "137"
    events = stop_events(target, name, since)
    assert events == ["kill 15", "kill 9", "die", "stop"], events


def test_kill_with_sigterm_leaves_pid_1_running(target: Target, names: Names) -> None:
    name = names.container("term")
    run_detached(target, name, "sleep", "60")
    assert ok(target, "kill", "-s", "TERM", name).strip() == name
    assert inspect(target, name, "{{.State.Status}}") == "running"
    ok(target, "kill", name)
    assert ok(target, "wait", name) == "137\n"


def test_docker_init_passes_sigterm_on(target: Target, names: Names) -> None:
    """``--init``: docker-init is pid 1 and forwards SIGTERM to the command, which dies of it."""
    name = names.container("init")
    ok(target, "run", "-d", "--init", "--name", name, "busybox", "sleep", "60")
    ok(target, "stop", "-t", "10", name)
    assert inspect(target, name, "{{.State.ExitCode}}") == "143"


def test_a_shell_that_traps_sigterm_stops_its_own_way(target: Target, names: Names) -> None:
    """The trap runs once the sleep in progress ends, well within the 10 s timeout."""
    name = names.container("trap")
    script = 'trap "echo bye; exit 0" TERM; echo up; while :; do sleep 1; done'
    run_detached(target, name, "sh", "-c", script)
    assert wait_until(lambda: ok(target, "logs", name) == "up\n", timeout=30)
    ok(target, "stop", "-t", "10", name)
    assert inspect(target, name, "{{.State.ExitCode}}") == "0"
    assert ok(target, "logs", name) == "up\nbye\n"


def test_a_trap_waits_for_the_command_in_progress(target: Target, names: Names) -> None:
    """``docker kill -s TERM`` (the API's 204): the trap runs after ``sleep 2``, $? kept;
    ``kill $$`` from inside reaches the trap too."""
    name = names.container("later")
    script = 'trap "echo t" TERM; echo up; sleep 2; echo st=$?; kill $$; echo end'
    run_detached(target, name, "sh", "-c", script)
    assert wait_until(lambda: ok(target, "logs", name) == "up\n", timeout=30)
    ok(target, "kill", "-s", "TERM", name)
    assert ok(target, "wait", name) == "0\n"
    assert ok(target, "logs", name) == "up\nt\nst=0\nt\nend\n"


def test_kill_a_stopped_container_fails(target: Target, names: Names) -> None:
    name = names.container("dead")
    ok(target, "run", "--name", name, "busybox", "echo", "x")
    result = docker(target, "kill", name)
    assert result.returncode == 1
    assert "is not running" in result.stderr


def test_wait_prints_the_exit_code(target: Target, names: Names) -> None:
    name = names.container("wait")
    run_detached(target, name, "sh", "-c", "sleep 1; exit 5")
    assert ok(target, "wait", name) == "5\n"


def test_exec(target: Target, names: Names) -> None:
    name = names.container("exec")
    run_detached(target, name, "sleep", "60")
    result = docker(target, "exec", name, "echo", "hi")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")
    assert docker(target, "exec", name, "sh", "-c", "exit 4").returncode == 4
    assert ok(target, "exec", "-e", "A=b", name, "sh", "-c", "echo $A") == "b\n"
    assert ok(target, "exec", "-w", "/tmp", name, "sh", "-c", "pwd") == "/tmp\n"
    assert ok(target, "exec", "-i", name, "cat", stdin="piped\n") == "piped\n"
    err = docker(target, "exec", name, "sh", "-c", "echo bad >&2")
    assert (err.stdout, err.stderr) == ("", "bad\n")


def test_exec_in_a_stopped_container_fails(target: Target, names: Names) -> None:
    name = names.container("noexec")
    ok(target, "run", "--name", name, "busybox", "echo", "x")
    result = docker(target, "exec", name, "echo", "hi")
    assert result.returncode != 0
    assert "is not running" in result.stderr


def test_inspect_container_with_format(target: Target, names: Names) -> None:
    name = names.container("insp")
    cid = ok(target, "create", "--name", name, "-e", "K=V", "busybox", "echo", "a b").strip()
    assert inspect(target, name, "{{.Id}}") == cid
    assert inspect(target, name, "{{.Name}}") == f"/{name}"
    assert inspect(target, name, "{{.Config.Image}}") == "busybox"
    assert inspect(target, name, "{{json .Config.Cmd}}") == '["echo","a b"]'
    assert inspect(target, cid[:12], "{{.State.Status}}") == "created"
    assert "K=V" in inspect(target, name, "{{json .Config.Env}}")
    image_id = ok(target, "image", "inspect", "--format", "{{.Id}}", "busybox").strip()
    assert inspect(target, name, "{{.Image}}") == image_id


def test_inspect_unknown_object_fails(target: Target) -> None:
    result = docker(target, "inspect", "labkit-no-such-object")
    assert result.returncode == 1
    assert "No such object: labkit-no-such-object" in result.stderr


def test_rm(target: Target, names: Names) -> None:
    name = names.container("rm")
    run_detached(target, name, "sleep", "60")
    refused = docker(target, "rm", name)
    assert refused.returncode == 1
    assert "Error response from daemon" in refused.stderr
    assert inspect(target, name, "{{.State.Status}}") == "running"
    ok(target, "stop", "-t", "1", name)
    assert ok(target, "rm", name).strip() == name
    gone = docker(target, "inspect", "--type", "container", name)
    assert gone.returncode == 1
    assert "No such container" in gone.stderr
    missing = docker(target, "rm", name)
    assert missing.returncode == 1
    assert f"No such container: {name}" in missing.stderr


def test_rename(target: Target, names: Names) -> None:
    old, new = names.container("old"), names.container("new")
    cid = ok(target, "create", "--name", old, "busybox", "echo", "x").strip()
    assert ok(target, "rename", old, new) == ""
    assert inspect(target, new, "{{.Id}} {{.Name}}") == f"{cid} /{new}"
    assert docker(target, "inspect", "--type", "container", old).returncode == 1


def test_update_changes_restart_policy_and_resources(target: Target, names: Names) -> None:
    name = names.container("upd")
    run_detached(target, name, "sleep", "60")
    assert ok(
        target, "update", "--restart", "on-failure:3", "--cpu-shares", "512", "--memory", "64m",
        "--memory-swap", "128m", "--pids-limit", "40", name,
    ).strip() == name  # fmt: skip
    shown = "{{json .HostConfig.RestartPolicy}} {{.HostConfig.CpuShares}} {{.HostConfig.Memory}}"
    shown += " {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}}"
    assert inspect(target, name, shown) == (
        '{"MaximumRetryCount":3,"Name":"on-failure"} 512 67108864 134217728 40'
    )
    failed = docker(target, "update", "--restart", "sometimes", name)
    assert failed.returncode != 0 and "sometimes" in failed.stderr


def test_a_default_containers_one_network_is_the_bridge(target: Target, names: Names) -> None:
    """The CLI names the default mode's endpoint "default"; dockerd files it under bridge."""
    name = names.container("net")
    ok(target, "create", "--name", name, "busybox", "true")
    shown = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"
    assert inspect(target, name, shown) == "bridge"


def test_top_lists_the_process(target: Target, names: Names) -> None:
    name = names.container("top")
    run_detached(target, name, "sleep", "60")
    # Just after the start, a loaded dockerd can still show runc's "runc init" in its place.
    deadline = time.monotonic() + 30
    while True:
        out = ok(target, "top", name)
        if "sleep 60" in out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["UID", "PID"]
    assert header.split()[-1] == "CMD"
    assert any(row.endswith("sleep 60") for row in rows), out


def test_top_of_a_stopped_container_fails(target: Target, names: Names) -> None:
    name = names.container("notop")
    ok(target, "run", "--name", name, "busybox", "echo", "x")
    result = docker(target, "top", name)
    assert result.returncode == 1
    assert "is not running" in result.stderr


# --- events


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(item in it for item in wanted)


def test_events_since_until(target: Target, names: Names) -> None:
    name = names.container("ev")
    since = unix_time_arg(engine_now_ns(target.socket))
    ok(target, "run", "--name", name, "busybox", "echo", "x")
    ok(target, "rm", name)
    until = unix_time_arg(engine_now_ns(target.socket))
    out = ok(
        target,
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        f"container={name}",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    )
    rows = out.splitlines()
    assert rows, "no events between --since and --until"
    assert all(row.startswith("container ") and row.endswith(f" {name}") for row in rows), out
    actions = [row.split()[1] for row in rows]
    assert _is_subsequence(["create", "start", "die", "destroy"], actions), actions


def test_a_container_joins_its_networks_as_it_starts_and_leaves_after_it_dies(
    target: Target, names: Names
) -> None:
    net, other = names.network("n1"), names.network("n2")
    for network in (net, other):
        ok(target, "network", "create", network)
    name = names.container("joins")
    since = unix_time_arg(engine_now_ns(target.socket))
    ok(target, "create", "--name", name, "--network", net, "busybox", "true")
    ok(target, "network", "connect", other, name)  # not running: no event yet
    cid = inspect(target, name, "{{.Id}}")
    ok(target, "start", "-a", name)
    ok(target, "rm", name)
    until = unix_time_arg(engine_now_ns(target.socket))
    window = ["--since", since, "--until", until]
    shown = "{{.Actor.Attributes.container}}|{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    rows = [row.split("|") for row in ok(target, "events", *window, "--format", shown).split("\n")]
    mine = [
        what
        for joined, what in (row for row in rows if len(row) == 2)
        if (joined == cid or what.endswith(f" {name}"))
        and what.split()[1] in ("connect", "disconnect", "start", "die")
    ]
    # dockerd joins and leaves several networks in no set order (a Go map)
    joined, lived, left = mine[:2], mine[2:4], mine[4:]
    assert sorted(joined) == [f"network connect {net}", f"network connect {other}"], rows
    assert lived == [f"container start {name}", f"container die {name}"], rows
    assert sorted(left) == [f"network disconnect {net}", f"network disconnect {other}"], rows


def test_events_json_format(target: Target, names: Names) -> None:
    name = names.container("evj")
    since = unix_time_arg(engine_now_ns(target.socket))
    ok(target, "create", "--name", name, "busybox", "echo", "x")
    until = unix_time_arg(engine_now_ns(target.socket))
    out = ok(
        target,
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        f"container={name}",
        "--filter",
        "event=create",
        "--format",
        "{{json .}}",
    )
    rows = out.splitlines()
    assert len(rows) == 1, out
    assert '"Action":"create"' in rows[0]
    assert '"Type":"container"' in rows[0]


def test_events_of_an_image_tag_and_untag(target: Target, names: Names) -> None:
    ref = names.image("evtag", "v1")
    since = unix_time_arg(engine_now_ns(target.socket))
    ok(target, "tag", "busybox", ref)
    ok(target, "rmi", ref)
    until = unix_time_arg(engine_now_ns(target.socket))
    window = ("--since", since, "--until", until, "--format", "{{.Type}} {{.Action}}")
    mine = ok(target, "events", *window, "--filter", "type=image", "--filter", f"image={ref}")
    assert mine.splitlines()[:1] == ["image tag"], mine
    every = ok(target, "events", *window, "--filter", "type=image").splitlines()
    assert _is_subsequence(["image tag", "image untag"], every), every


# --- networks and volumes


def test_network_ls(target: Target) -> None:
    out = ok(target, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    rows = set(out.splitlines())
    assert {"host host local", "none null local"} <= rows, out
    only = ok(target, "network", "ls", "--filter", "name=none", "--format", "{{.Name}}")
    assert only.splitlines() == ["none"]
    assert ok(target, "network", "inspect", "--format", "{{.Driver}} {{.Scope}}", "none") == (
        "null local\n"
    )


def test_network_connect_and_disconnect(target: Target, names: Names) -> None:
    net = names.network()
    ok(target, "network", "create", "--subnet", "10.123.0.0/16", "--gateway", "10.123.0.1", net)
    ipam = ok(target, "network", "inspect", "--format", "{{json .IPAM.Config}}", net).strip()
    assert ipam == '[{"Subnet":"10.123.0.0/16","Gateway":"10.123.0.1"}]'
    name = names.container()
    ok(target, "create", "--name", name, "busybox", "sleep", "60")
    ok(target, "network", "connect", "--alias", "web", "--ip", "10.123.0.9", net, name)
    ok(target, "network", "connect", net, name)  # again while stopped: dockerd says nothing
    endpoint = f'(index .NetworkSettings.Networks "{net}")'
    fmt = f"{{{{json {endpoint}.IPAMConfig}}}} {{{{index {endpoint}.Aliases 0}}}}"
    assert inspect(target, name, fmt) == '{"IPv4Address":"10.123.0.9"} web'
    ok(target, "start", name)
    members = ok(
        target, "network", "inspect", "--format", "{{range .Containers}}{{.Name}}{{end}}", net
    )
    assert members.strip() == name
    again = docker(target, "network", "connect", net, name)
    assert again.returncode == 1
    assert f"endpoint with name {name} already exists in network {net}" in again.stderr
    ok(target, "network", "disconnect", net, name)
    on = inspect(target, name, "{{range $net, $_ := .NetworkSettings.Networks}}{{$net}} {{end}}")
    assert net not in on.split()
    gone = docker(target, "network", "disconnect", net, name)
    assert gone.returncode == 1
    assert f"is not connected to network {net}" in gone.stderr


def test_volume_create_ls_inspect_rm(target: Target, names: Names) -> None:
    name = names.volume("vol")
    assert ok(target, "volume", "create", name).strip() == name
    listed = ok(
        target, "volume", "ls", "--filter", f"name={name}", "--format", "{{.Name}} {{.Driver}}"
    )
    assert listed.splitlines() == [f"{name} local"]
    assert ok(target, "volume", "inspect", "--format", "{{.Name}} {{.Driver}}", name).strip() == (
        f"{name} local"
    )
    assert ok(target, "volume", "rm", name).strip() == name
    assert ok(target, "volume", "ls", "-q", "--filter", f"name={name}") == ""
    missing = docker(target, "volume", "inspect", name)
    assert missing.returncode == 1
    assert "no such volume" in missing.stderr.lower()


# --- prune


# --- making images: build (the classic builder), commit, save, load, import


def build_env(target: Target) -> dict[str, str]:
    """The CLI's classic builder: what ``Builder-Version: 1`` in the ping asks for anyway."""
    return {**target.env, "DOCKER_BUILDKIT": "0"}


def docker_build(target: Target, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, "build", *args, str(folder)],
        capture_output=True,
        text=True,
        env=build_env(target),
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _context(tmp_path: Path, dockerfile: str, **files: str) -> Path:
    folder = tmp_path / "context"
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_build_steps_tags_and_cache(target: Target, names: Names, tmp_path: Path) -> None:
    # The ARG's default is this run's own: on a shared dockerd, another build's step with the
    # same text would be the newest child of busybox, and the cache would follow that one.
    dockerfile = (
        "FROM busybox\n"
        f"ARG WHO=world-{names.token}\n"
        "ENV GREETING=hello\n"
        "COPY greeting.txt /app/\n"
        "WORKDIR /app\n"
        'RUN echo "$GREETING $WHO" > out.txt && cat out.txt\n'
        'CMD ["cat", "/app/out.txt"]\n'
    )
    folder = _context(
        tmp_path,
        dockerfile,
        **{"greeting.txt": "hi\n", "secret.log": "x\n", ".dockerignore": "*.log\n"},
    )
    first, second = names.image("built", "1"), names.image("built", "2")
    built = docker_build(target, folder, "-t", first, "-t", second, "--build-arg", "WHO=you")
    assert built.returncode == 0, built.stderr
    out = built.stdout
    steps = re.findall(r"^Step (\d+)/7 : (\w+)", out, re.M)
    assert [s[1] for s in steps] == ["FROM", "ARG", "ENV", "COPY", "WORKDIR", "RUN", "CMD"], out
    assert "\nhello you\n" in out
    assert re.search(r"^Successfully built [0-9a-f]{12}$", out, re.M), out
    assert f"Successfully tagged {first}\n" in out and f"Successfully tagged {second}\n" in out
    assert "Removing intermediate container" in out
    assert ok(target, "run", "--rm", first) == "hello you\n"
    assert ok(target, "run", "--rm", first, "ls", "/app") == "greeting.txt\nout.txt\n"
    assert inspect(target, first, "{{.Config.WorkingDir}} {{json .Config.Cmd}}") == (
        '/app ["cat","/app/out.txt"]'
    )
    again = docker_build(target, folder, "-t", first, "--build-arg", "WHO=you")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(" ---> Using cache") == 6, again.stdout
    assert inspect(target, first, "{{.Id}}") == inspect(target, second, "{{.Id}}")
    fresh = docker_build(target, folder, "-t", first, "--no-cache", "--build-arg", "WHO=you")
    assert fresh.returncode == 0 and "Using cache" not in fresh.stdout, fresh.stdout
    history = ok(target, "history", "--no-trunc", "--format", "{{.CreatedBy}}", first)
    assert "|1 WHO=you /bin/sh -c echo" in history, history
    assert "/bin/sh -c #(nop)  ENV GREETING=hello" in history, history


def test_build_context_leaves_out_what_dockerignore_names(
    target: Target, names: Names, tmp_path: Path
) -> None:
    ignore = {".dockerignore": "**/*.log\n*.log\n"}
    files = {"keep.txt": "k\n", "secret.log": "s\n", "sub__deep.log": "d\n", **ignore}
    folder = _context(tmp_path, "FROM busybox\nCOPY . /ctx/\n", **files)
    ref = names.image("ignoring")
    built = docker_build(target, folder, "-t", ref)
    assert built.returncode == 0, built.stderr
    listed = ok(target, "run", "--rm", ref, "ls", "-A", "/ctx")
    assert listed == ".dockerignore\nDockerfile\nkeep.txt\nsub\n"
    assert ok(target, "run", "--rm", ref, "ls", "-A", "/ctx/sub") == ""


def test_build_failing_run_is_an_error(target: Target, names: Names, tmp_path: Path) -> None:
    folder = _context(tmp_path, "FROM busybox\nRUN echo before; exit 3\n")
    result = docker_build(target, folder, "--force-rm", "-t", names.image("failing"))
    assert result.returncode == 3  # the CLI exits with the failing command's code
    assert "before\n" in result.stdout
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in (
        result.stderr
    ), result.stderr


def test_build_refuses_a_bad_dockerfile(target: Target, tmp_path: Path) -> None:
    unknown = _context(tmp_path, "FROM busybox\nFROBNICATE now\n")
    result = docker_build(target, unknown)
    assert result.returncode == 1
    assert "dockerfile parse error line 2: unknown instruction: FROBNICATE" in result.stderr
    (unknown / "Dockerfile").write_text("RUN echo no base\n")
    result = docker_build(target, unknown)
    assert result.returncode == 1
    assert "no build stage in current context" in result.stderr, result.stderr


def test_build_labels_file_and_quiet(target: Target, names: Names, tmp_path: Path) -> None:
    folder = _context(
        tmp_path, "FROM busybox\n", **{"other.Dockerfile": "FROM busybox\nLABEL a=b\n"}
    )
    ref = names.image("labelled")
    result = docker_build(
        target, folder, "-q", "-f", str(folder / "other.Dockerfile"), "--label", "z=1", "-t", ref
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", result.stdout), result.stdout
    assert inspect(target, ref, "{{json .Config.Labels}}").find('"a":"b"') >= 0
    assert '"z":"1"' in inspect(target, ref, "{{json .Config.Labels}}")


def test_commit_with_changes(target: Target, names: Names) -> None:
    name = names.container("tocommit")
    ok(target, "run", "--name", name, "busybox", "sh", "-c", "echo kept > /kept.txt")
    ref = names.image("committed")
    out = ok(
        target, "commit", "-c", 'CMD ["cat", "/kept.txt"]', "-c", "ENV MODE=snap",
        "-m", "a message", "-a", "someone", name, ref,
    )  # fmt: skip
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out), out
    assert ok(target, "run", "--rm", ref) == "kept\n"
    assert ok(target, "run", "--rm", ref, "sh", "-c", "echo $MODE") == "snap\n"
    assert inspect(target, ref, "{{.Comment}}|{{.Author}}") == "a message|someone"
    assert ok(target, "diff", name).splitlines() == ["A /kept.txt"]


def test_save_load_round_trip(target: Target, names: Names, tmp_path: Path) -> None:
    name = names.container("tosave")
    ok(target, "run", "--name", name, "busybox", "sh", "-c", "echo saved > /saved.txt")
    ref = names.image("saved")
    ok(target, "commit", name, ref)
    image_id = inspect(target, ref, "{{.Id}}")
    archive = tmp_path / "image.tar"
    ok(target, "save", "-o", str(archive), ref)
    import tarfile

    with tarfile.open(archive) as tar:
        members = set(tar.getnames())
    assert {"manifest.json", "repositories", f"{image_id.split(':')[1]}.json"} <= members
    assert any(m.endswith("/layer.tar") for m in members)
    assert any(m.endswith("/VERSION") for m in members)
    ok(target, "rmi", ref)
    loaded = ok(target, "load", "-i", str(archive))
    assert loaded == f"Loaded image: {ref}\n"
    assert inspect(target, ref, "{{.Id}}") == image_id
    assert ok(target, "run", "--rm", ref, "cat", "/saved.txt") == "saved\n"


def test_import_a_tarball(target: Target, names: Names, tmp_path: Path) -> None:
    import io
    import tarfile

    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for path, text in (("etc/motd", b"imported\n"),):
            info = tarfile.TarInfo(path)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    tarball = tmp_path / "fs.tar"
    tarball.write_bytes(data.getvalue())
    ref = names.image("imported")
    out = ok(target, "import", "-c", 'CMD ["/bin/sh"]', "-m", "from a tarball", str(tarball), ref)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out), out
    assert inspect(target, ref, "{{.Comment}} {{json .Config.Cmd}}") == 'from a tarball ["/bin/sh"]'
    assert ok(target, "history", "--format", "{{.Comment}}", ref) == "from a tarball\n"
    assert inspect(target, ref, "{{len .RootFS.Layers}}") == "1"


def test_commit_a_running_container_pauses_it_briefly(target: Target, names: Names) -> None:
    name = names.container("running")
    run_detached(target, name, "sleep", "600")
    ok(target, "exec", name, "sh", "-c", "echo live > /live.txt")
    ref = names.image("live")
    ok(target, "commit", name, ref)
    assert inspect(target, name, "{{.State.Status}}") == "running"
    assert ok(target, "run", "--rm", ref, "cat", "/live.txt") == "live\n"
