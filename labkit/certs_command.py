"""``labkit certs``: a CA, a server certificate and a client certificate, for TLS (lesson 06).

    labkit certs                      # in $LABKIT_HOME/certs, unless they are there already
    labkit engine start --tcp 127.0.0.1:2376 --tlsverify
    export DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=…/certs

The files are named as dockerd and the docker CLI expect them (``ca.pem``,
``server-cert.pem``/``server-key.pem``, ``cert.pem``/``key.pem``), so the folder can be
``DOCKER_CERT_PATH`` as it is. They are made by :mod:`labkit.transport.tlscerts`; the folder
is 0700 and every file 0600: whoever can read ``key.pem`` can use the engine.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
import time
from pathlib import Path

from labkit import paths
from labkit.transport import tlscerts
from labkit.transport.tlscerts import Bundle, TLSSetupError

FILES = {
    "ca.pem": "the CA: the engine admits clients it signed, clients trust the engine it signed",
    "server-cert.pem": "the engine's certificate",
    "server-key.pem": "the engine's private key",
    "cert.pem": "the client's certificate",
    "key.pem": "the client's private key: whoever can read it can use the engine",
}


_DNS_NAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


class CertsError(RuntimeError):
    """The certificates cannot be made where asked; the message says why and what to do."""


def check_name(name: str) -> str:
    """A host name or an IP address a certificate may name; CertsError for anything else."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not _DNS_NAME.match(name):
        raise CertsError(
            f"--name {name!r} is neither an IP address nor a host name (letters, digits, "
            "'-' and '.', as in engine.example.org)"
        )
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        metavar="FOLDER",
        type=Path,
        help="where to put them (default: the lab home's certs folder, $LABKIT_HOME/certs)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        action="append",
        default=[],
        help="another name or IP address the engine's certificate is valid for (repeat it); "
        "localhost, 127.0.0.1 and ::1 are always there",
    )
    parser.add_argument(
        "--days", type=int, default=tlscerts.DEFAULT_DAYS, help="how long they stay valid"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="make new ones even if the folder has some (the old folder is kept, renamed)",
    )


def existing(folder: Path) -> list[str]:
    return [name for name in FILES if os.path.lexists(folder / name)]


def bundle_in(folder: Path) -> Bundle:
    return Bundle(
        folder,
        folder / "ca.pem",
        folder / "server-cert.pem",
        folder / "server-key.pem",
        folder / "cert.pem",
        folder / "key.pem",
    )


def make_certs(
    folder: Path | None = None,
    names: tuple[str, ...] = (),
    days: int = tlscerts.DEFAULT_DAYS,
    force: bool = False,
) -> tuple[Bundle, bool, Path | None]:
    """The bundle in ``folder``: (bundle, made now?, where an old folder was moved, if it was).

    Complete certificates already there are kept unless ``force``; an incomplete set is
    refused (it could belong to a running engine) unless ``force``, which renames it."""
    if folder is None:
        paths.lab_home()  # made private (0700) before anything goes in it
        folder = paths.certs_dir()
    folder = Path(folder)
    paths.make_private_dirs(folder.parent)  # what is missing above it, 0700 too
    names = tuple(check_name(n) for n in names)
    if days < 1:
        raise CertsError("--days must be 1 or more")
    found = existing(folder)
    moved: Path | None = None
    if found and not force:
        if len(found) == len(FILES):
            return bundle_in(folder), False, None
        missing = [name for name in FILES if name not in found]
        raise CertsError(
            f"{folder} holds {', '.join(found)} but not {', '.join(missing)}: an incomplete set "
            "is left alone; make a new one with --force (the old folder is kept, renamed)"
        )
    if found:
        moved = folder.with_name(f"{folder.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        os.rename(folder, moved)
    all_names = tuple(dict.fromkeys((*tlscerts.LOOPBACK_NAMES, *names)))
    try:
        return tlscerts.write_bundle(folder, all_names, days), True, moved
    except OSError as exc:
        raise CertsError(
            f"cannot write the certificates in {folder}: {exc.strerror or exc}"
        ) from None


def describe(bundle: Bundle, made: bool, moved: Path | None = None) -> list[str]:
    """What to tell the learner: where the files are, what each is, how to use them."""
    mode = os.stat(bundle.folder).st_mode & 0o777
    lines = []
    if moved is not None:
        lines.append(f"kept the old certificates in {moved}")
    head = "made a new CA and certificates" if made else "the CA and certificates are already"
    lines.append(f"{head} in {bundle.folder} (folder mode {mode:04o}):")
    for name, meaning in FILES.items():
        file_mode = os.stat(bundle.folder / name).st_mode & 0o777
        lines.append(f"  {name:<16} {file_mode:04o}  {meaning}")
    lines += [
        "the engine:  labkit engine start --tcp 127.0.0.1:2376 --tlsverify",
        "a client:    export DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={bundle.folder}",
    ]
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        bundle, made, moved = make_certs(args.dir, tuple(args.name), args.days, args.force)
    except (CertsError, TLSSetupError, ValueError) as exc:
        print(f"labkit certs: {exc}", file=sys.stderr)
        return 1
    for line in describe(bundle, made, moved):
        print(line)
    return 0
