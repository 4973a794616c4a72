"""The engine as it was before flow control, checked out of this repository's history, to
drain beside today's in the same run: "throughput without limits no worse than before"
is then a ratio, not a memory."""

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .common import ROOT, env_for

# The last commit before queues had limits (the parent of the flow-control commit).
BEFORE_FLOW_CONTROL = "b1e19602288755e1dc372c6b339539b52c53d748"


@contextmanager
def checkout(commit: str = BEFORE_FLOW_CONTROL):
    """Yield a directory holding the project at `commit` (a git worktree, removed after), or
    None when this is no git checkout holding it (a shallow clone, an sdist)."""
    if (
        not shutil.which("git")
        or subprocess.run(
            ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True
        ).returncode
    ):
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="bench-before-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(path), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True
        )
        shutil.rmtree(path.parent, ignore_errors=True)


def migrate(tree: Path, url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=tree,
        env=env_for(url),
        check=True,
    )


def start_worker(tree: Path, url: str, *args: str) -> subprocess.Popen:
    """A runworker process of the checked-out engine, with this run's Python and packages."""
    return subprocess.Popen(
        [sys.executable, str(tree / "manage.py"), "runworker", *args],
        cwd=tree,
        env={**env_for(url), "PYTHONPATH": str(tree), "PWD": os.fspath(tree)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
