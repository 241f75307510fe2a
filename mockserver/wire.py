"""WebSocket frames as the server puts them on the wire, built once and shared.

A frame the server sends to a client that did not negotiate permessage-deflate
is the same bytes for every client (RFC 6455 §5.1: servers never mask), so a
broadcast is framed once, on first use, and every uncompressed subscriber's
socket is handed the very same ``bytes``. A compressed connection keeps its own
compressor state, so it takes ``Frame.text`` and lets aiohttp compress it.
"""

from __future__ import annotations

import struct

# FIN + opcode; no RSV bits (uncompressed), no mask bit (server to client).
_TEXT = 0x80 | 0x1
PING = bytes((0x80 | 0x9, 0))  # a ping with an empty payload

_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8 JSON) as one unmasked, unfragmented text frame."""
    length = len(payload)
    if length < 126:
        return bytes((_TEXT, length)) + payload
    if length < 65536:
        return _LEN16.pack(_TEXT, 126, length) + payload
    return _LEN64.pack(_TEXT, 127, length) + payload


class Frame:
    """One outgoing text message: its text, and its wire bytes made when first asked."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        """The whole uncompressed frame, header included (computed once)."""
        wire = self._wire
        if wire is None:
            wire = self._wire = text_frame(self.text.encode())
        return wire

    def __repr__(self) -> str:
        return f"Frame({self.text!r})"


def as_frame(frame: Frame | str) -> Frame:
    """A ``Frame`` for ``frame`` (replies and per-subscriber sends come as text)."""
    return frame if isinstance(frame, Frame) else Frame(frame)
