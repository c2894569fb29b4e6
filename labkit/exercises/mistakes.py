"""The mistakes learners really make, each with a hint of its own.

A check that recognises one of these ends with ``NotYet(..., mistake=KEY)``; the
verdict then says what went wrong in these words, rather than a generic "wrong
answer". Tasks may add mistakes of their own (``Task.mistakes``); these are the
ones that recur across lessons.
"""

from __future__ import annotations

MISTAKES: dict[str, str] = {
    "unfinished": (
        "the answer cell still holds its template: write your code where it says so, run that "
        "cell, then run this check again"
    ),
    "undefined": "run the answer cell above first (Shift+Enter), then this check again",
    "no-final-crlf": (
        "your request never ends: its head needs an empty line after the last header, so the "
        "bytes must finish with \\r\\n\\r\\n; without it the engine keeps waiting for more "
        "headers and never answers"
    ),
    "no-host": (
        "your request has no Host header; HTTP/1.1 requires one (any name will do on a Unix "
        "socket, e.g. Host: docker), and the engine answers 400 without it"
    ),
    "lf-only": (
        "your lines end in \\n alone; HTTP asks for \\r\\n (CR LF). dockerd happens to accept "
        "a bare \\n, but many servers, proxies and parsers do not: write \\r\\n"
    ),
    "one-recv": (
        "one recv() is not a whole reply: a stream keeps no message boundaries, so a reply may "
        "arrive in several pieces. Keep reading until you have the whole head, then exactly "
        "Content-Length bytes of body (or, for chunked, up to the last chunk)"
    ),
    "chunked-last-chunk": (
        "a chunked body ends with a chunk of size 0 (b'0\\r\\n\\r\\n'); keep reading chunks "
        "until that one, and do not count it as data"
    ),
    "chunked-size-decimal": (
        "a chunk's size is hexadecimal: b'1a' means 26 bytes, so read it with int(size, 16)"
    ),
    "curl-host-part": (
        "with --unix-socket, curl's URL still needs a host part before the path: "
        "http://localhost/images/json, not http://images/json (curl would take 'images' as the "
        "host name and ask for /json)"
    ),
    "unencoded-socket-path": (
        "in an http+unix:// URL the socket's path is the host part, so its slashes must be "
        "percent-encoded (urllib.parse.quote(path, safe='') turns / into %2F)"
    ),
    "fixed-api-version": (
        "the API version is fixed in your code; engines differ (Docker 29 refuses anything "
        "below 1.44, dockerd 20.10 knows nothing above 1.41). Ask GET /version for ApiVersion, "
        "or leave the /vX.Y prefix out"
    ),
    "stream-type-ignored": (
        "each frame of the multiplexed stream says where its bytes belong in its first byte: "
        "1 is stdout, 2 is stderr. Read the 8-byte header, then exactly the length it gives, "
        "and sort the payload by that first byte"
    ),
    "wrong-prediction": "",  # the verdict itself shows what really happened
    "returned-none": (
        "your function returned None: did you forget a return statement at its end?"
    ),
}


def hint_for(mistake: str | None, own: dict[str, str] | None = None) -> str | None:
    """The hint for a mistake, the task's own words first."""
    if mistake is None:
        return None
    if own and mistake in own:
        return own[mistake]
    return MISTAKES.get(mistake)
