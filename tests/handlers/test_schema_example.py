"""Example payloads read from handlers' JSON Schemas (the job form starts from them)."""

import pytest

from jobs.registry import Handler, all_handlers
from jobs.schema_example import example_of


def test_every_registered_handler_offers_an_example_its_schema_accepts_or_none():
    handlers = list(all_handlers())
    assert handlers
    for handler in handlers:
        example = handler.example
        assert example is None or handler.validator.is_valid(example), handler.name
    offered = {h.name for h in handlers if h.example is not None}
    assert {"noop", "sleep"} <= offered


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "examples": [{"to": "a"}]}, {"to": "a"}),
        (
            {
                "type": "object",
                "properties": {
                    "seconds": {"type": "number", "minimum": 1},
                    "retries": {"type": "integer", "default": 3},
                    "note": {"type": "string"},
                },
                "required": ["seconds"],
            },
            {"seconds": 1, "retries": 3},
        ),
        ({"type": "string", "format": "email"}, "user@example.com"),
        ({"type": "array", "items": {"type": "string", "minLength": 2}, "minItems": 1}, ["xx"]),
        ({"enum": ["daily", "weekly"]}, "daily"),
        ({"type": ["null", "integer"], "exclusiveMinimum": 4}, 5),
        ({"anyOf": [{"type": "boolean"}, {"type": "string"}]}, False),
    ],
)
def test_an_example_is_read_from_the_schemas_shape(schema, expected):
    assert example_of(schema) == expected


def test_a_schema_the_reading_cannot_satisfy_offers_no_example():
    # The built value (an empty string) breaks the pattern: no example rather than a wrong one.
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "required": ["code"],
    }
    handler = Handler(name="strict", func=lambda payload, ctx: None, schema=schema)
    assert handler.example is None
