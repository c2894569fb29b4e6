"""The lab engine: labkit's own Docker Engine API server.

It answers the same HTTP calls as dockerd, over a private Unix socket, with
simulated containers. The pieces, bottom to top:

- ``replies``  the contract between the server and the API handlers
- ``router``   the route table, the ``/vX.Y`` prefix and the API version check
- ``server``   HTTP/1.1 on httptools (uvloop when present): keep-alive, streams, hijack
- ``app``      assembles the routes from ``api/`` and opens the model
- ``control``  ``labkit engine start|stop|status|env|logs`` and ``ensure_running()``

This package's ``__init__`` imports nothing, so that starting the engine process
stays fast.
"""
