"""Payload schemas from DRF serializers: `@register(name, serializer=MyPayloadSerializer)`.

The serializer validates the payload when a job is created (with every rule it has, custom
`validate_<field>` methods included), and the JSON Schema derived from its fields is what
the API's handler list shows. Fields this module does not know become "any value" in the
schema; the serializer still checks them.
"""

from rest_framework import serializers

STRING_FORMATS = (
    (serializers.EmailField, {"format": "email"}),
    (serializers.URLField, {"format": "uri"}),
    (serializers.UUIDField, {"format": "uuid"}),
    (serializers.DateTimeField, {"format": "date-time"}),
    (serializers.DateField, {"format": "date"}),
    (serializers.TimeField, {"format": "time"}),
    (serializers.DurationField, {"format": "duration"}),
)


def schema_for(serializer_class: type[serializers.Serializer]) -> dict:
    """Return the JSON Schema of the payloads `serializer_class` accepts."""
    return _object_schema(serializer_class())


def errors_of(serializer_class: type[serializers.Serializer], payload: dict) -> list[str]:
    """Return the serializer's errors for `payload`, as "field: message" lines."""
    serializer = serializer_class(data=payload)
    if serializer.is_valid():
        return []
    return list(_flatten(serializer.errors))


def _object_schema(serializer: serializers.Serializer) -> dict:
    properties, required = {}, []
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        properties[name] = _field_schema(field)
        if field.required:
            required.append(name)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _field_schema(field: serializers.Field) -> dict:
    schema = _base_schema(field)
    if field.help_text:
        schema["description"] = str(field.help_text)
    if getattr(field, "allow_null", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def _base_schema(field: serializers.Field) -> dict:
    if isinstance(field, serializers.ListSerializer):
        return {"type": "array", "items": _object_schema(field.child)}
    if isinstance(field, serializers.Serializer):
        return _object_schema(field)
    if isinstance(field, serializers.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, serializers.IntegerField):
        return _bounded({"type": "integer"}, field.min_value, field.max_value)
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return _bounded({"type": "number"}, field.min_value, field.max_value)
    if isinstance(field, serializers.MultipleChoiceField):
        return {"type": "array", "items": {"enum": list(field.choices)}, "uniqueItems": True}
    if isinstance(field, serializers.ChoiceField):
        return {"enum": list(field.choices)}
    if isinstance(field, serializers.ListField):
        schema = {"type": "array", "items": _field_schema(field.child)}
        if field.min_length is not None:
            schema["minItems"] = field.min_length
        if field.max_length is not None:
            schema["maxItems"] = field.max_length
        return schema
    if isinstance(field, serializers.DictField):
        return {"type": "object", "additionalProperties": _field_schema(field.child)}
    if isinstance(field, serializers.JSONField):
        return {}
    for field_class, extra in STRING_FORMATS:
        if isinstance(field, field_class):
            return {"type": "string", **extra}
    if isinstance(field, serializers.CharField):
        schema = {"type": "string"}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        min_length = field.min_length or (0 if field.allow_blank else 1)
        if min_length:
            schema["minLength"] = min_length
        return schema
    return {}


def _bounded(schema: dict, minimum, maximum) -> dict:
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _flatten(errors, prefix: str = ""):
    if isinstance(errors, dict):
        for key, value in errors.items():
            where = f"{prefix}/{key}" if prefix else str(key)
            yield from _flatten(value, "" if key == "non_field_errors" and not prefix else where)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, dict | list):
                yield from _flatten(value, f"{prefix}/{index}" if prefix else str(index))
            else:
                yield f"{prefix}: {value}" if prefix else str(value)
    else:
        yield f"{prefix}: {errors}" if prefix else str(errors)
