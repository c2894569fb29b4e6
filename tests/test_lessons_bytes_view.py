"""labkit.lessons.bytes_view: the display helpers of lessons 02 and 03."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.lessons import bytes_view as bv

PING = (
    b"HTTP/1.1 200 OK\r\n"
    b"Api-Version: 1.41\r\n"
    b"Content-Length: 2\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"OK"
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"a\r\n0123456789\r\n"
    b"3;name=x\r\nabc\r\n"
    b"0\r\n"
    b"\r\n"
)
BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"400 Bad Request"
)


def kinds(segments: list[bv.Segment]) -> list[str]:
    return [s.kind for s in segments]


# --------------------------------------------------------------------------- segment


def test_segments_of_a_content_length_reply() -> None:
    segments = bv.segment(PING)
    assert segments[0] == bv.Segment(bv.START, b"HTTP/1.1 200 OK")
    assert segments[1] == bv.Segment(bv.EOL, b"\r\n")
    assert segments[2:4] == [bv.Segment(bv.NAME, b"Api-Version"), bv.Segment(bv.VALUE, b": 1.41")]
    assert segments[-1].kind == bv.BODY
    assert segments[-1].data == b"OK"
    assert "Content-Length: 2" in segments[-1].note


def test_segments_cover_every_byte_in_order() -> None:
    data = PING + CHUNKED + BAD_REQUEST
    assert b"".join(s.data for s in bv.segment(data)) == data


def test_chunk_size_lines_are_labelled_with_their_decimal_size() -> None:
    segments = bv.segment(CHUNKED)
    sizes = [s for s in segments if s.kind == bv.CHUNK_SIZE]
    assert [s.data for s in sizes] == [b"a", b"3;name=x", b"0"]
    assert "0xa = 10 bytes" in sizes[0].note
    assert "last chunk" in sizes[2].note
    bodies = [s.data for s in segments if s.kind == bv.BODY]
    assert bodies == [b"0123456789", b"abc"]


def test_keep_alive_replies_back_to_back_are_two_messages() -> None:
    segments = bv.segment(PING + PING)
    starts = [s.data for s in segments if s.kind == bv.START]
    assert starts == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK"]
    assert [s.data for s in segments if s.kind == bv.BODY] == [b"OK", b"OK"]


def test_close_delimited_body_runs_to_the_end() -> None:
    segments = bv.segment(BAD_REQUEST)
    assert segments[-1] == bv.Segment(
        bv.BODY, b"400 Bad Request", segments[-1].note
    )  # note: explains the framing
    assert "closes" in segments[-1].note


def test_a_request_without_length_has_no_body_and_the_next_request_follows() -> None:
    data = (
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\nGET /version HTTP/1.1\r\nHost: docker\r\n\r\n"
    )
    starts = [s.data for s in bv.segment(data) if s.kind == bv.START]
    assert starts == [b"GET /_ping HTTP/1.1", b"GET /version HTTP/1.1"]


def test_trailers_after_the_last_chunk_are_shown_as_headers() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Done: yes\r\n\r\n"
    segments = bv.segment(data)
    assert bv.Segment(bv.NAME, b"X-Done") in segments
    assert segments[-1] == bv.Segment(bv.EOL, b"\r\n")


def test_an_unfinished_head_is_shown_not_rejected() -> None:
    segments = bv.segment(b"HTTP/1.1 200 OK\r\nApi-Ver")
    assert kinds(segments) == [bv.START, bv.EOL, bv.RAW]
    assert "no colon" in segments[-1].note


def test_a_bad_chunk_size_line_is_marked_raw() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello"
    last = bv.segment(data)[-1]
    assert last.kind == bv.RAW
    assert last.data == b"zz\r\nhello"


def test_a_chunk_longer_than_its_size_is_marked_raw() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"
    last = bv.segment(data)[-1]
    assert last.kind == bv.RAW
    assert last.data.startswith(b"c")


def test_after_a_101_the_rest_is_a_raw_stream() -> None:
    data = b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x02hi"
    last = bv.segment(data)[-1]
    assert last.kind == bv.RAW
    assert last.data.endswith(b"hi")


def test_204_has_no_body_even_without_a_length() -> None:
    data = b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n" + PING
    starts = [s.data for s in bv.segment(data) if s.kind == bv.START]
    assert starts == [b"HTTP/1.1 204 No Content", b"HTTP/1.1 200 OK"]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_segmented_without_losing_one(data: bytes) -> None:
    assert b"".join(s.data for s in bv.segment(data)) == data


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
def test_split_chunks_undoes_chunked_encoding(pieces: list[bytes]) -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    chunks = bv.split_chunks(body)
    assert [c.data for c in chunks] == [*pieces, b""]
    assert [c.size for c in chunks] == [*map(len, pieces), 0]


# --------------------------------------------------------------------------- views


def test_visible_shows_cr_lf_and_other_bytes() -> None:
    assert bv.visible(b"OK\r\n\t\x00\xff\\") == "OK\\r\\n\\t\\x00\\xff\\\\"


def test_text_view_has_one_line_per_wire_line() -> None:
    text = bv.show_bytes(PING).text()
    assert text.splitlines() == [
        "HTTP/1.1 200 OK\\r\\n",
        "Api-Version: 1.41\\r\\n",
        "Content-Length: 2\\r\\n",
        "Content-Type: text/plain; charset=utf-8\\r\\n",
        "\\r\\n",
        "OK",
    ]


def test_long_bodies_are_clipped_but_the_bytes_are_kept() -> None:
    body = b"x" * 500
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + body
    view = bv.show_bytes(data, body_limit=10)
    assert "(490 more bytes)" in view.text()
    assert "(490 more bytes)" in view._repr_html_()
    assert view.data == data


def test_html_view_escapes_and_colours() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<b>&</b>!"
    out = bv.show_bytes(data, title="a <title>")._repr_html_()
    assert "&lt;b&gt;&amp;&lt;/b&gt;!" in out
    assert "a &lt;title&gt;" in out
    assert "<b>&</b>" not in out
    assert "CR LF" in out  # the legend names what the grey marks are


def test_chunk_notes_become_tooltips() -> None:
    out = bv.show_bytes(CHUNKED)._repr_html_()
    assert 'title="0xa = 10 bytes of data follow"' in out


def test_show_bytes_rejects_text_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match="wants bytes, not str"):
        bv.show_bytes("GET / HTTP/1.1")  # type: ignore[arg-type]


def test_empty_bytes_say_so() -> None:
    assert "(no bytes)" in bv.show_bytes(b"").text()


def test_exchange_labels_both_directions() -> None:
    request = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
    exchange = bv.show_exchange(request, PING)
    text = exchange.text()
    assert text.startswith(f"→ sent ({len(request)} bytes)")
    assert f"← received ({len(PING)} bytes)" in text
    assert ">GET /_ping HTTP/1.1</span>" in exchange._repr_html_()


def test_pretty_printing_uses_the_text_view() -> None:
    from IPython.lib.pretty import pretty

    assert pretty(bv.show_bytes(PING)) == bv.show_bytes(PING).text()
    assert pretty(bv.Table(["a"], [[1]])) == "a\n-\n1"


# --------------------------------------------------------------------------- tables


def test_table_text_is_aligned() -> None:
    table = bv.Table(["name", "n"], [("a", 1), ("long name", None)], caption="cap")
    assert table.text().splitlines() == [
        "cap",
        "name       n",
        "---------  -",
        "a          1",
        "long name",
    ]


def test_table_html_escapes_cells() -> None:
    out = bv.Table(["x"], [["<script>"]])._repr_html_()
    assert "&lt;script&gt;" in out
    assert "<script>" not in out


def test_table_rows_must_fit_the_columns() -> None:
    with pytest.raises(ValueError, match="a row has 1 cells but the table has 2 columns"):
        bv.Table(["a", "b"], [["only one"]])


def test_headers_table_explains_known_headers_in_order() -> None:
    table = bv.headers_table([("Api-Version", "1.41"), ("X-Odd", "1"), ("content-length", "2")])
    assert [row[0] for row in table.rows] == ["Api-Version", "X-Odd", "content-length"]
    assert "newest Engine API version" in table.rows[0][2]
    assert table.rows[1][2] == ""
    assert "body bytes" in table.rows[2][2]
    assert bv.headers_table([("A", "b")], meanings=False).columns == ["header", "value"]


def test_chunks_table_shows_hex_and_decimal() -> None:
    table = bv.chunks_table(CHUNKED.split(b"\r\n\r\n", 1)[1])
    assert table.rows[0] == ["0", "a\\r\\n", "10", "0123456789"]
    assert table.rows[-1][1:3] == ["0\\r\\n", "0"]


def test_split_chunks_names_a_bad_size_line() -> None:
    with pytest.raises(ValueError, match=r"bad chunk-size line b'zz\\r\\n' at byte 0"):
        bv.split_chunks(b"zz\r\nabc")


# --------------------------------------------------------------------------- details, time


def test_details_summarises_and_opens_onto_json() -> None:
    shown = bv.details("3 images", [{"Id": "sha256:1"}])
    assert str(shown) == "3 images"
    out = shown._repr_html_()
    assert out.startswith("<details><summary>3 images</summary>")
    assert json.dumps([{"Id": "sha256:1"}], indent=2).replace('"', "&quot;") in out
    assert "\\r\\n" in bv.details("raw", b"a\r\n").body_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T09:00:00Z", "1767603600.000000000"),
        ("2026-01-05T09:00:00.5Z", "1767603600.500000000"),
        ("2026-01-05T10:00:00.123456789+01:00", "1767603600.123456789"),
        ("2026-01-05T04:00:00.000000001-05:00", "1767603600.000000001"),
    ],
)
def test_unix_timestamp(text: str, expected: str) -> None:
    assert bv.unix_timestamp(text) == expected


def test_unix_timestamp_matches_datetime() -> None:
    moment = datetime(2030, 6, 1, 12, 30, 15, tzinfo=timezone.utc)
    assert bv.unix_timestamp("2030-06-01T12:30:15Z") == f"{int(moment.timestamp())}.000000000"


def test_unix_timestamp_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        bv.unix_timestamp("yesterday")
