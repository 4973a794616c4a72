"""A TCP relay to the test database's server, listening where a test says, that can be cut:
while cut, nothing crosses it either way (what is sent waits, as on a dead link)."""

import contextlib
import os
import socket
import threading

from django.db import connection

from tests.conftest import database_url


class Link:
    """A relay from a port on `listen` (loopback by default) to the test database's server."""

    def __init__(self, listen: str = "127.0.0.1"):
        settings = connection.settings_dict
        host, port = settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)
        if host.startswith("/"):  # the embedded server: its unix socket
            self.upstream = (socket.AF_UNIX, os.path.join(host, f".s.PGSQL.{port}"))
        else:
            self.upstream = (socket.AF_INET, (host, port))
        self.open = threading.Event()
        self.open.set()
        self.closing = False
        self.listen = listen
        self.listener = socket.create_server((listen, 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        direct = database_url()
        name = direct.rsplit("/", 1)[1]
        user = connection.settings_dict["USER"] or ""
        password = connection.settings_dict["PASSWORD"]
        secret = f":{password}" if password else ""
        return f"postgres://{user}{secret}@{self.listen}:{self.port}/{name.split('?')[0]}"

    def cut(self) -> None:
        self.open.clear()

    def heal(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.closing = True
        self.open.set()
        for sock in self.sockets:
            _hang_up(sock)

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            family, address = self.upstream
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(address)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:  # one side closed: close the other, so its session ends too
                _hang_up(sink)
                return
            self.open.wait()  # cut: the bytes wait here
            try:
                sink.sendall(data)
            except OSError:
                _hang_up(source)
                return


def _hang_up(sock: socket.socket) -> None:
    # shutdown, not only close: a close leaves a thread blocked reading the socket blocked,
    # and the connection open; shutdown wakes it and tells the other end at once.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
