"""Find a PostgreSQL server for the test suite, or start a throwaway one.

    python -m tests.pgserver -- pytest ...

runs the command with DATABASE_URL set to, in this order: DATABASE_URL if already set; a
server on 127.0.0.1:5432 as `postgres`; a throwaway server started from the machine's
PostgreSQL binaries (initdb, pg_ctl) in a temporary directory and removed afterwards. With
none of these it exits 2 with a one-line reason. Tests that restart PostgreSQL use
`ThrowawayPostgres` directly, never the shared server.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Return True if a PostgreSQL server answers at `url`."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout))):
            return True
    except psycopg.Error:
        return False


def find_bindir() -> Path | None:
    """Return a directory holding initdb and pg_ctl, or None."""
    candidates = [os.environ.get("PG_BIN", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += [os.path.dirname(shutil.which("initdb") or "")]
    for directory in candidates:
        if (
            directory
            and (Path(directory) / "initdb").exists()
            and (Path(directory) / "pg_ctl").exists()
        ):
            return Path(directory)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayPostgres:
    """A private PostgreSQL server in a temporary directory: start, stop, restart, remove.

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user.
    """

    def __init__(self, bindir: Path | None = None, port: int | None = None):
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.as_user = None
        if os.geteuid() == 0:
            self.as_user = "postgres"
            pw = pwd.getpwnam(self.as_user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check)

    def init(self) -> "ThrowawayPostgres":
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "--no-sync")
        return self

    def start(self, timeout: float = 30) -> "ThrowawayPostgres":
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -k {self.root}"
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", options, "-w", "start"
        )
        deadline = time.monotonic() + timeout
        while not reachable(self.url, timeout=1):
            if time.monotonic() > deadline:
                raise RuntimeError(f"throwaway PostgreSQL did not start; see {self.logfile}")
            time.sleep(0.1)
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.init().start()

    def __exit__(self, *exc):
        self.remove()


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m tests.pgserver -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(argv)
    if reachable(LOCAL_URL):
        print(f"tests: using the PostgreSQL server at {LOCAL_URL}", flush=True)
        return subprocess.call(argv, env={**os.environ, "DATABASE_URL": LOCAL_URL})
    if find_bindir() is None:
        print(
            "tests: no PostgreSQL: set DATABASE_URL, start a server on 127.0.0.1:5432 (user "
            "postgres), or install the server binaries (e.g. apt-get install postgresql).",
            file=sys.stderr,
        )
        return 2
    with ThrowawayPostgres() as server:
        print(f"tests: started a throwaway PostgreSQL at {server.url}", flush=True)
        return subprocess.call(argv, env={**os.environ, "DATABASE_URL": server.url})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
