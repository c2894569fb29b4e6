"""A terminal's cooked mode, for containers created with a TTY (``docker run -it``).

The docker CLI puts your terminal in raw mode and sends each key as you press it; on a real
host the container's pseudo-terminal then echoes the keys, lets Backspace edit the line, turns
Enter's ``\\r`` into ``\\n``, sends the line on Enter, and turns Ctrl-C into SIGINT and Ctrl-D
into end-of-file. :class:`LineDiscipline` does those same things for a simulated process.
"""

from __future__ import annotations

from dataclasses import dataclass

_ERASE = (0x7F, 0x08)
_INTR, _EOF, _KILL, _QUIT, _ESC = 0x03, 0x04, 0x15, 0x1C, 0x1B


@dataclass
class TtyInput:
    """What typed bytes amount to: bytes to echo, and the program-visible events in order."""

    echo: bytes
    events: list[tuple[str, bytes]]  # ("data", line) | ("eof", b"") | ("intr", b"") | ("quit", b"")


class LineDiscipline:
    """Collects typed bytes into lines, echoing and editing like a Linux tty in cooked mode."""

    def __init__(self) -> None:
        self.line = bytearray()
        self._escape = 0  # inside an escape sequence (arrow keys): 1 after ESC, 2 after ESC [

    def feed(self, data: bytes) -> TtyInput:
        echo = bytearray()
        events: list[tuple[str, bytes]] = []
        for byte in data:
            if self._escape:
                self._skip_escape(byte)
                continue
            if byte in (0x0D, 0x0A):
                self.line += b"\n"
                echo += b"\r\n"
                events.append(("data", bytes(self.line)))
                self.line.clear()
            elif byte in _ERASE:
                if self._erase_char():
                    echo += b"\b \b"
            elif byte == _KILL:
                while self._erase_char():
                    echo += b"\b \b"
            elif byte in (_INTR, _QUIT):
                self.line.clear()
                echo += b"^C\r\n" if byte == _INTR else b"^\\\r\n"
                events.append(("intr" if byte == _INTR else "quit", b""))
            elif byte == _EOF:
                if self.line:
                    events.append(("data", bytes(self.line)))
                    self.line.clear()
                else:
                    events.append(("eof", b""))
            elif byte == _ESC:
                self._escape = 1
            elif byte < 0x20 and byte != 0x09:
                echo += b"^" + bytes([byte + 0x40])
            else:
                self.line.append(byte)
                echo.append(byte)
        return TtyInput(bytes(echo), events)

    def _erase_char(self) -> bool:
        """Drop the last character (all its UTF-8 bytes); False when the line is empty."""
        if not self.line:
            return False
        while self.line and (self.line[-1] & 0xC0) == 0x80:
            self.line.pop()
        if self.line:
            self.line.pop()
        return True

    def _skip_escape(self, byte: int) -> None:
        if self._escape == 1:
            self._escape = 2 if byte in (0x5B, 0x4F) else 0  # "[" or "O"
        elif 0x40 <= byte <= 0x7E:
            self._escape = 0
