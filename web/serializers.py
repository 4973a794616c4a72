"""Serializers that refuse what they do not take, instead of silently dropping it."""

from rest_framework import serializers


class StrictFieldsMixin:
    """Refuse fields the serializer does not accept, and values given for read-only ones.

    `value_problem` may refuse a value before its field sees it (the scheduler refuses values
    nested too deep there: DRF's fields call str() or json.dumps() on what they are given,
    and those recurse).
    """

    def value_problem(self, value) -> str | None:
        """Return why `value` is refused before its field parses it, or None to let it be."""
        return None

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, dict):
            for name in sorted(set(data) - set(self.fields)):
                errors[name] = ["Unknown field."]
            for name in sorted(set(data) & set(self.fields)):
                if self.fields[name].read_only:
                    errors[name] = ["This field is read-only."]
                elif problem := self.value_problem(data[name]):
                    errors[name] = [problem]
            if errors:
                data = {name: value for name, value in data.items() if name not in errors}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            errors = {**exc.detail, **errors}
        if errors:
            raise serializers.ValidationError(errors)
        return value
