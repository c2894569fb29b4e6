"""labkit.wire: the bytes on the wire and what they mean, with no I/O at all.

Layer 1 of labkit. Everything here takes bytes and returns values (or takes values and
returns bytes); sockets, threads and event loops belong to the layers above, which is
what lets the same parsers serve a notebook cell, the client, the proxies and the tests.

- :mod:`labkit.wire.http`: HTTP/1.1 requests and responses (built on h11)
- :mod:`labkit.wire.frames`: the Engine API's multiplexed stdout/stderr stream
- :mod:`labkit.wire.jsonlines`: streams of JSON values, one per line (pull progress, events)
- :mod:`labkit.wire.errors`: :class:`WireError`, which says what was wrong and at which byte
"""

from __future__ import annotations

from labkit.wire.errors import WireError
from labkit.wire.frames import (
    STDERR,
    STDIN,
    STDOUT,
    SYSTEMERR,
    Frame,
    FrameDecoder,
    demux,
    encode_frame,
)
from labkit.wire.http import (
    BodyPart,
    End,
    Event,
    Head,
    Headers,
    Informational,
    Response,
    ResponseParser,
    Upgraded,
    build_request,
    parse_response,
)
from labkit.wire.jsonlines import JsonLinesDecoder

__all__ = [
    "STDERR",
    "STDIN",
    "STDOUT",
    "SYSTEMERR",
    "BodyPart",
    "End",
    "Event",
    "Frame",
    "FrameDecoder",
    "Head",
    "Headers",
    "Informational",
    "JsonLinesDecoder",
    "Response",
    "ResponseParser",
    "Upgraded",
    "WireError",
    "build_request",
    "demux",
    "encode_frame",
    "parse_response",
]
