"""A workshop on a real JupyterHub: three learners, each with a private lab engine.

The hub runs from the environment docs/hub/install.sh builds (``.ci/run`` builds it), with
the workshop's configuration (docs/hub/jupyterhub_config.py), on random loopback ports. Three
learner accounts and an instructor are made with ``useradd`` and removed at the end, also when
a test fails. Each learner's server is spawned through the hub's REST API, runs lesson 00 and
a check through its kernel API, and then:

- each learner has an engine of their own: its socket (0600) in their home, run as them;
- learner B cannot reach A's socket, progress, notebooks or copy for the instructor, nor A's
  files through a bind mount of B's own engine;
- ``labkit class-report``, run by the instructor, lists all three, and ignores a copy B forged;
- stopping a learner's server stops their engine;
- an nbgitpuller link (docs/WORKSHOPS.md) pulls the lessons from a git server on loopback into
  a learner's server, and lesson 00 runs from the pulled copy on their engine;
- the workshop's idle culler runs as a hub service, and the same program with the same scopes
  stops idle servers, and their engines with them.

Needs root; skipped with the reason elsewhere, and a failure under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import hub_driver as hd
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from labkit.exercises.solutions import parse as parse_solutions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
LAB_HOME = ".local/share/labkit"
WORKSPACE = "docker-ipc-lab"
COURSE = "ipc-lab-course"  # the repository an nbgitpuller link names

PROBE = """\
import json, os
from ipykernel.connect import get_connection_info
from labkit.engine import control
wire = get_connection_info(unpack=True)
print(json.dumps({"lab_engine": lab.is_lab_engine, "docker_host": lab.docker_host,
                  "pid": control.read_pid(control.engine_home()), "uid": os.getuid(),
                  "kernel_transport": wire["transport"], "kernel_ip": wire["ip"]}))
"""
CHECK = """\
from labkit.exercises import check, progress
check("02.1")
print("STATUS", progress.load().record("02.1").status)
"""
# In B's kernel, through B's own engine: a container that bind-mounts A's workspace.
BIND = """\
import docker
d = docker.DockerClient(base_url=lab.docker_host)
try:
    out = d.containers.run("busybox", ["cat", "/a/lessons/00-start-here.ipynb"],
                           volumes={{{path!r}: {{"bind": "/a", "mode": "ro"}}}}, remove=True)
    print("BIND READ", len(out))
except docker.errors.ContainerError as exc:
    print("BIND DENIED", exc.exit_status)
except docker.errors.APIError as exc:
    print("BIND REFUSED", exc.explanation)
"""
# Run as B with B's uid, gid and groups: every attempt on A's things must be refused.
ATTEMPTS = """\
import json, os, socket, sys
a_home, drop, a_name = sys.argv[1:4]
lab = a_home + "/.local/share/labkit"
def connect():
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(lab + "/engine/engine.sock")
def replace():
    tmp = f"{drop}/.{a_name}.forged.tmp"
    with open(tmp, "w") as f:
        f.write("{}")
    try:
        os.replace(tmp, f"{drop}/{a_name}.json")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
tries = {
    "connect to A's engine socket": connect,
    "read A's progress": lambda: open(lab + "/progress.json").read(),
    "read A's lesson": lambda: open(a_home + "/docker-ipc-lab/lessons/00-start-here.ipynb").read(),
    "list A's workspace": lambda: os.listdir(a_home + "/docker-ipc-lab"),
    "list A's lab home": lambda: os.listdir(lab),
    "read A's copy for the instructor": lambda: open(f"{drop}/{a_name}.json").read(),
    "overwrite A's copy": lambda: open(f"{drop}/{a_name}.json", "w").close(),
    "replace A's copy": replace,
    "list the drop folder": lambda: os.listdir(drop),
}
out = {}
for what, attempt in tries.items():
    try:
        attempt()
        out[what] = "ALLOWED"
    except PermissionError:
        out[what] = "denied"
    except OSError as exc:
        out[what] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""
# In the hub's environment: the workshop's PAM settings, with the test's two groups standing in
# for the configuration's "learners" and "instructors" (a machine may already have those).
PAM_CHECK = """\
import asyncio, json, sys
from jupyterhub.auth import PAMAuthenticator
from traitlets.config import Config
config_file, groups, attempts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
c = Config()
exec(compile(open(config_file).read(), config_file, "exec"), {"get_config": lambda: c})
assert c.JupyterHub.authenticator_class == "pam", c.JupyterHub.authenticator_class
c.PAMAuthenticator.allowed_groups = {groups[g] for g in c.PAMAuthenticator.allowed_groups}
c.PAMAuthenticator.admin_groups = {groups[g] for g in c.PAMAuthenticator.admin_groups}
auth = PAMAuthenticator(config=c)
async def main():
    out = []
    for name, password in attempts:
        user = await auth.get_authenticated_user(None, {"username": name, "password": password})
        out.append(user and {"name": user["name"], "admin": bool(user.get("admin"))})
    print(json.dumps(out))
asyncio.run(main())
"""


@dataclass
class Learner:
    account: hd.Account
    answer: str  # the code defining their answer to 02.1
    spawn_seconds: float = 0.0
    probe: dict = field(default_factory=dict)
    status: str = ""
    outputs: list[str] = field(default_factory=list)


@dataclass
class Classroom:
    hub: hd.Hub
    learners: list[Learner]
    teacher: hd.Account
    drop: Path
    bind: str = ""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def answers_02_1() -> tuple[str, str]:
    text = (ROOT / "exercises/solutions/02-raw-bytes-to-the-daemon.py").read_text()
    blocks = parse_solutions(text)["02.1"]
    return blocks.solution, dict(blocks.wrong)["no-host"]


async def run_learner(hub: hd.Hub, learner: Learner, bind_path: str | None) -> str:
    name = learner.account.name
    notebook = await hub.server_api(name, "GET", "/contents/lessons/00-start-here.ipynb")
    kernel = await hub.kernel(name)
    bind = ""
    try:
        for number, code in enumerate(hd.code_cells(notebook), 1):
            result = await kernel.run(code)
            assert not result.error, f"lesson 00, code cell {number}, in {name}'s server: {result}"
            learner.outputs.append(result.stdout + "".join(result.data))
        probe = await kernel.run(PROBE)
        assert not probe.error, probe
        learner.probe = json.loads(probe.stdout)
        answer = await kernel.run(learner.answer)
        checked = await kernel.run(CHECK)
        assert not answer.error and not checked.error, (answer, checked)
        learner.status = checked.stdout.split("STATUS")[-1].strip()
        if bind_path:  # first B's own workspace (it must work), then A's
            own = await kernel.run(BIND.format(path=str(learner.account.home / WORKSPACE)))
            assert own.stdout.startswith("BIND READ"), f"a bind mount of B's own files: {own}"
            tried = await kernel.run(BIND.format(path=bind_path))
            assert not tried.error, tried
            bind = tried.stdout.strip()
    finally:
        await kernel.close()
    return bind


async def run_class(room: Classroom) -> None:
    hub = room.hub
    spawned = await asyncio.gather(*(hub.spawn(x.account.name) for x in room.learners))
    for learner, seconds in zip(room.learners, spawned, strict=True):
        learner.spawn_seconds = seconds
    a, b, _ = room.learners
    binds = await asyncio.gather(
        *(
            run_learner(hub, x, str(a.account.home / WORKSPACE) if x is b else None)
            for x in room.learners
        )
    )
    room.bind = binds[1]


@pytest.fixture(scope="module")
def classroom() -> Iterator[Classroom]:
    problem = hd.environment_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI must run the hub test: {problem}")
        pytest.skip(f"the JupyterHub test {problem}")
    hd.Accounts.remove_leftovers()
    accounts = hd.Accounts()
    place = Path(tempfile.mkdtemp(prefix="lkdrop-"))
    hub = None
    try:
        place.chmod(0o755)
        instructors = accounts.group("i")
        drop = place / "progress"
        # exactly as docs/WORKSHOPS.md tells the admin to make it
        cmd = ["install", "-d", "-o", "root", "-g", instructors, "-m", "3753", str(drop)]
        subprocess.run(cmd, check=True)
        right, wrong = answers_02_1()
        learners = [
            Learner(accounts.add("a"), right),
            Learner(accounts.add("b"), wrong),
            # a long home, such as /home/firstname.lastname gives: the kernel's sockets must
            # still fit in a Unix socket's 107 bytes
            Learner(accounts.add("c", home_suffix="with-a-longer-home-name"), right),
        ]
        teacher = accounts.add("t", groups=[instructors])
        hub = hd.Hub([x.account.name for x in learners], drop)
        hub.start()
        room = Classroom(hub, learners, teacher, drop)
        try:
            asyncio.run(run_class(room))
        except (hd.HubError, AssertionError) as exc:
            raise AssertionError(f"{exc}\n--- the hub's log ---\n{hub.log_tail()}") from exc
        yield room
    finally:
        if hub is not None:
            hub.stop()
        accounts.remove()
        subprocess.run(["rm", "-rf", str(place)], check=False)


def test_each_learner_runs_lesson_00_on_an_engine_of_their_own(classroom: Classroom) -> None:
    sockets = set()
    for learner in classroom.learners:
        account, probe = learner.account, learner.probe
        assert probe["lab_engine"] is True and probe["uid"] == account.uid
        path = Path(probe["docker_host"].removeprefix("unix://"))
        assert path == account.home / LAB_HOME / "engine/engine.sock"
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == account.uid
        status = Path(f"/proc/{probe['pid']}/status").read_text()
        real_uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(real_uid) == account.uid  # the engine runs as the learner, unprivileged
        stat_fields = Path(f"/proc/{probe['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat_fields[16]) > 0  # and nicer than the hub (labkit_singleuser.NICENESS)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            assert s.recv(64).startswith(b"HTTP/1.1 200")
        sockets.add(path)
        # the workspace came from the hub's copy of the lab, and is private
        workspace = account.home / WORKSPACE
        assert (workspace / "lessons/00-start-here.ipynb").is_file()
        assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
        assert any("the lab engine" in text for text in learner.outputs)
        # the kernel talks to its server over Unix sockets in the learner's private runtime
        # folder: no loopback port another account could connect to, or collide with; its
        # path is short whatever the home's length (a socket's path fits in 107 bytes)
        assert probe["kernel_transport"] == "ipc", probe
        runtime = Path(probe["kernel_ip"]).parent
        assert runtime.stat().st_uid == account.uid, probe
        assert runtime.stat().st_mode & 0o077 == 0, oct(runtime.stat().st_mode)  # owner only
        assert len(probe["kernel_ip"]) < 80, probe
    assert len(sockets) == 3


def test_learner_b_cannot_reach_learner_a(classroom: Classroom) -> None:
    a, b, _ = (x.account for x in classroom.learners)
    script = [str(hd.PREFIX / "venv/bin/python"), "-c", ATTEMPTS]
    out = b.run([*script, str(a.home), str(classroom.drop), a.name])
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert results and all(v == "denied" for v in results.values()), results
    # B's own engine runs as B, so a bind mount of A's files gets nothing either
    assert classroom.bind.startswith(("BIND DENIED", "BIND REFUSED")), classroom.bind
    # and A's copy is still A's
    copy = classroom.drop / f"{a.name}.json"
    assert copy.stat().st_uid == a.uid and json.loads(copy.read_text())["learner"] == a.name


def test_the_instructor_reads_everyones_progress(classroom: Classroom) -> None:
    a, b, c = classroom.learners
    assert (a.status, b.status, c.status) == ("passed", "not-yet", "passed")
    teacher = classroom.teacher
    # B forges a copy under the instructor's name: the report must not trust it
    forged = b.account.run(
        ["sh", "-c", f'echo "{{}}" > {classroom.drop}/{teacher.name}.json'],
    )
    assert forged.returncode == 0, forged.stderr
    labkit = str(hd.PREFIX / "venv/bin/labkit")
    args = [labkit, "class-report", "--from", str(classroom.drop)]
    out = teacher.run([*args, "--json"])
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [x["learner"] for x in data["learners"]] == sorted(x.account.name for x in (a, b, c))
    task = next(t for les in data["lessons"] for t in les["tasks"] if t["task"] == "02.1")
    assert {k: v["status"] for k, v in task["learners"].items()} == {
        a.account.name: "passed",
        b.account.name: "not-yet",
        c.account.name: "passed",
    }
    [untrusted] = data["unreadable"]
    assert untrusted["learner"] == teacher.name
    assert f"belongs to {b.account.name}" in untrusted["reason"]
    text = teacher.run(args)
    assert all(x.account.name in text.stdout for x in (a, b, c)), text.stdout
    assert "Could not read 1" in text.stdout
    # a learner is no instructor
    denied = b.account.run(args)
    assert denied.returncode == 1 and "you may not list" in denied.stderr


def test_stopping_a_learners_server_stops_their_engine(classroom: Classroom) -> None:
    learner = classroom.learners[0]
    pid = learner.probe["pid"]
    asyncio.run(classroom.hub.stop_server(learner.account.name))
    for _ in range(120):
        if not Path(f"/proc/{pid}").exists():
            break
        asyncio.run(asyncio.sleep(0.5))
    assert not Path(f"/proc/{pid}").exists(), "the lab engine outlived its learner's server"
    assert not (learner.account.home / LAB_HOME / "engine/engine.sock").exists()
    assert not Path(learner.probe["kernel_ip"]).parent.exists()  # the runtime folder went too


@pytest.fixture
def course_repo(tmp_path: Path) -> Iterator[str]:
    """This clone's HEAD on a git server on loopback (git daemon), as an instructor's GitHub."""
    base = tmp_path / "git"
    bare = base / COURSE
    for argv in (
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)],
        ["git", "-C", str(ROOT), "push", "-q", str(bare), "HEAD:refs/heads/main"],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    port = hd.free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--listen=127.0.0.1", f"--port={port}", f"--base-path={base}",
         "--export-all", "--reuseaddr", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"git://127.0.0.1:{port}/{COURSE}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


COOKIES: dict[str, str] = {}  # the test browser's cookies for the hub


def _keep_cookies(reply: HTTPResponse) -> None:
    for header in reply.headers.get_list("Set-Cookie"):
        name, _, rest = header.partition("=")
        COOKIES[name.strip()] = rest.split(";", 1)[0]


async def browser_get(hub: hd.Hub, path: str) -> str:
    """GET a hub page with the browser's cookies; where it redirects to."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in COOKIES.items())}
    req = HTTPRequest(hub.url + path, headers=headers, follow_redirects=False, request_timeout=120)
    reply = await AsyncHTTPClient().fetch(req, raise_error=False)
    _keep_cookies(reply)
    assert reply.code in (301, 302, 303), (reply.code, path, reply.body[:500])
    return str(reply.headers["Location"])


async def browser_login(hub: hd.Hub, name: str, login_url: str) -> str:
    """Log in with the login form, as a learner does; where the hub sends them next."""
    reply = await AsyncHTTPClient().fetch(hub.url + login_url, raise_error=False)
    assert reply.code == 200, reply.code
    _keep_cookies(reply)  # the form's _xsrf cookie
    form = urlencode({"username": name, "password": "any", "_xsrf": COOKIES.get("_xsrf", "")})
    headers = {
        "Cookie": "; ".join(f"{k}={v}" for k, v in COOKIES.items()),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    req = HTTPRequest(hub.url + login_url, method="POST", body=form, headers=headers,
                      follow_redirects=False, request_timeout=120)  # fmt: skip
    reply = await AsyncHTTPClient().fetch(req, raise_error=False)
    _keep_cookies(reply)
    assert reply.code == 302, (reply.code, reply.body[:500])
    return str(reply.headers["Location"])


async def pull_by_link(hub: hd.Hub, learner: Learner, repo: str) -> tuple[list[dict], list[str]]:
    """Follow the link the instructor hands out, as the learner; then run the pulled lesson 00."""
    name = learner.account.name
    lesson = f"{COURSE}/notebooks/00-start-here.ipynb"
    query = urlencode({"repo": repo, "branch": "main", "urlpath": f"lab/tree/{lesson}"})
    link = f"/hub/user-redirect/git-pull?{query}"
    # not logged in yet: the hub asks for a login, and keeps the link to go on with after it
    code, location = await hub.request("GET", link, token="not-a-token")
    assert code == 302 and location.startswith("/hub/login?next="), (code, location)
    location = await browser_login(hub, name, location)
    assert location == link, location
    location = await browser_get(hub, link)
    for _ in range(5):  # the hub's own pages (spawn: already running) pass the learner on
        if not location.startswith("/hub/"):
            break
        location = await browser_get(hub, location)
    assert location.startswith(f"/user/{name}/git-pull?"), location
    # the learner's server (its pages accept the learner's token as well as their cookie)
    token = await hub.user_token(name)
    code, page = await hub.request("GET", location, token=token)
    assert code == 200 and f'data-targetpath="{COURSE}"' in page and f"lab/tree/{lesson}" in page
    # what that page's script then asks the server for: the pull, as a stream of events
    api = urlencode({"repo": repo, "branch": "main", "targetpath": COURSE})
    code, stream = await hub.request("GET", f"/user/{name}/git-pull/api?{api}", timeout=300)
    assert code == 200, (code, stream)
    events = [json.loads(x[6:]) for x in stream.splitlines() if x.startswith("data: {")]
    notebook = await hub.server_api(name, "GET", f"/contents/{lesson}")
    kernel = await hub.kernel(name, path=f"{COURSE}/notebooks")
    outputs = []
    try:
        for number, code_cell in enumerate(hd.code_cells(notebook), 1):
            result = await kernel.run(code_cell)
            assert not result.error, f"pulled lesson 00, code cell {number}: {result}"
            outputs.append(result.stdout + "".join(result.data))
    finally:
        await kernel.close()
    return events, outputs


def test_an_nbgitpuller_link_opens_lesson_00_in_a_learners_server(
    classroom: Classroom, course_repo: str
) -> None:
    learner = classroom.learners[2]
    events, outputs = asyncio.run(pull_by_link(classroom.hub, learner, course_repo))
    assert events and events[-1]["phase"] == "finished", events[-3:]
    # the clone lands in the server's root, the learner's workspace, as the learner's own files
    pulled = learner.account.home / WORKSPACE / COURSE / "notebooks/00-start-here.ipynb"
    assert pulled.is_file() and pulled.stat().st_uid == learner.account.uid
    assert any("the lab engine" in text for text in outputs), outputs
    # the workspace's own copy of the lessons is still there beside it
    assert (learner.account.home / WORKSPACE / "lessons/00-start-here.ipynb").is_file()


def test_idle_servers_are_culled_with_their_engines(classroom: Classroom) -> None:
    hub = classroom.hub
    # the workshop's own culler runs as a hub service, with the configuration's hour
    service = asyncio.run(hub.api("GET", "/services/idle-culler"))
    assert service["pid"] > 0, service
    cmdline = Path(f"/proc/{service['pid']}/cmdline").read_bytes().split(b"\0")
    assert b"jupyterhub_idle_culler" in cmdline and b"--timeout=3600" in cmdline, cmdline
    # The same program with the same scopes (the test's copy of its role) and a few seconds'
    # timeout: every server still running is idle by then, and must stop with its engine.
    users = asyncio.run(hub.api("GET", "/users"))
    running = {u["name"] for u in users if u.get("servers")}
    learners = [x for x in classroom.learners if x.account.name in running]
    assert learners, f"no learner's server is running to cull: {users}"
    log = hub.dir / "culler.log"
    with log.open("wb") as out:
        culler = subprocess.Popen(
            [str(hd.PREFIX / "venv/bin/python"), "-m", "jupyterhub_idle_culler",
             f"--url={hub.url}/hub/api", "--timeout=2", "--cull-every=5"],
            env={**hub.env, "JUPYTERHUB_API_TOKEN": hub.culler_token},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        left = running
        while left and time.monotonic() < deadline and culler.poll() is None:
            time.sleep(1)
            users = asyncio.run(hub.api("GET", "/users"))
            left = {u["name"] for u in users if u.get("servers") or u.get("pending")} & running
    finally:
        culler.terminate()
        culler.wait(timeout=30)
    assert not left, f"not culled: {left}\n--- the culler's log ---\n{log.read_text()[-3000:]}"
    for learner in learners:
        pid = learner.probe["pid"]
        for _ in range(120):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.5)
        assert not Path(f"/proc/{pid}").exists(), f"{learner.account.name}'s engine outlived it"


def test_only_learners_and_instructors_log_in_with_their_passwords() -> None:
    """The configuration's PAM login, on real accounts (the hub tests above use dummy logins)."""
    problem = hd.environment_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI must run the hub test: {problem}")
        pytest.skip(f"the JupyterHub test {problem}")
    accounts = hd.Accounts()
    try:
        groups = {"learners": accounts.group("l"), "instructors": accounts.group("i")}
        learner = accounts.add("p", groups=[groups["learners"]])
        teacher = accounts.add("q", groups=[groups["instructors"]])
        stranger = accounts.add("s")  # an account on the machine, in neither group
        for account in (learner, teacher, stranger):
            line = f"{account.name}:pw-{account.name}\n"
            subprocess.run(["chpasswd"], input=line, text=True, check=True, capture_output=True)
        attempts = [
            (learner.name, f"pw-{learner.name}"),
            (learner.name, "not the password"),
            (stranger.name, f"pw-{stranger.name}"),
            (teacher.name, f"pw-{teacher.name}"),
        ]
        config = str(hd.PREFIX / "lab/docs/hub/jupyterhub_config.py")
        out = subprocess.run(
            [str(hd.PREFIX / "venv/bin/python"), "-c", PAM_CHECK, config,
             json.dumps(groups), json.dumps(attempts)],
            capture_output=True, text=True, timeout=120, check=False,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LABKIT_HUB_PREFIX": str(hd.PREFIX)},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout) == [
            {"name": learner.name, "admin": False},
            None,  # a wrong password
            None,  # the right password, but not a learner or an instructor
            {"name": teacher.name, "admin": True},
        ]
    finally:
        accounts.remove()
