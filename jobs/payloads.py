"""Checks on a job's payload that must not recurse: how deep it nests, and NUL characters.

A payload under a kilobyte can nest a few hundred levels, and everything that walks JSON
recursively (json.dumps, jsonschema, repr, a psycopg adapter) then raises RecursionError:
a server error for bad input, and at a depth that depends on how deep the stack already is.
So the depth is measured first, with an explicit stack, and a payload nested deeper than
MAX_PAYLOAD_DEPTH is refused before anything else walks it.
"""

from jobs import conf
from jobs.exceptions import ValidationError


def nested_deeper_than(value, limit: int) -> bool:
    """Return True if `value` has more than `limit` levels of dicts and lists."""
    # An explicit stack of (container, its depth): the walk never goes more than one level
    # past the limit, and a structure that contains itself (in-process callers can pass
    # one) ends as too deep instead of looping.
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def depth_problem(payload, *, limit: int | None = None) -> str | None:
    """Return why `payload` (or any field's value) nests too deep, or None if it does not."""
    limit = conf.MAX_PAYLOAD_DEPTH if limit is None else limit
    return too_deep_message(limit) if nested_deeper_than(payload, limit) else None


def too_deep_message(limit: int | None = None) -> str:
    """Return the message for a value that nests deeper than `limit` (default: the setting)."""
    limit = limit or conf.MAX_PAYLOAD_DEPTH
    return f"Nested too deeply: at most {limit} levels of objects and lists."


def check_depth(payload) -> None:
    """Raise ValidationError on `payload` if it nests too deep to be checked any further."""
    problem = depth_problem(payload)
    if problem is not None:
        raise ValidationError({"payload": [problem]})


def contains_nul(value) -> bool:
    """Return True if any text in `value`, keys included, holds U+0000."""
    # PostgreSQL's jsonb cannot store U+0000: callers refuse it rather than fail on INSERT.
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
