"""The API reads JSON only, and refuses documents nested too deep to handle safely."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from jobs import conf, payloads

# Levels of objects and lists in a request body. A field's value one level down may nest
# up to MAX_PAYLOAD_DEPTH and get a field error past it; deeper than this, the body is
# refused whole, the same way however deep the stack is when a view reads it.
MAX_BODY_DEPTH = 64


def max_body_depth() -> int:
    """Return how deep a request body may nest: never less than a payload may, plus one."""
    return max(MAX_BODY_DEPTH, conf.MAX_PAYLOAD_DEPTH + 1)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested too deep (a 400, not a server error)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_depth()
        too_deep = f"JSON parse error - the document is nested too deeply (at most {limit} levels)."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The C decoder recurses once per level: a body of brackets exhausts the stack.
            raise ParseError(too_deep) from None
        # A body that decoded may still be too deep for what reads it next (str() in DRF's
        # fields, json.dumps, jsonschema all recurse), and where that breaks depends on how
        # deep the stack is by then: refuse it here, walking it with an explicit stack.
        if payloads.nested_deeper_than(data, limit):
            raise ParseError(too_deep)
        return data
