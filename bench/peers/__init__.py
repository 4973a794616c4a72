"""The peers `make bench` measures beside the project: PgQueuer and Procrastinate.

Each runs in a virtualenv of its own under .bench-venvs/ (made on first use with pip, from
the pinned versions below) and on a database of its own, through a small script in this
package that imports nothing of the project: `python bench/peers/<peer>_side.py ...`.
"""

import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

from ..common import ROOT

VENVS = ROOT / ".bench-venvs"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Peer:
    name: str  # also its virtualenv's and its database's suffix
    label: str
    requirements: tuple[str, ...]
    script: str  # in this directory; runs in the peer's virtualenv

    @property
    def python(self) -> Path:
        return VENVS / self.name / "bin" / "python"

    def command(self, *args: str) -> list[str]:
        return [str(self.python), str(HERE / self.script), *args]


PGQUEUER = Peer(
    "pgqueuer",
    "PgQueuer 1.6 (asyncpg)",
    ("pgqueuer[asyncpg]==1.6.0",),
    "pgqueuer_side.py",
)
PROCRASTINATE = Peer(
    "procrastinate",
    "Procrastinate 3.10",
    ("procrastinate==3.10.0", "psycopg[binary,pool]>=3.2"),
    "procrastinate_side.py",
)
PEERS = (PGQUEUER, PROCRASTINATE)


def ensure_venv(peer: Peer) -> str | None:
    """Make `peer`'s virtualenv if it is missing; return None, or why it cannot be had."""
    stamp = VENVS / peer.name / (".installed-" + "-".join(peer.requirements).replace("/", "_"))
    if stamp.exists():
        return None
    VENVS.mkdir(exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENVS / peer.name)
    try:
        subprocess.run(
            [str(peer.python), "-m", "pip", "install", "--quiet", *peer.requirements],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["pip failed"]
        return f"pip install {' '.join(peer.requirements)} failed: {last[0]}"
    except subprocess.TimeoutExpired:
        return "pip install timed out (is PyPI reachable?)"
    stamp.touch()
    return None
