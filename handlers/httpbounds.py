"""Bounds on one outbound HTTP request: a wall-clock deadline, and a capped decoder.

A timeout given to an HTTP client bounds each socket operation, not the request: a server
that sends its answer one byte a second never lets a single read wait long, and keeps the
request (and the worker thread running it) going for as long as it likes. `Deadline` is a
network backend for httpcore whose every operation (connect, TLS handshake, each write and
each read) may wait only for the time left until one instant; once it has passed, the
operation fails at once and the connection is closed.

A compressed answer is small on the wire and large in memory (a 200 KB gzip body can hold
hundreds of megabytes). The webhook counts its size limit on the bytes read from the
socket, and `CappedDecoder` stops inflating at a limit of its own.
"""

import ssl
import time
import zlib

import httpcore


class DeadlinePassed(httpcore.TimeoutException):
    """The request's deadline passed."""


class Deadline(httpcore.NetworkBackend):
    """httpcore's own sockets, each operation's timeout clipped to what is left until `at`
    (a time.monotonic() instant)."""

    def __init__(self, at: float):
        self.at = at
        self.backend = httpcore.SyncBackend()

    def left(self) -> float:
        """Seconds left until the deadline; raise DeadlinePassed once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("The request's deadline passed.")
        return left

    def clip(self, timeout: float | None) -> float:
        left = self.left()
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self.backend.connect_tcp(
            host,
            port,
            timeout=self.clip(timeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return DeadlineStream(stream, self)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("Unix sockets are not used here.")

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.left()))


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads and writes end by the deadline; past it, it closes itself."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline):
        self.stream = stream
        self.deadline = deadline

    def _clip(self, timeout: float | None) -> float:
        try:
            return self.deadline.clip(timeout)
        except DeadlinePassed:
            self.stream.close()
            raise

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, timeout=self._clip(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, timeout=self._clip(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The handshake is one operation under one timeout (CPython's ssl module counts it
        # as a whole, not per packet), so clipping it keeps it inside the deadline.
        stream = self.stream.start_tls(
            ssl_context, server_hostname=server_hostname, timeout=self._clip(timeout)
        )
        return DeadlineStream(stream, self.deadline)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class UnsupportedEncoding(ValueError):
    """The answer's Content-Encoding is not one this client asked for."""


# What the webhook sends as Accept-Encoding: what CappedDecoder can inflate.
ACCEPT_ENCODING = "gzip, deflate"


class CappedDecoder:
    """Undo an answer's Content-Encoding (identity, gzip or deflate), yielding at most
    `limit` bytes in all; `full` says the limit was reached and the rest was dropped."""

    def __init__(self, content_encoding: str, *, limit: int):
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
            raise UnsupportedEncoding(f"Content-Encoding {content_encoding!r} is not supported.")
        self.encoding = encodings[0] if encodings else "identity"
        self.room = limit
        self.full = False
        self.inflater = None
        if self.encoding in ("gzip", "x-gzip"):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            # "deflate" is zlib-wrapped by the standard, raw in some servers: the first
            # bytes decide (see decode).
            self.inflater = zlib.decompressobj(zlib.MAX_WBITS)
        self.started = False

    def decode(self, data: bytes) -> bytes:
        """Return what `data` decodes to, within the limit."""
        if self.full or not data:
            return b""
        if self.inflater is None:
            out = data[: self.room]
            self.full = len(data) > self.room
        else:
            out = self._inflate(data)
        self.room -= len(out)
        if self.room <= 0:
            self.full = True
        return out

    def _inflate(self, data: bytes) -> bytes:
        try:
            # max_length keeps one call from inflating more than the room left; what it
            # could not inflate stays in unconsumed_tail.
            out = self.inflater.decompress(data, self.room)
        except zlib.error:
            if self.encoding != "deflate" or self.started:
                raise
            self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self.inflater.decompress(data, self.room)
        self.started = True
        if self.inflater.unconsumed_tail:
            self.full = True
        return out
