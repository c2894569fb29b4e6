"""labkit.wire.jsonlines: JSON values one per line, split anywhere (pull progress, events)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.wire import WireError
from labkit.wire.http import BodyPart, ResponseParser
from labkit.wire.jsonlines import JsonLinesDecoder

SETTINGS = settings(max_examples=200, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
endings = st.sampled_from([b"\n", b"\r\n"])
blank_lines = st.sampled_from([b"", b"\n", b"\r\n", b"  \n", b"\n\r\n"])
cut_lists = st.lists(st.integers(0, 2000), max_size=12)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


def three_ways(data: bytes, cuts: list[int]) -> list[list[bytes]]:
    """The same bytes whole, one byte at a time, and cut at random places."""
    return [[data], [data[i : i + 1] for i in range(len(data))], split_at(data, cuts)]


def decode(chunks: list[bytes]) -> list[object]:
    decoder = JsonLinesDecoder()
    values = [value for chunk in chunks for value in decoder.feed(chunk)]
    return values + decoder.close()


def decode_error(chunks: list[bytes]) -> WireError:
    with pytest.raises(WireError) as caught:
        decode(chunks)
    return caught.value


@st.composite
def streams(draw) -> tuple[bytes, list[object], list[int]]:
    """A JSON-lines stream with blank lines mixed in; also where each value's line starts."""
    values = draw(st.lists(json_values, max_size=8))
    data, starts = b"", []
    for value in values:
        data += draw(blank_lines)
        starts.append(len(data))
        data += json.dumps(value, separators=draw(st.sampled_from([None, (",", ":")]))).encode()
        data += draw(endings)
    return data + draw(blank_lines), values, starts


@SETTINGS
@given(streams(), cut_lists)
def test_any_split_gives_the_same_values(stream, cuts) -> None:
    data, values, _ = stream
    for chunks in three_ways(data, cuts):
        assert decode(chunks) == values


@SETTINGS
@given(st.lists(json_values, min_size=1, max_size=5), cut_lists)
def test_last_line_without_newline_is_decoded_by_close(values, cuts) -> None:
    data = b"\n".join(json.dumps(v).encode() for v in values)
    for chunks in three_ways(data, cuts):
        assert decode(chunks) == values


def _line_number(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


@SETTINGS
@given(
    streams(),
    st.sampled_from([b"{not json}", b'{"a": 1', b"nope", b'{"x": "\xff"}', b"[1, 2,]"]),
    st.data(),
    cut_lists,
)
def test_bad_line_names_its_number_offset_and_text(stream, bad, data, cuts) -> None:
    good, _, starts = stream
    where = data.draw(st.sampled_from([*starts, len(good)]))
    raw = good[:where] + bad + b"\r\n" + good[where:]
    line, shown = _line_number(raw, where), bad + b"\r\n"
    for chunks in three_ways(raw, cuts):
        error = decode_error(chunks)
        assert error.offset == where
        assert str(error).startswith(f"bad JSON on line {line} at byte {where}: {shown!r}")


def test_bad_line_messages_say_why() -> None:
    with pytest.raises(WireError, match="not UTF-8"):
        decode([b'"\xff"\n'])
    with pytest.raises(WireError, match="Expecting property name"):
        decode([b"{'single': 'quotes'}\n"])


def test_cut_off_last_value_raises_on_close() -> None:
    decoder = JsonLinesDecoder()
    assert decoder.feed(b'{"status":"Pulling"}\r\n{"status":"Down') == [{"status": "Pulling"}]
    assert decoder.pending == len(b'{"status":"Down')
    with pytest.raises(WireError, match="cut off mid-value") as caught:
        decoder.close()
    assert caught.value.offset == 22
    assert "line 2" in str(caught.value)


def test_long_lines_are_previewed_not_dumped() -> None:
    bad = b"x" * 5000 + b"\n"
    with pytest.raises(WireError) as caught:
        decode([bad])
    assert "(5001 bytes)" in str(caught.value)
    assert len(str(caught.value)) < 300


def test_decoder_stays_broken_after_an_error() -> None:
    decoder = JsonLinesDecoder()
    with pytest.raises(WireError) as first:
        decoder.feed(b"oops\n")
    with pytest.raises(WireError) as again:
        decoder.feed(b"{}\n")
    assert again.value is first.value


def test_feed_after_close_is_a_mistake() -> None:
    decoder = JsonLinesDecoder()
    decoder.close()
    with pytest.raises(ValueError, match="after close"):
        decoder.feed(b"{}\n")


PULL_PROGRESS = [
    {"status": "Pulling from library/alpine", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "4abcf2066143"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 32768, "total": 3408729},
        "progress": "[>   ]  32.77kB/3.409MB",
        "id": "4abcf2066143",
    },
    {"status": "Pull complete", "progressDetail": {}, "id": "4abcf2066143"},
    {"status": "Digest: sha256:" + "ab" * 32},
    {"status": "Status: Downloaded newer image for alpine:latest"},
]


@SETTINGS
@given(st.lists(st.integers(1, 300), min_size=1, max_size=20), cut_lists)
def test_pull_progress_split_across_http_chunks(chunk_sizes, cuts) -> None:
    """The reason this decoder exists: JSON lines cut by chunked encoding, then by recv()."""
    body = b"".join(json.dumps(v).encode() + b"\r\n" for v in PULL_PROGRESS)
    wire, i = b"", 0
    for size in itertools.cycle(chunk_sizes):
        if i >= len(body):
            break
        piece = body[i : i + size]
        wire += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        i += size
    wire += b"0\r\n\r\n"
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    parser, decoder, values = ResponseParser("POST"), JsonLinesDecoder(), []
    for piece in split_at(head + wire, cuts):
        for event in parser.feed(piece):
            if isinstance(event, BodyPart):
                values += decoder.feed(event.data)
    assert parser.done
    assert values + decoder.close() == PULL_PROGRESS
