"""The text the lab's ``hello-world`` image prints, on either engine.

It lives in the lowest layer so that the lab engine's simulated image and the
stand-in image labkit imports into a real engine say the same thing.
"""

HELLO_TEXT = """\
Hello from the Docker IPC Lab!

You are reading this because a client and a server just talked:
  1. The docker client turned your command into HTTP requests.
  2. It sent them over a socket to the engine, the daemon that does the work.
  3. The engine created a container from the "hello-world" image and started it.
  4. The program inside wrote this text; the engine wrapped it in stream
     frames and sent it back over the same socket for the client to print.

No magic, just bytes on a socket. To look around inside a container, try:
  docker run -it busybox sh
and open the lab's notebooks to watch those bytes yourself.
"""
