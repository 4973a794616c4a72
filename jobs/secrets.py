"""Secret payload fields: stored and given to the handler, never shown back.

A handler's JSON Schema marks a property secret with the standard keyword `"writeOnly": true`
("may be sent, never returned"). Whatever shows a payload (the API, the admin, jobsctl, the
audit trail) shows it through `masked()`: each secret value replaced by MASK. A secret object
(the webhook's `headers`) keeps its keys, each value masked, so a reader still sees which
headers are set but not what they hold.

Whoever edits a job may send the mask back where a secret was: `restored()` puts the stored
value back, so a job read, changed and written again keeps its secrets, and any other value
replaces the stored one. A payload of a handler this process has not registered is shown as
it is: without its schema, nothing says which of its fields are secret.
"""

from collections.abc import Callable
from typing import Any

from .exceptions import HandlerNotFound
from .registry import get_handler

MASK = "********"

Path = tuple[str, ...]


def paths_in(schema: dict, prefix: Path = ()) -> tuple[Path, ...]:
    """Return where `schema`'s properties marked writeOnly are, nested objects included."""
    found: list[Path] = []
    properties = schema.get("properties") if isinstance(schema, dict) else None
    for name, sub in (properties or {}).items():
        if not isinstance(sub, dict):
            continue
        if sub.get("writeOnly") is True:
            found.append((*prefix, name))
        else:
            found.extend(paths_in(sub, (*prefix, name)))
    return tuple(found)


def secret_paths(handler: str) -> tuple[Path, ...]:
    """Return the secret fields of `handler`'s payload (none for an unregistered handler)."""
    try:
        schema = get_handler(handler).schema
    except HandlerNotFound:
        return ()
    return paths_in(schema)


def masked(handler: str, payload: Any, *, mask: Callable[[Any], Any] = lambda _value: MASK):
    """Return a copy of `payload` with each secret value of `handler`'s schema masked.

    `mask(value)` gives what stands in for one secret value (MASK by default); a secret
    object keeps its keys and has each of its values masked.
    """
    paths = secret_paths(handler)
    if not paths or not isinstance(payload, dict):
        return payload
    result = _copy_along(payload, paths)
    for path in paths:
        parent = _parent(result, path)
        if parent is None or path[-1] not in parent:
            continue
        value = parent[path[-1]]
        if isinstance(value, dict):
            parent[path[-1]] = {key: mask(item) for key, item in value.items()}
        else:
            parent[path[-1]] = mask(value)
    return result


def restored(handler: str, payload: Any, *, stored_handler: str, stored: Any):
    """Return `payload` with each MASK sent for a secret replaced by the stored value.

    Only while the handler stays the same: a secret is never carried to another handler's
    payload. A key of a secret object that is left out is removed; a new value replaces.
    """
    paths = secret_paths(handler)
    if not paths or handler != stored_handler or not isinstance(payload, dict):
        return payload
    if not isinstance(stored, dict):
        return payload
    result = _copy_along(payload, paths)
    for path in paths:
        parent, old_parent = _parent(result, path), _parent(stored, path)
        name = path[-1]
        if parent is None or old_parent is None or name not in parent or name not in old_parent:
            continue
        value, old = parent[name], old_parent[name]
        if value == MASK:
            parent[name] = old
        elif isinstance(value, dict) and isinstance(old, dict):
            parent[name] = {
                key: old[key] if item == MASK and key in old else item
                for key, item in value.items()
            }
    return result


def _parent(payload: dict, path: Path) -> dict | None:
    """Return the object that holds `path`'s last name, or None if the payload has none."""
    node = payload
    for name in path[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _copy_along(payload: dict, paths: tuple[Path, ...]) -> dict:
    """Copy the objects on the way to each secret, so masking never touches the original."""
    result = dict(payload)
    for path in paths:
        node = result
        for name in path[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                break
            node[name] = child = dict(child)
            node = child
    return result
