"""The docker CLI's settings on disk: config.json, contexts and TLS files.

A docker context is a named engine address saved by ``docker context create``.
The CLI keeps it in ``~/.docker/contexts/meta/<sha256 of the name>/meta.json``
(hashing the name makes any name a safe folder name) and its TLS files in
``~/.docker/contexts/tls/<same hash>/docker/``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from labkit.transport.hosts import Endpoint, HostError, TLSConfig, parse_host

DEFAULT_CONTEXT = "default"


def config_dir(env: Mapping[str, str], home: Path) -> Path:
    """Where the docker CLI keeps its settings: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]).expanduser()
    return home / ".docker"


def current_context(env: Mapping[str, str], home: Path) -> tuple[str, str] | None:
    """The chosen context's name and who chose it, or None for the default.

    ``DOCKER_CONTEXT`` wins over ``currentContext`` in config.json (set by
    ``docker context use``), as in the CLI.
    """
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"], "chosen by DOCKER_CONTEXT"
    config = config_dir(env, home) / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the CLI also carries on without a readable config.json
    name = data.get("currentContext") if isinstance(data, dict) else None
    if isinstance(name, str) and name:
        return name, f"the current context in {config}"
    return None


def context_hash(name: str) -> str:
    """The folder name the CLI uses for a context: sha256 of its name, in hex."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def context_endpoint(name: str, env: Mapping[str, str], home: Path, chosen_by: str) -> Endpoint:
    """The engine address saved in context ``name``, or a broken endpoint saying why not."""
    source = f"docker context {name!r}, {chosen_by}"
    root = config_dir(env, home) / "contexts"
    digest = context_hash(name)
    meta_file = root / "meta" / digest / "meta.json"
    label = f"docker context {name!r}"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Endpoint.broken(
            label,
            source,
            f"there is no context named {name!r} (no {meta_file}); "
            "list contexts with `docker context ls`, or go back with `docker context use default`",
        )
    except (OSError, ValueError) as exc:
        return Endpoint.broken(label, source, f"cannot read {meta_file}: {exc}")
    docker = (meta.get("Endpoints") or {}).get("docker") if isinstance(meta, dict) else None
    if not isinstance(docker, dict) or not docker.get("Host"):
        return Endpoint.broken(
            label, source, f"{meta_file} has no Endpoints.docker.Host: the context names no engine"
        )
    tls = _context_tls(root / "tls" / digest / "docker", bool(docker.get("SkipTLSVerify")))
    try:
        return parse_host(str(docker["Host"]), source, tls=tls)
    except HostError as exc:
        return Endpoint.broken(label, source, str(exc))


def _context_tls(folder: Path, skip_verify: bool) -> TLSConfig | None:
    """TLS settings from a context's files: none unless it has TLS files or skips checks."""
    files = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key")}
    present = {name: path for name, path in files.items() if path.is_file()}
    if not present and not skip_verify:
        return None
    has_pair = "cert" in present and "key" in present
    return TLSConfig(
        ca=present.get("ca"),
        cert=present["cert"] if has_pair else None,
        key=present["key"] if has_pair else None,
        verify=not skip_verify,
    )


def tls_from_env(env: Mapping[str, str], home: Path) -> TLSConfig | None:
    """TLS settings from ``DOCKER_TLS_VERIFY``/``DOCKER_TLS`` and ``DOCKER_CERT_PATH``.

    As in the CLI, any non-empty ``DOCKER_TLS_VERIFY`` turns TLS on with
    checks, ``DOCKER_TLS`` alone turns it on without them, and the files are
    ``ca.pem``, ``cert.pem`` and ``key.pem`` in ``DOCKER_CERT_PATH`` (default
    ``~/.docker``). A missing CA file is kept so that the error names it; a
    missing client certificate is dropped, as the CLI does.
    """
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    if not verify and not env.get("DOCKER_TLS"):
        return None
    folder = Path(env["DOCKER_CERT_PATH"]).expanduser() if env.get("DOCKER_CERT_PATH") else None
    folder = folder or config_dir(env, home)
    cert, key = folder / "cert.pem", folder / "key.pem"
    has_pair = cert.is_file() and key.is_file()
    ca = folder / "ca.pem"
    return TLSConfig(
        ca=ca if (verify or ca.is_file()) else None,
        cert=cert if has_pair else None,
        key=key if has_pair else None,
        verify=verify,
    )
