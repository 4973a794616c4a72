"""The handler registry: extra checks, entry points, and what every built-in declares."""

import logging
import sys

import pytest

from handlers import registry
from handlers.registry import discover_entry_points, get_handler, register


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
