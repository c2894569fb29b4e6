"""labkit.wire.frames: the Engine API's multiplexed stdout/stderr stream."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.wire import WireError
from labkit.wire.frames import (
    MAX_PAYLOAD,
    STDERR,
    STDIN,
    STDOUT,
    SYSTEMERR,
    Frame,
    FrameDecoder,
    demux,
    encode_frame,
)

SETTINGS = settings(max_examples=200, deadline=None)

frames = st.lists(
    st.builds(Frame, st.sampled_from([STDIN, STDOUT, STDERR, SYSTEMERR]), st.binary(max_size=64)),
    max_size=8,
)
cut_lists = st.lists(st.integers(0, 700), max_size=12)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


def three_ways(data: bytes, cuts: list[int]) -> list[list[bytes]]:
    """The same bytes whole, one byte at a time, and cut at random places."""
    return [[data], [data[i : i + 1] for i in range(len(data))], split_at(data, cuts)]


def decode(chunks: list[bytes]) -> list[Frame]:
    decoder = FrameDecoder()
    out = [frame for chunk in chunks for frame in decoder.feed(chunk)]
    decoder.close()
    return out


def decode_error(chunks: list[bytes]) -> WireError:
    with pytest.raises(WireError) as caught:
        decode(chunks)
    return caught.value


def test_encode_frame_layout() -> None:
    assert encode_frame(STDOUT, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert encode_frame(STDERR, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    big = encode_frame(STDIN, b"x" * 0x10203)
    assert big[:8] == b"\x00\x00\x00\x00\x00\x01\x02\x03"


@SETTINGS
@given(frames, cut_lists)
def test_round_trip_in_any_split(sent, cuts) -> None:
    data = b"".join(encode_frame(f.stream, f.data) for f in sent)
    for chunks in three_ways(data, cuts):
        assert decode(chunks) == sent


@SETTINGS
@given(frames, st.binary(min_size=1, max_size=40), st.data())
def test_pending_counts_the_held_bytes(sent, payload, data) -> None:
    whole = b"".join(encode_frame(f.stream, f.data) for f in sent)
    last = encode_frame(STDOUT, payload)
    cut = data.draw(st.integers(1, len(last) - 1))
    decoder = FrameDecoder()
    assert decoder.feed(whole + last[:cut]) == sent
    assert decoder.pending == cut
    assert decoder.offset == len(whole)
    assert decoder.feed(last[cut:]) == [Frame(STDOUT, payload)]
    assert decoder.pending == 0


@SETTINGS
@given(frames, st.binary(min_size=1, max_size=40), st.data(), cut_lists)
def test_stream_cut_off_mid_frame(sent, payload, data, cuts) -> None:
    whole = b"".join(encode_frame(f.stream, f.data) for f in sent)
    last = encode_frame(STDERR, payload)
    held = data.draw(st.integers(1, len(last) - 1))
    stream = whole + last[:held]
    for chunks in three_ways(stream, cuts):
        error = decode_error(chunks)
        assert error.offset == len(whole)
        assert str(error).startswith(f"stream cut off at byte {len(stream)}:")
        assert f"the frame began at byte {len(whole)}" in str(error)
        if held >= 8:
            assert f"{held - 8} of its {len(payload)} payload bytes arrived" in str(error)
        else:
            assert f"inside a frame header ({held} of its 8 bytes arrived)" in str(error)


@SETTINGS
@given(frames, st.integers(4, 255), st.binary(max_size=20), cut_lists)
def test_unknown_stream_type(sent, kind, tail, cuts) -> None:
    before = b"".join(encode_frame(f.stream, f.data) for f in sent)
    header = struct.pack(">B3xL", kind, len(tail))
    for chunks in three_ways(before + header + tail, cuts):
        error = decode_error(chunks)
        assert error.offset == len(before)
        assert str(error).startswith(
            f"bad frame header {header!r} at byte {len(before)}: byte 0 is {kind}, "
            "not a stream type (0-3)"
        )
        assert "TTY container's raw stream? those have no frames" in str(error)


@SETTINGS
@given(frames, st.sampled_from([STDOUT, STDERR]), st.binary(min_size=3, max_size=3), cut_lists)
def test_non_zero_padding(sent, kind, padding, cuts) -> None:
    if padding == b"\0\0\0":
        padding = b"\0\0\x01"
    before = b"".join(encode_frame(f.stream, f.data) for f in sent)
    header = bytes([kind]) + padding + b"\0\0\0\x01"
    for chunks in three_ways(before + header + b"x", cuts):
        error = decode_error(chunks)
        assert error.offset == len(before)
        assert f"bytes 1-3 are {padding!r}, not zero" in str(error)


def test_tty_output_is_recognised_as_not_framed() -> None:
    with pytest.raises(WireError, match="TTY") as caught:
        FrameDecoder().feed(b"hello from a tty\r\n")
    assert caught.value.offset == 0
    assert "b'hello fr'" in str(caught.value)


def test_decoder_stays_broken_after_an_error() -> None:
    decoder = FrameDecoder()
    with pytest.raises(WireError) as first:
        decoder.feed(b"\x09" + b"\0" * 7)
    with pytest.raises(WireError) as again:
        decoder.feed(encode_frame(STDOUT, b"ok"))
    assert again.value is first.value


def test_feed_after_close_is_a_mistake() -> None:
    decoder = FrameDecoder()
    decoder.close()
    with pytest.raises(ValueError, match="after close"):
        decoder.feed(b"")


@pytest.mark.parametrize("stream", [-1, 4, 255])
def test_encode_frame_refuses_unknown_streams(stream) -> None:
    with pytest.raises(ValueError, match=f"unknown stream {stream}"):
        encode_frame(stream, b"x")


def test_encode_frame_refuses_payloads_over_32_bits() -> None:
    class Huge(bytes):
        """Claims to be 4 GiB so that the test need not allocate it."""

        def __len__(self) -> int:
            return MAX_PAYLOAD + 1

    with pytest.raises(ValueError, match="at most 4294967295 bytes"):
        encode_frame(STDOUT, Huge(b"x"))


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([STDIN, STDOUT, STDERR]), st.binary(max_size=30))))
def test_demux_splits_stdout_from_stderr(sent) -> None:
    stream = b"".join(encode_frame(kind, data) for kind, data in sent)
    out, err = demux(stream)
    assert out == b"".join(data for kind, data in sent if kind == STDOUT)
    assert err == b"".join(data for kind, data in sent if kind == STDERR)


def test_demux_raises_the_engines_own_error() -> None:
    stream = encode_frame(STDOUT, b"partial") + encode_frame(SYSTEMERR, b"driver failed")
    with pytest.raises(WireError, match="the engine reported an error inside the stream: driver"):
        demux(stream)


def test_demux_of_a_cut_stream_raises() -> None:
    with pytest.raises(WireError, match="cut off"):
        demux(encode_frame(STDOUT, b"hello")[:-1])


def test_frame_stream_name() -> None:
    assert [Frame(k, b"").stream_name for k in (0, 1, 2, 3)] == [
        "stdin",
        "stdout",
        "stderr",
        "system error",
    ]
