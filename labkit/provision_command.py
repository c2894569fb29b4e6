"""``labkit provision``: put the lab images on whichever engine the lab uses."""

from __future__ import annotations

import argparse

from labkit.client.provision import (
    LAB_IMAGES,
    ProvisionError,
    provision,
    remove_provisioned,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", nargs="*", default=list(LAB_IMAGES), help="which lab images (default: all)"
    )
    parser.add_argument(
        "--no-pull", action="store_true", help="build offline stand-ins without trying a pull"
    )
    parser.add_argument(
        "--remove", action="store_true", help="delete the stand-ins labkit imported"
    )


def run(args: argparse.Namespace) -> int:
    from labkit.lab import connect

    lab = connect()
    print(f"engine: {lab.describe()}")
    try:
        if args.remove:
            outcomes = remove_provisioned(lab.client)
        else:
            outcomes = provision(lab.client, args.images, pull=not args.no_pull)
    except ProvisionError as exc:
        print(f"labkit provision: {exc}")
        return 1
    for outcome in outcomes:
        print(outcome.line())
    return 1 if any(o.action == "failed" for o in outcomes) else 0
