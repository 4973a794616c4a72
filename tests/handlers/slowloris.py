"""A misbehaving HTTP server on loopback for the webhook's bounds: slow or huge answers.

Paths: `/loris` sends the status line and headers one byte a second, forever; `/slow-body`
sends its headers at once, then the body one byte a second; `/gzip-bomb` answers ~200 KB
of gzip that inflates to 200 MB; `/big` answers 3 MB uncompressed; `/brotli` claims a
Content-Encoding the client never asked for. Each connection is noted in `connections`
with when it opened and when the client went away.
"""

import contextlib
import socket
import threading
import time
import zlib
from dataclasses import dataclass


def _bomb(megabytes: int) -> bytes:
    """Gzip of `megabytes` MB of zeros, built a megabyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


BOMB = _bomb(200)


@dataclass
class Connection:
    path: str
    opened: float
    closed: float | None = None  # when a send found the client gone


class SlowServer:
    """Serve on 127.0.0.1 from a thread per connection; `url` is its base URL."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[Connection] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            path = request.split(b" ", 2)[1].decode()
            record = Connection(path=path, opened=time.monotonic())
            self.connections.append(record)
            with contextlib.suppress(OSError):  # the client closed the connection
                self._answer(conn, path)
            record.closed = time.monotonic()

    def _answer(self, conn: socket.socket, path: str) -> None:
        if path == "/loris":
            self._trickle(conn, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000)
        elif path == "/slow-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
            self._trickle(conn, b"b" * 10_000)
        elif path == "/gzip-bomb":
            head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(BOMB)}\r\n"
            conn.sendall(head.encode() + b"Content-Type: text/plain\r\n\r\n" + BOMB)
            self._wait_for_close(conn)
        elif path == "/big":
            body = b"c" * (3 * 1024 * 1024)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode() + body)
        elif path == "/brotli":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc")
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for byte in data:
            if self.stopped.is_set():
                return
            conn.sendall(bytes([byte]))
            # A closed client shows as a read of b"" (or a reset) within the second.
            conn.settimeout(1.0)
            try:
                if conn.recv(1) == b"":
                    return
            except TimeoutError:
                pass

    def _wait_for_close(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            while conn.recv(65536):
                pass
        except TimeoutError:
            pass
