"""The ``curl`` command line that sends the same request, ready to paste into a terminal.

curl reaches a Unix socket with ``--unix-socket``; the URL after it still needs a host
part, which curl sends as ``Host:`` and the engine ignores (``localhost`` by convention).
Putting the socket path in the URL instead is a classic mistake: curl then looks the
path up as a host name. Every word is quoted for a POSIX shell.
"""

from __future__ import annotations

import shlex

from labkit.transport.hosts import Endpoint


def base_url(endpoint: Endpoint) -> tuple[list[str], str]:
    """(curl's options for reaching the engine, the URL's scheme and host part)."""
    if endpoint.scheme == "unix":
        return ["--unix-socket", str(endpoint.path)], "http://localhost"
    if endpoint.scheme == "tcp":
        host = endpoint.host or "localhost"
        if ":" in host:  # an IPv6 address goes in brackets in a URL
            host = f"[{host}]"
        where = f"{host}:{endpoint.port}" if endpoint.port else host
        if endpoint.tls is None:
            return [], f"http://{where}"
        options: list[str] = []
        tls = endpoint.tls
        if tls.ca is not None:
            options += ["--cacert", str(tls.ca)]
        if tls.cert is not None:
            options += ["--cert", str(tls.cert)]
        if tls.key is not None:
            options += ["--key", str(tls.key)]
        if not tls.verify:
            options.append("--insecure")
        return options, f"https://{where}"
    raise ValueError(
        f"curl cannot reach a {endpoint.scheme}:// engine by itself; run curl on the "
        "engine's machine with --unix-socket /var/run/docker.sock instead"
    )


def curl_command(
    endpoint: Endpoint,
    method: str,
    target: str,
    body: bytes | str | None = None,
    content_type: str | None = "application/json",
    stream: bool = False,
    show_head: bool = False,
) -> str:
    """``curl --unix-socket /…/engine.sock 'http://localhost/vX.Y/images/json?all=true'``.

    ``target`` is the request target as sent (version prefix and query included).
    ``stream`` adds ``-N`` so that curl prints each piece as it arrives (events, logs
    with follow); ``show_head`` adds ``-i`` for the status line and headers.
    """
    method = method.upper()
    if not target.startswith("/"):
        raise ValueError(f"the target {target!r} must start with '/', e.g. '/_ping'")
    options, base = base_url(endpoint)
    words = ["curl", *options]
    if show_head:
        words.append("-i")
    if stream:
        words.append("-N")
    if method == "HEAD":
        words.append("--head")
    elif method != "GET" and not (method == "POST" and body):
        words += ["-X", method]
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        if content_type:
            words += ["-H", f"Content-Type: {content_type}"]
        words += ["-d", text]
    words.append(base + target)
    return " ".join(shlex.quote(word) for word in words)
