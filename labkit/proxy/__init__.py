"""labkit.proxy: servers that sit between a client and the engine.

Layer 4 of labkit, beside the lab engine. A proxy listens on a socket of its own, connects
to the real engine for each client that comes, and passes the bytes through; what it does
on the way is what makes it useful in a lesson:

- :mod:`labkit.proxy.recorder`: writes down every byte in both directions, with the time,
  and reads the HTTP in it (requests, responses, the 101 upgrade and the framed output
  stream after it). ``labkit sniff`` and lesson 05 use it to show what ``docker`` sends.
"""

from __future__ import annotations
