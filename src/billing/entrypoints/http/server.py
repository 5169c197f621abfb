"""The HTTP/1.1 protocol `billing serve` runs under uvicorn: httptools, with h11's bound on a request's head."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# What uvicorn's h11 protocol refuses past (h11's incomplete-event limit): a request line and headers larger than
# this are answered 400 before the app runs.
MAX_HEAD_BYTES = 64 * 1024
INVALID = "Invalid HTTP request received."  # uvicorn's answer to a request its parser refuses (h11's too)


class HeadTooLargeError(Exception):
    """Raised from a parser callback: httptools turns it into a parser error, which uvicorn answers 400."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, which parses a request for a third of the CPU of h11's (docs/performance.md),
    but sets no limit on its head and keeps a header in memory until it ends. This one answers a head larger than
    MAX_HEAD_BYTES with uvicorn's plain-text 400 and closes the connection, as the h11 protocol does: counted as
    the parser hands over the line and each header, and, for a head still incomplete, as its bytes arrive."""

    _in_head = True
    _head_bytes = 0  # of the current head, as parsed
    _unparsed_bytes = 0  # received while the current head is incomplete

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes, self._unparsed_bytes = True, 0, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLargeError

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._unparsed_bytes += len(data)
            if self._unparsed_bytes > MAX_HEAD_BYTES:  # one header that never ends: stop buffering it
                self.send_400_response(INVALID)
