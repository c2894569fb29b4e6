"""Image names as engines write them, and as people (and the docker CLI) write them.

The same image has a short name and a full one: ``busybox`` is
``docker.io/library/busybox:latest``. Docker Engine answers with the short,
"familiar" form (``busybox:latest``) in ``RepoTags`` and ``Config.Image``;
Podman answers with the full form. Code that compares names from any engine
compares them through :func:`familiar` or :func:`same_name`, the rules of
docker/distribution's ``reference`` package: a first part with a ``.`` or a
``:`` in it, or ``localhost``, is a registry; without one the registry is
``docker.io``; a one-part repository on docker.io lives under ``library/``;
a name without a tag or digest means ``:latest``.
"""

from __future__ import annotations

DEFAULT_REGISTRY = "docker.io"
OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_LEGACY_REGISTRIES = ("index.docker.io", "registry-1.docker.io")


def _is_registry(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def split_name(name: str) -> tuple[str, str, str]:
    """``(registry, repository path, ":tag" or "@digest")``, filled in with Docker's defaults."""
    rest, at, digest = name.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and _is_registry(first):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
    if registry in _LEGACY_REGISTRIES:
        registry = DEFAULT_REGISTRY
    repo, colon, tag = path.rpartition(":")
    if not colon:
        repo, tag = path, ""
    if registry == DEFAULT_REGISTRY and "/" not in repo:
        repo = f"{OFFICIAL_NAMESPACE}/{repo}"
    if at:
        return registry, repo, f"@{digest}"
    return registry, repo, f":{tag or DEFAULT_TAG}"


def qualified(name: str) -> str:
    """The full form: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    registry, repo, tail = split_name(name)
    return f"{registry}/{repo}{tail}"


def familiar(name: str) -> str:
    """The short form ``docker images`` shows: ``docker.io/library/busybox`` -> ``busybox``.

    Only the registry and ``library/`` go; a tag is neither added nor removed,
    so a name an engine already wrote in short form comes back unchanged.
    """
    first, slash, remainder = name.partition("/")
    if slash and _is_registry(first):
        if first not in (DEFAULT_REGISTRY, *_LEGACY_REGISTRIES):
            return name
        name = remainder
    prefix = f"{OFFICIAL_NAMESPACE}/"
    if name.startswith(prefix) and "/" not in name.partition("@")[0][len(prefix) :]:
        name = name[len(prefix) :]
    return name


def same_name(a: str, b: str) -> bool:
    """Do two names mean the same image name (``busybox``, ``docker.io/library/busybox:latest``)?"""
    return qualified(a) == qualified(b)
