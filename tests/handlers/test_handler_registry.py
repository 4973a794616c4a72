"""The handler registry: extra checks, entry points, and what every built-in declares."""

import logging
import sys

import pytest
from django.utils import timezone
from rest_framework import serializers

from handlers.registry import discover_entry_points, get_handler, register
from jobs import registry
from jobs.exceptions import ValidationError
from jobs.services import job_create


@pytest.fixture
def scratch_registry(monkeypatch):
    """Register test handlers without leaving them behind."""
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))


def test_every_builtin_is_registered_with_a_description_and_a_schema():
    for name in ("noop", "sleep", "email", "webhook", "report", "cleanup", "django_task"):
        handler = get_handler(name)
        assert handler.description, name
        assert handler.schema.get("type") == "object", name
    assert get_handler("django_task").internal is True
    assert get_handler("webhook").internal is False


def test_a_check_runs_only_on_a_payload_that_passed_the_schema(scratch_registry):
    seen = []

    def check(payload):
        seen.append(payload)
        return ["n: must be even."] if payload["n"] % 2 else []

    @register(
        "even",
        schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        check=check,
    )
    def even(payload, ctx):
        return payload["n"]

    handler = get_handler("even")
    assert handler.validate({}) == ["'n' is a required property"]
    assert seen == []
    assert handler.validate({"n": 3}) == ["n: must be even."]
    assert handler.validate({"n": 4}) == []


def test_registering_other_code_under_a_taken_name_is_logged(scratch_registry, caplog):
    def first(payload, ctx):
        return 1

    def second(payload, ctx):
        return 2

    register("twice")(first)
    with caplog.at_level(logging.WARNING, logger="handlers"):
        register("twice")(first)  # the same function again (a re-import): quiet
        assert caplog.records == []
        register("twice")(second)
    assert "re-registered" in caplog.text
    assert get_handler("twice").func is second


def make_distribution(root, name: str, entry_points: str, modules: dict[str, str]):
    """Lay out an installed distribution: its dist-info (with entry points) and its modules."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)


def test_an_installed_package_registers_handlers_through_its_entry_point(
    tmp_path, monkeypatch, scratch_registry
):
    make_distribution(
        tmp_path,
        "acme_handlers",
        "[django_pgscheduler.handlers]\nacme = acme_scheduler_handlers\n",
        {
            "acme_scheduler_handlers": (
                "from handlers.registry import register\n"
                "@register('acme.greet', description='Say hello.',"
                " schema={'type': 'object', 'required': ['name']})\n"
                "def greet(payload, ctx):\n"
                "    return 'hello ' + payload['name']\n"
            )
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_scheduler_handlers", raising=False)

    assert "acme" in discover_entry_points()

    handler = get_handler("acme.greet")
    assert handler.description == "Say hello."
    assert handler.func({"name": "Ada"}, None) == "hello Ada"


def test_a_broken_entry_point_is_logged_and_skipped(tmp_path, monkeypatch, caplog):
    make_distribution(
        tmp_path,
        "broken_handlers",
        "[django_pgscheduler.handlers]\nbroken = broken_scheduler_handlers\n",
        {"broken_scheduler_handlers": "raise RuntimeError('cannot start')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    with caplog.at_level(logging.ERROR, logger="handlers"):
        loaded = discover_entry_points()

    assert "broken" not in loaded
    assert "Cannot load handler entry point name=broken" in caplog.text


class Recipient(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField(max_length=50, required=False)


class InvitePayload(serializers.Serializer):
    team = serializers.CharField(max_length=20, help_text="The team's slug.")
    seats = serializers.IntegerField(min_value=1, max_value=10)
    role = serializers.ChoiceField(choices=["member", "admin"], default="member")
    recipients = Recipient(many=True)
    tags = serializers.ListField(child=serializers.CharField(), max_length=3, required=False)
    note = serializers.CharField(allow_null=True, allow_blank=True, required=False)

    def validate_team(self, value):
        if value.startswith("-"):
            raise serializers.ValidationError("must not start with a dash.")
        return value


def test_a_serializer_gives_the_handler_its_schema_and_its_validation(scratch_registry):
    @register("invite", description="Invite people.", serializer=InvitePayload)
    def invite(payload, ctx):
        return len(payload["recipients"])

    handler = get_handler("invite")
    assert handler.schema["required"] == ["team", "seats", "recipients"]
    assert handler.schema["additionalProperties"] is False
    properties = handler.schema["properties"]
    assert properties["team"] == {
        "type": "string",
        "maxLength": 20,
        "minLength": 1,
        "description": "The team's slug.",
    }
    assert properties["seats"] == {"type": "integer", "minimum": 1, "maximum": 10}
    assert properties["role"] == {"enum": ["member", "admin"]}
    assert properties["recipients"]["items"]["properties"]["email"]["format"] == "email"
    assert properties["tags"] == {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "maxItems": 3,
    }
    assert properties["note"]["type"] == ["string", "null"]

    good = {"team": "core", "seats": 2, "recipients": [{"email": "a@example.com"}]}
    assert handler.validate(good) == []
    assert handler.validate({**good, "seats": 11}) == [
        "seats: 11 is greater than the maximum of 10"
    ]
    # What only the serializer knows: its validate_<field> methods, nested field rules.
    assert handler.validate({**good, "team": "-core"}) == ["team: must not start with a dash."]
    assert handler.validate({**good, "recipients": [{"email": "nope"}]}) == [
        "recipients/0/email: Enter a valid email address."
    ]


@pytest.mark.django_db
def test_a_payload_a_serializer_refuses_is_refused_when_the_job_is_created(scratch_registry):
    register("invite", serializer=InvitePayload)(lambda payload, ctx: None)

    with pytest.raises(ValidationError) as refused:
        job_create(
            name="invite",
            handler="invite",
            payload={"team": "-x", "seats": 1, "recipients": []},
            schedule_type="once",
            run_at=timezone.now(),
        )
    assert refused.value.errors["payload"] == ["team: must not start with a dash."]
