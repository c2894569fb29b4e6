"""``labkit doctor``: is this machine ready for the lab, and if not, why not?

One line per finding, marked ok, warn or fail, in words a learner can act on:
Python, the packages the lessons use, the engine (found, or every place tried
and why each failed), the socket's owner and mode and what they grant, the
docker CLI, and ``LABKIT_ENGINE``. Notebooks call :func:`diagnose` too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import labkit
from labkit.transport.connect import group_name, user_name
from labkit.transport.discovery import Attempt, EngineNotFound, Found, find_engine

OK, WARN, FAIL = "ok", "warn", "fail"
PYTHON_MIN = (3, 10)
ENGINE_CHOICES = ("auto", "lab", "docker")

# (distribution, what it is for, whether labkit cannot work without it)
PACKAGES: tuple[tuple[str, str, bool], ...] = (
    ("h11", "HTTP parsing for labkit's client", True),
    ("httptools", "the lab engine's HTTP parser", True),
    ("uvloop", "a faster event loop for the lab engine", False),
    ("jupyterlab", "the lab's notebooks", False),
    ("ipywidgets", "the lab's interactive widgets", False),
    ("requests", "HTTP calls in lesson 03", False),
    ("requests-unixsocket", "requests over a Unix socket in lesson 03", False),
    ("docker", "the docker SDK for Python, lessons 04 and 05", False),
)

_UNIXSOCKET_TOO_OLD = (
    "requests-unixsocket {version} is too old: versions before 0.4 break with requests 2.32 and "
    "newer (they relied on a private requests hook that was removed). Upgrade: "
    "python -m pip install -U 'requests-unixsocket>=0.4'"
)


@dataclass(frozen=True)
class Finding:
    """One line of the report; ``detail`` is the longer explanation printed under it."""

    mark: str
    topic: str
    text: str
    detail: str = ""


@dataclass
class Report:
    """Everything doctor found; ``text()`` for people, ``to_dict()`` for machines."""

    findings: list[Finding] = field(default_factory=list)
    found: Found | None = None
    attempts: list[Attempt] = field(default_factory=list)

    choice: str = "auto"  # LABKIT_ENGINE: auto, lab or docker

    @property
    def ok(self) -> bool:
        """Can the lab run? A real engine answered, or the lab engine will stand in."""
        return self.found is not None or self.choice in ("auto", "lab")

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def text(self) -> str:
        lines = ["labkit doctor: is this machine ready for the Docker IPC Lab?", ""]
        for finding in self.findings:
            lines.append(f"{finding.mark:<5} {finding.text}")
            lines.extend(f"      {line}" if line else "" for line in finding.detail.splitlines())
        lines.append("")
        if self.found is not None:
            lines.append("Result: an engine answered; the lab is ready.")
        elif self.ok:
            lines.append(
                "Result: no real engine answered, so the lab uses its own lab engine; "
                "the lab is ready."
            )
        else:
            lines.append(
                "Result: no engine answered (see above). The lab still works with its own "
                "engine: LABKIT_ENGINE=lab."
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        engine = None
        if self.found is not None:
            info = self.found.engine
            engine = {
                "url": info.endpoint.url,
                "source": info.endpoint.source,
                "product": info.product,
                "version": info.version,
                "api_version": info.api_version,
                "min_api_version": info.min_api_version,
                "negotiated_api_version": self.found.api_version,
                "os": info.os,
                "arch": info.arch,
            }
        return {
            "ok": self.ok,
            "engine": engine,
            "attempts": [
                {
                    "url": a.endpoint.url,
                    "source": a.endpoint.source,
                    "ok": a.ok,
                    "kind": a.kind,
                    "reason": a.reason,
                }
                for a in self.attempts
            ],
            "findings": [asdict(f) for f in self.findings],
        }


# Python and packages


def python_finding(version: Sequence[int] | None = None) -> Finding:
    """Is this Python new enough for labkit?"""
    version = tuple(sys.version_info[:3] if version is None else version)
    shown = ".".join(str(part) for part in version)
    needed = ".".join(str(part) for part in PYTHON_MIN)
    if version[:2] >= PYTHON_MIN:
        return Finding(OK, "python", f"Python {shown} ({needed} or newer is needed)")
    return Finding(
        FAIL,
        "python",
        f"Python {shown} is too old: labkit needs {needed} or newer",
        "Install a newer Python (python.org, your package manager, or pyenv) and reinstall the "
        "lab in a new virtual environment.",
    )


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _numeric(version: str) -> tuple[int, ...]:
    """``"0.4.1"`` -> ``(0, 4, 1)``; stops at the first part that is not a number."""
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def package_findings(
    version_of: Callable[[str], str | None] = _installed_version,
) -> list[Finding]:
    """One finding per package the lab uses: its version, or that it is missing."""
    findings = []
    for name, purpose, required in PACKAGES:
        version = version_of(name)
        if version is None:
            mark = FAIL if required else WARN
            findings.append(
                Finding(
                    mark,
                    "package",
                    f"{name} is not installed ({purpose})",
                    f"Install the lab's packages: python -m pip install -r requirements.txt "
                    f"(or just: python -m pip install {name})",
                )
            )
        elif name == "requests-unixsocket" and _numeric(version) < (0, 4):
            findings.append(
                Finding(
                    WARN,
                    "package",
                    f"{name} {version}",
                    _UNIXSOCKET_TOO_OLD.format(version=version),
                )
            )
        else:
            findings.append(Finding(OK, "package", f"{name} {version}"))
    return findings


# LABKIT_ENGINE


def engine_choice_finding(env: Mapping[str, str]) -> Finding:
    """What ``LABKIT_ENGINE`` asks for, and whether labkit understands it."""
    value = env.get("LABKIT_ENGINE", "")
    if not value:
        return Finding(
            OK,
            "LABKIT_ENGINE",
            "LABKIT_ENGINE is not set (auto): labkit uses a real engine when one answers, "
            "else its own lab engine",
        )
    if value.lower() in ENGINE_CHOICES:
        meaning = {
            "auto": "a real engine when one answers, else the lab engine",
            "lab": "labkit's own lab engine, whatever else is installed",
            "docker": "a real engine only (the lessons fail if none answers)",
        }[value.lower()]
        return Finding(OK, "LABKIT_ENGINE", f"LABKIT_ENGINE={value}: {meaning}")
    return Finding(
        WARN,
        "LABKIT_ENGINE",
        f"LABKIT_ENGINE={value!r} is not one of auto, lab, docker",
        "Set it to auto (the default), lab or docker, or unset it.",
    )


# The engine


def engine_findings(report: Report) -> list[Finding]:
    """The engine that answered, or every place tried and why each failed."""
    if report.found is None:
        explanation = str(EngineNotFound(report.attempts))
        if report.choice == "docker":
            return [Finding(FAIL, "engine", "no Docker engine answered", explanation)]
        return [
            Finding(
                WARN,
                "engine",
                "no real Docker engine answered, so the lab will use its own lab engine",
                explanation,
            )
        ]
    found = report.found
    info = found.engine
    where = info.endpoint.describe()
    lowest = f"{info.min_api_version} to " if info.min_api_version else "up to "
    return [
        Finding(OK, "engine", f"engine: {info.product} {info.version} answered at {where}"),
        Finding(
            OK,
            "api",
            f"API versions: the engine speaks {lowest}{info.api_version}, labkit "
            f"{labkit.API_VERSION_MIN} to {labkit.API_VERSION_MAX}; they will use "
            f"{found.api_version}",
        ),
    ]


def socket_finding(path: str) -> Finding | None:
    """The socket's type, owner, group and mode, and what that lets others do."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    owner = f"{user_name(st.st_uid)}:{group_name(st.st_gid)}"
    details = f"{path} ({stat.filemode(st.st_mode)} {owner})"
    if not stat.S_ISSOCK(st.st_mode):
        return Finding(WARN, "socket", f"{details} is not a socket")
    shown = f"socket {details}"
    group = group_name(st.st_gid)
    if st.st_mode & 0o006:
        return Finding(
            WARN,
            "socket",
            f"{shown}: every user on this machine may use it",
            "Whoever can use the engine's socket can run a container that mounts the host's "
            "files, so every user here is effectively root. Make it private: chmod 660 (or 600).",
        )
    if st.st_mode & 0o060:
        return Finding(
            WARN,
            "socket",
            f"{shown}: members of group '{group}' may use it",
            f"Using the engine's socket is the same as being root on this machine, so every "
            f"member of '{group}' is effectively root. Add only people you would trust with root.",
        )
    return Finding(OK, "socket", f"{shown}: only its owner may use it")


def socket_findings(report: Report) -> list[Finding]:
    """Socket details for the engine found, or for each socket that exists but failed."""
    if report.found is not None:
        endpoints = [report.found.endpoint]
    else:
        endpoints = [a.endpoint for a in report.attempts if a.kind != "missing"]
    findings = []
    for endpoint in endpoints:
        if endpoint.scheme == "unix" and endpoint.path:
            finding = socket_finding(endpoint.path)
            if finding is not None:
                findings.append(finding)
        elif endpoint.scheme == "tcp" and report.found is not None:
            findings.append(tcp_finding(report.found))
    return findings


def _choice(env: Mapping[str, str]) -> str:
    value = (env.get("LABKIT_ENGINE") or "auto").strip().lower()
    return value if value in ("auto", "lab", "docker") else "auto"


def lab_engine_findings(
    env: Mapping[str, str], choice: str, found: Found | None = None
) -> list[Finding]:
    """Whether labkit's own engine is running in this lab home, and its socket's mode."""
    if choice == "docker":
        return []
    from labkit.engine import control  # the lab engine is the layer below this tool

    try:
        state = control.status(dict(env))
    except (OSError, ValueError, control.EngineError) as exc:
        return [Finding(WARN, "lab engine", f"the lab engine cannot run here: {exc}")]
    if not state.running:
        where = f"unix://{state.socket}"
        return [
            Finding(
                OK,
                "lab engine",
                f"lab engine: not running; it starts on demand at {where} "
                "(or now: labkit engine start)",
            )
        ]
    findings = [
        Finding(
            OK if state.answering else WARN,
            "lab engine",
            f"lab engine: running (pid {state.pid}) at unix://{state.socket}"
            + ("" if state.answering else ", but it does not answer /_ping: labkit engine logs"),
        )
    ]
    already_shown = found is not None and found.endpoint.path == str(state.socket)
    sock = None if already_shown else socket_finding(str(state.socket))
    if sock is not None:
        findings.append(sock)
    return findings


def tcp_finding(found: Found) -> Finding:
    """How a TCP engine is protected: TLS with checks, TLS without, or nothing."""
    endpoint = found.endpoint
    where = f"{endpoint.host}:{endpoint.port}"
    if endpoint.tls is None:
        return Finding(
            WARN,
            "tcp",
            f"the engine listens on TCP ({where}) without TLS",
            "Anyone who can reach that port controls the engine, and through it this machine "
            "(lesson 06 shows how). Keep it on 127.0.0.1, or use TLS with client certificates.",
        )
    if not endpoint.tls.verify:
        return Finding(
            WARN,
            "tcp",
            f"TLS to {where} is not verified (DOCKER_TLS without DOCKER_TLS_VERIFY)",
            "The connection is encrypted, but labkit does not check who answers; set "
            "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH.",
        )
    return Finding(OK, "tcp", f"TLS to {where}, with the server's certificate checked")


# The docker CLI


def docker_cli_finding(
    env: Mapping[str, str], found: Found | None, timeout: float = 5.0
) -> Finding:
    """Is the docker CLI on PATH, and which version is it?"""
    program = shutil.which("docker", path=env.get("PATH", os.defpath))
    if program is None:
        return Finding(
            WARN,
            "docker-cli",
            "the docker CLI is not on PATH",
            "Lessons 05 and 06 watch the real `docker` command; the rest of the lab works "
            "without it. Install the Docker CLI (docs.docker.com/get-docker) to follow them.",
        )
    version = _cli_version(program, env, found, timeout)
    if version is None:
        return Finding(
            WARN, "docker-cli", f"docker CLI at {program}, but it did not say its version"
        )
    return Finding(OK, "docker-cli", f"docker CLI {version} at {program}")


def _cli_version(
    program: str, env: Mapping[str, str], found: Found | None, timeout: float
) -> str | None:
    """The CLI's own version, without making it talk to an engine labkit did not choose."""
    child_env = dict(env)
    if found is not None and found.endpoint.scheme in ("unix", "tcp"):
        # `docker version` also asks the engine; point it at the one labkit found.
        child_env["DOCKER_HOST"] = found.endpoint.url
        output = _run([program, "version", "--format", "{{.Client.Version}}"], child_env, timeout)
        first = output.strip().splitlines()[0].strip() if output.strip() else ""
        if re.match(r"^\d+\.\d+", first):
            return first
    output = _run([program, "--version"], child_env, timeout)
    match = re.search(r"version\s+([^\s,]+)", output)
    return match.group(1) if match else None


def _run(command: list[str], env: Mapping[str, str], timeout: float) -> str:
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


# Putting it together


def diagnose(
    env: Mapping[str, str] | None = None,
    home: Path | str | None = None,
    *,
    usual: Sequence[tuple[str, str]] | None = None,
    timeout: float = 2.0,
) -> Report:
    """Check everything; ``env``/``home``/``usual`` let tests and notebooks point elsewhere."""
    env = os.environ if env is None else env
    report = Report(choice=_choice(env))
    try:
        report.found = find_engine(env, home, timeout=timeout, usual=usual)
        report.attempts = report.found.attempts
    except EngineNotFound as exc:
        report.attempts = exc.attempts
    report.findings = [
        python_finding(),
        *package_findings(),
        engine_choice_finding(env),
        *engine_findings(report),
        *socket_findings(report),
        *lab_engine_findings(env, report.choice, report.found),
        docker_cli_finding(env, report.found),
    ]
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        help="seconds to wait for each engine to answer (default 2)",
    )


def run(args: argparse.Namespace) -> int:
    report = diagnose(timeout=args.timeout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text())
    return report.exit_code
