"""A throwaway PgBouncer (the machine's, Debian's package) in front of a test's own server.

    with PgBouncer(server_port) as bouncer:
        bouncer.url("scheduler")  # postgres://postgres@127.0.0.1:<port>/scheduler

It listens on 127.0.0.1 only, in `transaction` mode unless told otherwise, lets `postgres` in
without a password (the throwaway server trusts it too) and is removed with its directory
afterwards. As root it runs as the PostgreSQL server's user: PgBouncer refuses root.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pgserver import free_port, server_user

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(BINARY).exists()


def version() -> tuple[int, int]:
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout
    major, minor = out.split()[1].split(".")[:2]  # "PgBouncer 1.18.0"
    return int(major), int(minor)


class PgBouncer:
    def __init__(self, server_port: int, *, pool_mode: str = "transaction", pool_size: int = 20):
        self.server_port = server_port
        self.pool_mode = pool_mode
        self.pool_size = pool_size  # server connections per database and user (its default)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.logfile = self.root / "pgbouncer.log"
        self.proc: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 15) -> "PgBouncer":
        (self.root / "users.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.root / 'users.txt'}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            f"logfile = {self.logfile}\n"
            # 1.21 and newer can keep prepared statements (on by default from 1.24): off,
            # as in the releases this test is about (Debian 12's 1.18).
            + ("max_prepared_statements = 0\n" if version() >= (1, 21) else "")
        )
        command = [BINARY, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            user = server_user()
            pw = pwd.getpwnam(user)
            for path in (self.root, *self.root.iterdir()):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            # setpriv execs PgBouncer itself: the process started is the one to stop.
            ids = [f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]
            command = ["setpriv", *ids, *command]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PgBouncer did not start: {self.log()}")
            time.sleep(0.05)
        return self

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def remove(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # PgBouncer 1.18's immediate shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgBouncer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()
