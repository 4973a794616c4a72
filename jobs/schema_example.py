"""An example value read from a JSON Schema: the payload a user starts from in the job form.

The schema's own `examples` win; otherwise the value is built from its shape: each required
property (and each optional one with a default or examples) with its default, first example
or first allowed value, else the least value its type and bounds allow. The caller checks the
result against the schema: a schema too clever for this reading gets no example, not a wrong
one.
"""

from typing import Any

# Strings of a known format, so that a built example passes the format check.
FORMATTED = {
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "date-time": "2030-01-01T09:00:00Z",
    "date": "2030-01-01",
}
MAX_DEPTH = 8  # a recursive schema ($ref to itself) is not followed for ever


def example_of(schema: Any, depth: int = 0) -> Any:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("examples", "enum"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example_of(schema[key][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema, depth)
    if kind == "array":
        count = schema.get("minItems", 0)
        return [example_of(schema.get("items", {}), depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "string":
        return FORMATTED.get(schema.get("format"), "x" * schema.get("minLength", 0))
    if kind == "boolean":
        return False
    return None


def _object(schema: dict, depth: int) -> dict:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    return {
        name: example_of(sub, depth + 1)
        for name, sub in properties.items()
        if name in required or (isinstance(sub, dict) and ("default" in sub or "examples" in sub))
    }


def _number(schema: dict, *, integer: bool):
    value = schema.get("minimum")
    if value is None and "exclusiveMinimum" in schema:
        value = schema["exclusiveMinimum"] + 1
    if value is None:
        value = 0
    maximum = schema.get("maximum")
    if maximum is not None and value > maximum:
        value = maximum
    return int(value) if integer else value
