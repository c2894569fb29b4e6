"""Image names: the short form Docker writes and the full form Podman writes are one name."""

from __future__ import annotations

import pytest

from labkit.client.names import familiar, qualified, same_name, split_name

CASES = [
    # written, full form, familiar form
    ("busybox", "docker.io/library/busybox:latest", "busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/myrepo:t1", "docker.io/library/myrepo:t1", "myrepo:t1"),
    ("library/alpine", "docker.io/library/alpine:latest", "alpine"),
    ("index.docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine"),
    ("me/app:1", "docker.io/me/app:1", "me/app:1"),
    ("docker.io/me/app:1", "docker.io/me/app:1", "me/app:1"),
    ("localhost/app:1", "localhost/app:1", "localhost/app:1"),
    ("localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app"),
    ("quay.io/x/y@sha256:ab", "quay.io/x/y@sha256:ab", "quay.io/x/y@sha256:ab"),
    (
        "docker.io/library/busybox@sha256:ab",
        "docker.io/library/busybox@sha256:ab",
        "busybox@sha256:ab",
    ),
]


@pytest.mark.parametrize(("written", "full", "short"), CASES, ids=[c[0] for c in CASES])
def test_full_and_familiar_forms(written: str, full: str, short: str) -> None:
    assert qualified(written) == full
    assert familiar(written) == short
    assert same_name(written, full)
    assert qualified(familiar(written)) == full


def test_a_port_is_not_a_tag() -> None:
    assert split_name("localhost:5000/app") == ("localhost:5000", "app", ":latest")


def test_different_names_differ() -> None:
    assert not same_name("busybox", "busybox:1.36")
    assert not same_name("busybox", "me/busybox")
    assert not same_name("busybox", "quay.io/busybox")
    assert not same_name("busybox", "busybox@sha256:ab")
