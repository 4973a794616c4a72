"""The worker's SQL, loaded once from queries.sql beside this module.

Each block of the file is `-- name --`, comment lines that describe it, then the
statement. A block whose name starts with `_` is a fragment: `{_name}` in a statement is
replaced by it when the file is loaded. `run` executes one by name with named parameters,
on a cursor of the worker's own psycopg connection or of Django's (the enqueue path runs
inside the caller's transaction).
"""

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

SQL_FILE = Path(__file__).with_name("queries.sql")
_HEADER = re.compile(r"^-- (\w+) --$", re.MULTILINE)
_PARAMETER = re.compile(r"%\((\w+)\)s")
_CONSTANT = re.compile(r"\{(\w+)\}")
_FRAGMENT = re.compile(r"\{(_\w+)\}")


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    sql: str

    # Cached: run() checks them at every call, and the worker runs a few queries a round.
    @functools.cached_property
    def parameters(self) -> frozenset[str]:
        """The names of the query's parameters, and of the numbers written into it."""
        return frozenset(_PARAMETER.findall(self.sql)) | self.constants

    @functools.cached_property
    def constants(self) -> frozenset[str]:
        """The names of the values written into the statement as literals, not bound."""
        return frozenset(_CONSTANT.findall(self.sql))

    def text(self, params: dict) -> str:
        """The statement with its constants written in (taken out of `params`)."""
        if not self.constants:
            return self.sql
        values = tuple(sorted((name, _hashable(params.pop(name))) for name in self.constants))
        return _with_literals(self.sql, values)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=256)
def _with_literals(text: str, values: tuple) -> str:
    # psycopg quotes each value; a worker sends the same few texts again and again.
    # A % in a value (a queue or handler named "50%") is doubled: the statement is run with
    # named parameters, where a lone % would be read as a placeholder.
    literals = {
        name: sql.SQL(
            sql.Literal(list(value) if isinstance(value, tuple) else value)
            .as_string(None)
            .replace("%", "%%")
        )
        for name, value in values
    }
    return sql.SQL(text).format(**literals).as_string(None)


def load(text: str) -> dict[str, Query]:
    """Parse the blocks of a queries file into name -> Query."""
    queries = {}
    parts = _HEADER.split(text)
    # parts: [preamble, name, body, name, body, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip().splitlines()
        comments = [line for line in lines if line.startswith("--")]
        statement = [line for line in lines if not line.startswith("--")]
        queries[name] = Query(
            name=name,
            description=" ".join(line.removeprefix("--").strip() for line in comments),
            sql="\n".join(statement).strip().removesuffix(";"),
        )
    fragments = {name: queries.pop(name).sql for name in list(queries) if name.startswith("_")}
    for name, query in queries.items():
        text = _FRAGMENT.sub(lambda match: fragments[match[1]], query.sql)
        queries[name] = Query(name=name, description=query.description, sql=text)
    return queries


QUERIES = load(SQL_FILE.read_text())


def run(cursor, name: str, /, **params):
    """Execute the query `name` on `cursor` with `params`; return the cursor."""
    query = QUERIES[name]
    missing = query.parameters - params.keys()
    if missing:
        raise TypeError(f"query {name} needs {', '.join(sorted(missing))}")
    cursor.execute(query.text(params), params)
    return cursor


def copy(cursor, name: str, /):
    """Start the COPY ... FROM STDIN statement `name` on `cursor`; return psycopg's Copy,
    a context manager whose write_row sends one row (in the statement's column order)."""
    return cursor.copy(QUERIES[name].sql)
