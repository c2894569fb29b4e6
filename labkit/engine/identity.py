"""Who the lab engine says it is: versions and the headers on every response.

Kept in one place so that ``/version``, the ``Server`` header and the version
check agree, and so that a test can compare them with dockerd's.
"""

from __future__ import annotations

import os
import platform
import sys

from labkit import API_VERSION_MAX, API_VERSION_MIN, __version__

PRODUCT = "labkit lab engine"
ENGINE_VERSION = __version__
API_VERSION = API_VERSION_MAX
MIN_API_VERSION = API_VERSION_MIN
# dockerd reports the commit it was built from; the lab engine has none to report.
GIT_COMMIT = "labkit"
# A fixed build time keeps /version deterministic (the lab's tests and notebooks compare outputs).
BUILD_TIME = "2026-01-01T00:00:00.000000000+00:00"
# The engine simulates Linux containers, whatever the host, as Docker Desktop does.
OS_TYPE = "linux"
# "1" advertises the classic builder: the lab engine has no BuildKit to offer.
BUILDER_VERSION = "1"
SERVER_HEADER = f"labkit/{ENGINE_VERSION} ({OS_TYPE})"

# Go's names for machine architectures, which clients expect in /version.
_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def go_arch(machine: str | None = None) -> str:
    """This machine's architecture, spelled the way Go (and so dockerd) spells it."""
    machine = (machine or platform.machine() or "").lower()
    return _GO_ARCH.get(machine, machine or "unknown")


def kernel_version() -> str:
    try:
        return os.uname().release
    except AttributeError:  # not a Unix
        return platform.release()


def runtime_version() -> str:
    """Where dockerd names its Go version, the lab engine names its Python."""
    v = sys.version_info
    return f"python{v.major}.{v.minor}.{v.micro}"


def version_body() -> dict[str, object]:
    """The body of ``GET /version``, shaped like dockerd's."""
    arch = go_arch()
    kernel = kernel_version()
    details = {
        "ApiVersion": API_VERSION,
        "Arch": arch,
        "BuildTime": BUILD_TIME,
        "Experimental": "false",
        "GitCommit": GIT_COMMIT,
        "GoVersion": runtime_version(),
        "KernelVersion": kernel,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": OS_TYPE,
    }
    return {
        "Platform": {"Name": PRODUCT},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": GIT_COMMIT,
        "GoVersion": runtime_version(),
        "Os": OS_TYPE,
        "Arch": arch,
        "KernelVersion": kernel,
        "BuildTime": BUILD_TIME,
    }
