"""A real JupyterHub on loopback, driven as a class uses it: for tests/test_hub.py and bench/hub.py.

- :class:`Accounts` makes Linux accounts with ``useradd`` (homes of mode 0700, as
  docs/WORKSHOPS.md says) and removes them, their processes and their homes again.
- :class:`Hub` runs the hub from the environment docs/hub/install.sh builds, with the
  workshop's own configuration (docs/hub/jupyterhub_config.py) plus what a test needs:
  random loopback ports, the dummy authenticator, and a service token with admin rights.
- :class:`Kernel` runs code in a learner's server through its kernel API (REST to start the
  kernel, then the websocket channels), as JupyterLab itself does.

Everything here needs root (accounts, and a hub that switches to each learner).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Path(os.environ.get("LABKIT_HUB_PREFIX", "/opt/labkit-hub"))
# The GECOS field of every account made here: the mark, then the pid of the run that made it
MARK = "labkit hub test account"
NAME_PREFIX = "lkh"

AsyncHTTPClient.configure(None, max_clients=256)


class HubError(RuntimeError):
    """The hub, a spawn or a kernel did not do what was asked; the message says what happened."""


# ------------------------------------------------------------------------------ environment
def environment_problem() -> str:
    """Why the hub cannot run here ('' when it can): root, the /opt environment, a fresh copy."""
    if os.geteuid() != 0:
        return "needs root (it makes Linux accounts and a hub that switches to each learner)"
    for path in (PREFIX / "venv/bin/jupyterhub", PREFIX / "proxy/node_modules/.bin"):
        if not path.exists():
            return f"{path} is missing: build the hub's environment with `bash docs/hub/install.sh`"
    stale = [rel for rel in _lab_files() if not _same(ROOT / rel, PREFIX / "lab" / rel)]
    if stale:
        return (
            f"{PREFIX}/lab is older than this clone ({', '.join(stale[:3])} differ): "
            "run `bash docs/hub/install.sh` again"
        )
    return ""


def _lab_files() -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "labkit", "docs/hub", "notebooks", "exercises"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [line for line in out.stdout.splitlines() if (ROOT / line).exists()]


def _same(a: Path, b: Path) -> bool:
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ accounts
@dataclass
class Account:
    name: str
    uid: int
    gid: int
    home: Path

    @property
    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)

    def run(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command as this account (its uid, gid and groups), with its own HOME."""
        env = {
            "HOME": str(self.home),
            "USER": self.name,
            "PATH": f"{PREFIX / 'venv/bin'}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            **kw.pop("env", {}),
        }
        return subprocess.run(
            argv, user=self.uid, group=self.gid, extra_groups=self.groups, env=env, cwd="/",
            capture_output=True, text=True, timeout=kw.pop("timeout", 120), check=False, **kw,
        )  # fmt: skip


@dataclass
class Accounts:
    """Linux accounts for one run, removed (with their processes and homes) by :meth:`remove`."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    made: list[Account] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def group(self, suffix: str) -> str:
        name = f"{NAME_PREFIX}{self.tag}{suffix}"
        _must(["groupadd", name])
        self.groups.append(name)
        return name

    def add(self, suffix: str, groups: Iterable[str] = (), home_suffix: str = "") -> Account:
        """A learner account; ``home_suffix`` lengthens its home's name (/home/NAME-SUFFIX)."""
        name = f"{NAME_PREFIX}{self.tag}{suffix}"
        argv = ["useradd", "--create-home", "--key", "HOME_MODE=0700", "--shell", "/bin/bash"]
        if home_suffix:
            argv += ["--home-dir", f"/home/{name}-{home_suffix}"]
        argv += ["--comment", f"{MARK} pid {os.getpid()}", "--user-group"]
        if groups:
            argv += ["--groups", ",".join(groups)]
        _must([*argv, name])
        entry = pwd.getpwnam(name)
        account = Account(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
        self.made.append(account)
        return account

    def remove(self) -> None:
        for account in self.made:
            kill_processes_of(account.uid)
            subprocess.run(["userdel", "--remove", account.name], capture_output=True, check=False)
            shutil.rmtree(account.home, ignore_errors=True)
        for group in self.groups:
            subprocess.run(["groupdel", group], capture_output=True, check=False)
        self.made.clear()
        self.groups.clear()

    @staticmethod
    def remove_leftovers() -> list[str]:
        """Accounts an earlier run made and could not remove (it was killed): remove them now.

        Accounts of a run still going (another test worker, a benchmark) are left alone.
        """
        found = [p for p in pwd.getpwall() if _leftover(p.pw_gecos)]
        stale = Accounts(tag="")
        stale.made = [Account(p.pw_name, p.pw_uid, p.pw_gid, Path(p.pw_dir)) for p in found]
        stale.remove()
        return [p.pw_name for p in found]


def _leftover(gecos: str) -> bool:
    """Whether an account's GECOS field marks it as made here by a run that has ended."""
    if not gecos.startswith(MARK):
        return False
    pid = gecos.removeprefix(MARK).strip().removeprefix("pid ").strip()
    return not (pid.isdigit() and Path(f"/proc/{pid}").exists())


def _must(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise HubError(f"{' '.join(argv)} failed: {out.stderr.strip()}")


def processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def kill_processes_of(uid: int) -> None:
    """Stop every process of a test account, by pid (SIGTERM, then SIGKILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_of(uid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while processes_of(uid) and time.monotonic() < deadline:
            time.sleep(0.1)


# ------------------------------------------------------------------------------ the hub
TEST_CONFIG = """\
c = get_config()  # noqa
load_subconfig({config!r})
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.pid_file = {proxy_pid!r}
c.JupyterHub.db_url = "sqlite:///{db}"
c.JupyterHub.cookie_secret_file = {cookie!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set({users!r})
c.JupyterHub.services.append({{"name": "labkit-test", "api_token": {token!r}}})
c.JupyterHub.load_roles.append(
    {{"name": "labkit-test", "services": ["labkit-test"],
      "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "read:services"]}}
)
# A second culler the test runs itself, with exactly the scopes the workshop gives its own
_culler = next(r for r in c.JupyterHub.load_roles if r["name"] == "idle-culler")
c.JupyterHub.services.append({{"name": "labkit-test-culler", "api_token": {culler_token!r}}})
c.JupyterHub.load_roles.append(
    {{"name": "labkit-test-culler", "scopes": _culler["scopes"],
      "services": ["labkit-test-culler"]}}
)
"""


class Hub:
    """A JupyterHub from PREFIX with the workshop's configuration, on random loopback ports."""

    def __init__(self, users: list[str], progress_folder: Path | None, extra: str = "") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lkhub-"))
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.culler_token = secrets.token_hex(24)  # the scopes of the workshop's idle culler
        self.url = f"http://127.0.0.1:{self.port}"
        config = TEST_CONFIG.format(
            config=str(PREFIX / "lab/docs/hub/jupyterhub_config.py"),
            port=self.port,
            hub_port=free_port(),
            api_port=free_port(),
            proxy_pid=str(self.dir / "proxy.pid"),
            db=self.dir / "jupyterhub.sqlite",
            cookie=str(self.dir / "cookie_secret"),
            users=sorted(users),
            token=self.token,
            culler_token=self.culler_token,
        )
        (self.dir / "config.py").write_text(config + extra)
        self.env = {
            "PATH": f"{PREFIX / 'venv/bin'}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LABKIT_HUB_PREFIX": str(PREFIX),
            "LABKIT_HUB_PROGRESS": str(progress_folder or self.dir / "no-progress-folder"),
        }
        self.log = self.dir / "jupyterhub.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(PREFIX / "venv/bin/jupyterhub"), "-f", str(self.dir / "config.py")],
                cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError(f"the hub exited ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if asyncio.run(self.api("GET", "/")).get("version"):
                    return
            time.sleep(0.5)
        raise HubError(f"the hub did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def why(self, user: str) -> str:
        """The hub log's last error about ``user`` (what a failed spawn's first line should say)."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        errors = [x for x in lines if user in x and (x.startswith("[E") or "Error" in x)]
        causes = [x for x in errors if "avoid inconsistent state" not in x] or errors
        return causes[0].strip()[:400] if causes else "the hub's log names no reason"

    def stop(self) -> None:
        """Stop the hub (it stops every learner's server first), then remove its folder."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        with contextlib.suppress(OSError, ValueError):  # the proxy, if the hub could not stop it
            pid = int((self.dir / "proxy.pid").read_text())
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- REST ---------------------------------------------------------------------------------
    async def request(
        self, method: str, path: str, body: Any = None, timeout: float = 60, token: str = ""
    ) -> tuple[int, Any]:
        """One request to the hub or through its proxy, as the test's service (or ``token``)."""
        req = HTTPRequest(
            self.url + path, method=method,
            headers={"Authorization": f"token {token or self.token}"},
            body=None if body is None and method in ("GET", "DELETE") else json.dumps(body or {}),
            request_timeout=timeout, connect_timeout=timeout, follow_redirects=False,
        )  # fmt: skip
        try:
            reply = await AsyncHTTPClient().fetch(req, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise HubError(f"{method} {path}: {exc}") from exc
        if 300 <= reply.code < 400:
            return reply.code, reply.headers.get("Location", "")
        text = reply.body.decode("utf-8", "replace") if reply.body else ""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        return reply.code, data

    async def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        code, data = await self.request(method, "/hub/api" + path, body, timeout)
        if code >= 300:
            raise HubError(f"{method} /hub/api{path}: {code} {data}")
        return data

    async def spawn(self, user: str, timeout: float = 600) -> float:
        """Ask the hub for a learner's server and wait until it is ready; seconds it took."""
        t0 = time.monotonic()
        path = f"/hub/api/users/{user}/server"
        while True:
            try:  # the hub answers once the spawn has started, which takes a while in a crowd
                code, data = await self.request("POST", path, {}, timeout=max(60, timeout / 2))
            except HubError as exc:
                if "Timeout" not in str(exc):
                    raise
                code, data = 202, "timed out; the spawn may have started: polling"
            if code != 429:  # 429: the hub's concurrent_spawn_limit; try again, as its page does
                break
            await asyncio.sleep(1 + secrets.randbelow(3))
        if code not in (201, 202, 400):  # 400: already running or pending
            raise HubError(f"spawning {user}: {code} {data}\n{self.log_tail()}")
        while time.monotonic() - t0 < timeout:
            try:
                model = await self.api("GET", f"/users/{user}", timeout=300)
            except HubError as exc:
                if "Timeout" not in str(exc):
                    raise
                continue
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return time.monotonic() - t0
            if not model.get("pending") and not server:
                raise HubError(f"{user}'s server failed to start: {self.why(user)}")
            await asyncio.sleep(0.5)
        raise HubError(f"{user}'s server was not ready within {timeout:.0f} s")

    async def stop_server(self, user: str, timeout: float = 120) -> None:
        code, data = await self.request("DELETE", f"/hub/api/users/{user}/server")
        if code not in (202, 204):
            raise HubError(f"stopping {user}'s server: {code} {data}")
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            model = await self.api("GET", f"/users/{user}")
            if not model.get("servers") and not model.get("pending"):
                return
            await asyncio.sleep(0.5)
        raise HubError(f"{user}'s server did not stop within {timeout:.0f} s")

    async def server_api(self, user: str, method: str, path: str, body: Any = None) -> Any:
        code, data = await self.request(method, f"/user/{user}/api{path}", body)
        if code >= 300:  # a redirect here means the server is not running: the hub took over
            raise HubError(f"{method} /user/{user}/api{path}: {code} {data}")
        return data

    async def user_token(self, user: str) -> str:
        """A short-lived API token of the learner's own, as their browser's login would give."""
        body = {"expires_in": 900, "note": "labkit hub test"}
        return str((await self.api("POST", f"/users/{user}/tokens", body))["token"])

    async def kernel(self, user: str, path: str = "") -> Kernel:
        """A new kernel in the learner's server, started in ``path`` (as JupyterLab does)."""
        body = {"name": "python3", **({"path": path} if path else {})}
        model = await self.server_api(user, "POST", "/kernels", body)
        kernel = Kernel(self, user, model["id"])
        await kernel.connect()
        return kernel


# ------------------------------------------------------------------------------ kernels
@dataclass
class Result:
    """What one cell did: its text output, its error (if any), and its round trip in seconds."""

    stdout: str = ""
    stderr: str = ""
    data: list[str] = field(default_factory=list)  # text/plain of results and displays
    error: str = ""
    seconds: float = 0.0


class Kernel:
    """A kernel in a learner's server, reached through the hub's proxy like JupyterLab does."""

    def __init__(self, hub: Hub, user: str, kernel_id: str) -> None:
        self.hub, self.user, self.id = hub, user, kernel_id
        self.session = uuid.uuid4().hex
        self.ws: Any = None

    async def connect(self) -> None:
        url = self.hub.url.replace("http", "ws", 1)
        url += f"/user/{self.user}/api/kernels/{self.id}/channels?session_id={self.session}"
        req = HTTPRequest(  # a busy server may take minutes to accept it, as at a class's start
            url,
            headers={"Authorization": f"token {self.hub.token}"},
            connect_timeout=600,
            request_timeout=600,
        )
        self.ws = await websocket_connect(req, max_message_size=64 << 20)

    async def run(self, code: str, timeout: float = 300) -> Result:
        """Execute ``code`` and wait for its reply and the kernel going idle."""
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id, "msg_type": "execute_request", "username": self.user,
            "session": self.session, "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }  # fmt: skip
        content = {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True,
        }  # fmt: skip
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
        result, replied, idle = Result(), False, False
        t0 = time.perf_counter()
        await self.ws.write_message(json.dumps({**message, "channel": "shell", "buffers": []}))
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            left = deadline - time.monotonic()
            if left <= 0:
                raise HubError(f"{self.user}'s kernel did not finish a cell within {timeout:.0f} s")
            raw = await asyncio.wait_for(self.ws.read_message(), left)
            if raw is None:
                raise HubError(f"{self.user}'s kernel websocket closed")
            if isinstance(raw, bytes):
                continue  # binary frames carry buffers we do not use
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = msg["msg_type"], msg["content"]
            if kind == "stream":
                setattr(result, body["name"], getattr(result, body["name"]) + body["text"])
            elif kind in ("execute_result", "display_data"):
                result.data.append(body.get("data", {}).get("text/plain", ""))
            elif kind == "error":
                result.error = f"{body['ename']}: {body['evalue']}"
            elif kind == "execute_reply":
                replied = True
                if body.get("status") == "error" and not result.error:
                    result.error = f"{body.get('ename')}: {body.get('evalue')}"
            elif kind == "status" and body.get("execution_state") == "idle":
                idle = True
        result.seconds = time.perf_counter() - t0
        return result

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        with contextlib.suppress(HubError):
            await self.hub.server_api(self.user, "DELETE", f"/kernels/{self.id}")


def code_cells(notebook: dict[str, Any]) -> list[str]:
    """The code of a notebook's cells, in order (from the contents API's model)."""
    cells = notebook["content"]["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]  # fmt: skip
