"""Reading a Dockerfile as dockerd's classic builder does: lines, words, variables, changes.

No I/O here: :mod:`build` runs the instructions; ``docker commit --change`` uses
:func:`apply_changes` for the ones that only change the image's configuration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from labkit.engine.model.errors import BadRequest

INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip
# What ``docker commit --change`` may use (dockerd's list).
COMMIT_CHANGES = frozenset(
    {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME",
     "WORKDIR"}
)  # fmt: skip


@dataclass
class Instruction:
    line: int
    name: str  # upper case
    rest: str  # what follows the instruction word
    original: str  # the line as ``Step n/m :`` shows it

    @property
    def json_args(self) -> list[str] | None:
        """The exec form's list (``["a", "b"]``), or None for the shell form."""
        text = self.rest.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; dockerd's parse errors (a 400 before any step)."""
    out: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):  # a continuation: the lines join as written
            body = line.rstrip()[:-1]
            pending += body if pending else body.lstrip()
            continue
        whole = (pending + line).strip() if pending else line.strip()
        pending = ""
        if not whole:
            continue
        word, _, rest = whole.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        name = word.upper()
        if name not in INSTRUCTIONS:
            raise BadRequest(f"dockerfile parse error line {start}: unknown instruction: {name}")
        out.append(Instruction(start, name, rest.strip(), whole))
    if pending:
        word, _, rest = pending.strip().partition(" ")
        if word.upper() not in INSTRUCTIONS:
            raise BadRequest(
                f"dockerfile parse error line {start}: unknown instruction: {word.upper()}"
            )
        out.append(Instruction(start, word.upper(), rest.strip(), pending.strip()))
    if not out:
        raise BadRequest("the Dockerfile (Dockerfile) cannot be empty")
    first = next((i for i in out if i.name != "ARG"), None)
    if first is None or first.name != "FROM":
        raise BadRequest("no build stage in current context")
    return out


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(word: str, env: dict[str, str]) -> str:
    """``$X``, ``${X}``, ``${X:-default}``, ``${X:+alt}``; ``\\$`` stays a dollar."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        value = env.get(name, "")
        if m.group(2) == ":-":
            return value or expand(m.group(3), env)
        if m.group(2) == ":+":
            return expand(m.group(3), env) if value else ""
        return value

    parts = word.split("\\$")
    return "$".join(_VAR.sub(one, part) for part in parts)


def words(text: str) -> list[str]:
    """Words split on blanks, quotes removed (ENV, LABEL, ARG, COPY's arguments)."""
    out: list[str] = []
    cur = ""
    quote = ""
    had = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(text):
                i += 1
                cur += text[i]
            else:
                cur += ch
        elif ch in "\"'":
            quote, had = ch, True
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            cur += text[i]
        elif ch.isspace():
            if cur or had:
                out.append(cur)
            cur, had = "", False
        else:
            cur += ch
        i += 1
    if quote:
        raise BadRequest(f"unmatched quote {quote} in: {text}")
    if cur or had:
        out.append(cur)
    return out


def key_values(inst: Instruction, env: dict[str, str]) -> list[tuple[str, str]]:
    """ENV and LABEL: ``k=v k2="v 2"``, or the old ``ENV key the value``."""
    parts = words(inst.rest)
    if not parts:
        raise BadRequest(f"{inst.name} requires at least one argument")
    if "=" not in parts[0]:
        if inst.name == "LABEL" or len(parts) < 2:
            raise BadRequest(f"{inst.name} names must be followed by =value: {inst.rest}")
        value = inst.rest.strip().partition(" ")[2].strip()
        return [(parts[0], expand(value, env))]
    out = []
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq:
            raise BadRequest(f"{inst.name} names can not be blank or miss =: {part}")
        out.append((expand(key, env), expand(value, env)))
    return out


def go_quote_list(items: list[str]) -> str:
    """Go's ``%q`` of a string slice: ``["a" "b"]`` (how history shows CMD and ENTRYPOINT)."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def command(inst: Instruction) -> list[str]:
    """CMD, ENTRYPOINT and RUN: the exec form as given, the shell form through /bin/sh -c."""
    args = inst.json_args
    if args is not None:
        return args
    return ["/bin/sh", "-c", inst.rest]


def apply_config(cfg: dict, inst: Instruction, env: dict[str, str]) -> str:
    """Apply an instruction that changes only the configuration; the history's text."""
    name = inst.name
    if name == "ENV":
        pairs = key_values(inst, env)
        current = list(cfg.get("Env") or [])
        for key, value in pairs:
            current = [e for e in current if e.partition("=")[0] != key] + [f"{key}={value}"]
            env[key] = value
        cfg["Env"] = current
        return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if name == "LABEL":
        pairs = key_values(inst, env)
        labels = dict(cfg.get("Labels") or {})
        labels.update(pairs)
        cfg["Labels"] = labels
        return "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    if name in ("CMD", "ENTRYPOINT"):
        value = command(inst)
        key = "Cmd" if name == "CMD" else "Entrypoint"
        cfg[key] = value
        if name == "ENTRYPOINT" and not cfg.get("_cmd_set"):
            cfg["Cmd"] = None
        if name == "CMD":
            cfg["_cmd_set"] = True
        return f"{name} {go_quote_list(value)}"
    if name == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        given = words(expand(inst.rest, env))
        for port in given:
            ports[port if "/" in port else f"{port}/tcp"] = {}
        cfg["ExposedPorts"] = ports
        return "EXPOSE " + " ".join(sorted(given))
    if name == "USER":
        cfg["User"] = expand(inst.rest.strip(), env)
        return f"USER {cfg['User']}"
    if name == "VOLUME":
        args = inst.json_args or words(inst.rest)
        volumes = dict(cfg.get("Volumes") or {})
        for path in args:
            volumes[expand(path, env)] = {}
        cfg["Volumes"] = volumes
        return f"VOLUME [{' '.join(expand(p, env) for p in args)}]"
    if name == "WORKDIR":
        target = expand(inst.rest.strip(), env)
        if not target.startswith("/"):
            base = cfg.get("WorkingDir") or "/"
            target = base.rstrip("/") + "/" + target
        cfg["WorkingDir"] = target
        return f"WORKDIR {target}"
    if name == "STOPSIGNAL":
        cfg["StopSignal"] = expand(inst.rest.strip(), env)
        return f"STOPSIGNAL {cfg['StopSignal']}"
    if name == "ONBUILD":
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), inst.rest.strip()]
        return f"ONBUILD {inst.rest.strip()}"
    if name == "MAINTAINER":
        return f"MAINTAINER {inst.rest.strip()}"
    if name == "SHELL":
        cfg["Shell"] = inst.json_args or ["/bin/sh", "-c"]
        return f"SHELL {go_quote_list(cfg['Shell'])}"
    if name == "HEALTHCHECK":
        return f"HEALTHCHECK {inst.rest.strip()}"
    raise BadRequest(f"{name} cannot be applied to an image's configuration")


def apply_changes(cfg: dict, changes: list[str]) -> None:
    """``docker commit --change`` / ``import --change``: dockerd's refusals included."""
    env = {e.partition("=")[0]: e.partition("=")[2] for e in cfg.get("Env") or []}
    for change in changes:
        if not change.strip():
            continue
        word, _, rest = change.strip().partition(" ")
        name = word.upper()
        if name not in INSTRUCTIONS:
            raise BadRequest(f"dockerfile parse error line 1: unknown instruction: {name}")
        if name not in COMMIT_CHANGES:
            raise BadRequest(f"{name.lower()} is not a valid change command")
        apply_config(cfg, Instruction(1, name, rest.strip(), change), env)
    cfg.pop("_cmd_set", None)
