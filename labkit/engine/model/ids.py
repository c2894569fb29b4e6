"""Ids and container names: random, or reproducible from ``LABKIT_SEED``.

With a seed, the n-th id is a hash of the seed and n, and the counter is kept in
the state database, so a notebook run from fresh state shows the same ids every
time and a restarted engine never hands out an id twice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

# Our own word lists: a mood, then a person remembered for computing or science.
ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "careful",
    "cheerful",
    "clever",
    "curious",
    "daring",
    "eager",
    "earnest",
    "fearless",
    "gentle",
    "glad",
    "graceful",
    "happy",
    "hardy",
    "honest",
    "hopeful",
    "humble",
    "jolly",
    "keen",
    "kind",
    "lively",
    "loyal",
    "lucid",
    "mellow",
    "merry",
    "mighty",
    "modest",
    "nimble",
    "noble",
    "patient",
    "plucky",
    "polite",
    "proud",
    "quick",
    "quiet",
    "radiant",
    "rapid",
    "ready",
    "restful",
    "serene",
    "sharp",
    "shy",
    "silent",
    "sincere",
    "smart",
    "snug",
    "steady",
    "sturdy",
    "sunny",
    "swift",
    "tender",
    "thoughtful",
    "tidy",
    "trusty",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zealous",
)
SURNAMES = (
    "agnesi",
    "allen",
    "babbage",
    "backus",
    "bartik",
    "bell",
    "berners",
    "boole",
    "borg",
    "cerf",
    "church",
    "codd",
    "conway",
    "cray",
    "curie",
    "dijkstra",
    "easley",
    "engelbart",
    "euler",
    "faraday",
    "feynman",
    "floyd",
    "franklin",
    "gauss",
    "goldberg",
    "hamilton",
    "hamming",
    "hopper",
    "huffman",
    "johnson",
    "kahn",
    "kay",
    "knuth",
    "kowalski",
    "lamport",
    "lovelace",
    "mccarthy",
    "meitner",
    "minsky",
    "moore",
    "napier",
    "neumann",
    "noether",
    "ostrom",
    "pascal",
    "perlman",
    "postel",
    "ritchie",
    "shannon",
    "sutherland",
    "tarjan",
    "thompson",
    "torvalds",
    "turing",
    "vaughan",
    "wilkes",
    "wing",
    "wirth",
    "wozniak",
    "yonath",
)


class IdSource:
    """Hands out 64-hex ids and adjective_surname names.

    ``counter`` is read and written by the owner (the engine persists it) so that
    a seeded source continues where it stopped.
    """

    def __init__(self, seed: str | None = None, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter

    def _next_digest(self, purpose: str) -> bytes:
        self.counter += 1
        if self.seed is None:
            return secrets.token_bytes(32)
        text = f"labkit:{self.seed}:{purpose}:{self.counter}"
        return hashlib.sha256(text.encode()).digest()

    def new_id(self) -> str:
        """A 64-hex id whose 12-char short form is not all digits (the CLI would misread it)."""
        while True:
            value = self._next_digest("id").hex()
            if not value[:12].isdigit():
                return value

    def new_name(self, taken: Callable[[str], bool]) -> str:
        """A free name like ``brave_turing``; a digit is added after many collisions."""
        for attempt in range(100):
            digest = self._next_digest("name")
            adjective = ADJECTIVES[digest[0] % len(ADJECTIVES)]
            surname = SURNAMES[digest[1] % len(SURNAMES)]
            name = f"{adjective}_{surname}"
            if attempt >= 10:
                name += str(digest[2] % 10)
            if not taken(name):
                return name
        return f"container_{self.new_id()[:12]}"
