"""Every way a job can be invalid is a 400 naming the field, through the service layer."""

import pytest

from jobs import conf
from jobs.api.serializers import JobSerializer
from jobs.models import Job

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs"
VALID = {"name": "x", "handler": "noop", "schedule_type": "interval", "interval_seconds": 60}


def create(client, **changes):
    body = {**VALID, **changes}
    return client.post(JOBS, {k: v for k, v in body.items() if v is not ...}, format="json")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        # Unknown and read-only fields are refused, not dropped.
        ({"colour": "blue"}, "colour", "Unknown field."),
        ({"state": "paused"}, "state", "This field is read-only."),
        ({"next_run_at": "2030-01-01T00:00:00Z"}, "next_run_at", "This field is read-only."),
        # Wrong types.
        ({"priority": "high"}, "priority", "A valid integer is required."),
        ({"interval_seconds": 1.5}, "interval_seconds", "A valid integer is required."),
        ({"payload": [1, 2]}, "payload", "The payload must be a JSON object."),
        ({"payload": "text"}, "payload", "The payload must be a JSON object."),
        ({"name": ["x"]}, "name", "Not a valid string."),
        ({"notify_on": "failure"}, "notify_on", 'Expected a list of items but got type "str".'),
        ({"priority": 40000}, "priority", "less than or equal to 32767"),
        ({"max_retries": -1}, "max_retries", "greater than or equal to 0"),
        ({"schedule_type": "weekly"}, "schedule_type", '"weekly" is not a valid choice.'),
        ({"name": ...}, "name", "This field is required."),
        ({"payload": {"text": "a\x00b"}}, "payload", "NUL"),
        # Times must be ISO 8601 with an offset.
        (
            {"schedule_type": "once", "interval_seconds": None, "run_at": "2030-01-01T09:00:00"},
            "run_at",
            "with a UTC offset",
        ),
        (
            {"schedule_type": "once", "interval_seconds": None, "run_at": "next tuesday"},
            "run_at",
            "Datetime has wrong format",
        ),
        (
            {"schedule_type": "once", "interval_seconds": None, "run_at": 1700000000},
            "run_at",
            "Datetime has wrong format",
        ),
        # The service layer's rules.
        ({"handler": "no-such-handler"}, "handler", "No handler is registered"),
        (
            {
                "handler": "notification",
                "payload": {
                    "channel": "email",
                    "event": "dead",
                    "job_id": "6f1c2a9e-3b7d-4c55-9a0e-2f4d8b1c7e10",
                    "execution_id": 1,
                },
            },
            "handler",
            "used by the scheduler only",
        ),
        ({"handler": "sleep", "payload": {}}, "payload", "'seconds' is a required property"),
        ({"handler": "sleep", "payload": {"seconds": "1"}}, "payload", "is not of type"),
        ({"interval_seconds": 0}, "interval_seconds", "Must be at least 1 second."),
        ({"interval_seconds": None}, "interval_seconds", "needs interval_seconds"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown timezone"),
        ({"schedule_type": "once", "interval_seconds": None}, "run_at", "needs run_at"),
        ({"schedule_type": "cron", "interval_seconds": None}, "cron", "needs a cron expression"),
        (
            {"schedule_type": "cron", "interval_seconds": None, "cron": "61 * * * *"},
            "cron",
            "Invalid cron expression",
        ),
        (
            {"schedule_type": "cron", "interval_seconds": None, "cron": "* * *"},
            "cron",
            "Expected 5 fields",
        ),
        (
            {"schedule_type": "cron", "interval_seconds": None, "cron": "0 0 30 2 *"},
            "cron",
            "never matches",
        ),
        ({"schedule_type": "cron", "cron": "@daily"}, "interval_seconds", "belongs to interval"),
        ({"max_retries": 1000}, "max_retries", "Must be between 0 and 100."),
        ({"misfire_policy": "sometimes"}, "misfire_policy", "not a valid choice"),
        ({"queue": " "}, "queue", ""),
        ({"notify_on": ["failure"]}, "notify_on", "need notify_emails or notify_webhook_url"),
        ({"notify_emails": ["not-an-address"]}, "notify_emails", "is not an email address"),
    ],
)
def test_an_invalid_job_is_400_with_the_field_and_its_message(alice, changes, field, message):
    response = create(alice, **changes)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["status"] == 400
    assert body["code"] == "invalid"
    assert message in " ".join(body["errors"][field])
    assert field in body["detail"]
    assert not Job.objects.exists()


def test_a_payload_over_the_size_limit_is_400(alice, settings):
    settings.MAX_PAYLOAD_BYTES = 100

    response = create(alice, handler="probe", payload={"mode": "succeed", "value": "x" * 200})

    assert response.status_code == 400
    assert "the limit is 100 bytes" in response.json()["errors"]["payload"][0]


def nested_text(kind: str, levels: int) -> str:
    """Return JSON text with `levels` nested objects or lists, built without recursion."""
    if kind == "objects":
        return '{"a":' * levels + "0" + "}" * levels
    return "[" * levels + "]" * levels


def deep_job_body(kind: str, depth: int) -> str:
    """Return a job's JSON body whose payload nests `depth` levels, the payload being 1."""
    payload = f'{{"mode":"succeed","value":{nested_text(kind, depth - 1)}}}'
    return (
        '{"name":"deep","handler":"probe","schedule_type":"interval",'
        f'"interval_seconds":60,"payload":{payload}}}'
    )


def post_text(client, body: str, path: str = JOBS):
    # Sent as text: the test client's json.dumps would itself recurse on these.
    return client.generic("POST", path, body, content_type="application/json")


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "code", "detail", "errors"}
    assert body["status"] == status
    return body


@pytest.mark.parametrize("kind", ["objects", "lists"])
def test_a_payload_at_the_depth_limit_is_accepted(alice, kind):
    response = post_text(alice, deep_job_body(kind, conf.MAX_PAYLOAD_DEPTH))

    assert response.status_code == 201, response.json()
    assert Job.objects.count() == 1


@pytest.mark.parametrize("kind", ["objects", "lists"])
@pytest.mark.parametrize("depth", [conf.MAX_PAYLOAD_DEPTH + 1, 60])
def test_a_payload_past_the_depth_limit_is_a_field_error(alice, kind, depth):
    response = post_text(alice, deep_job_body(kind, depth))

    body = assert_error_shape(response, 400)
    assert body["code"] == "invalid"
    assert body["errors"] == {
        "payload": [
            f"Nested too deeply: at most {conf.MAX_PAYLOAD_DEPTH} levels of objects and lists."
        ]
    }
    assert not Job.objects.exists()


@pytest.mark.parametrize("kind", ["objects", "lists"])
@pytest.mark.parametrize("depth", [100, 300, 400, 1_000, 10_000])
def test_a_body_nested_far_too_deep_is_refused_whole_by_the_parser(alice, kind, depth):
    # Small (a few KB at most) so the size limit never sees it; these depths used to end in
    # a RecursionError somewhere after parsing, at a depth that varied with the stack.
    response = post_text(alice, deep_job_body(kind, depth))

    body = assert_error_shape(response, 400)
    assert body["code"] == "parse_error"
    assert "nested too deeply" in body["detail"]
    assert not Job.objects.exists()


def test_a_deep_payload_in_a_patch_changes_nothing(alice, make_job):
    job = make_job(handler="probe", payload={"mode": "succeed"})
    payload = f'{{"mode":"succeed","value":{nested_text("lists", 40)}}}'

    response = alice.generic(
        "PATCH", f"{JOBS}/{job.pk}", f'{{"payload":{payload}}}', content_type="application/json"
    )

    body = assert_error_shape(response, 400)
    assert "payload" in body["errors"]
    job.refresh_from_db()
    assert job.payload == {"mode": "succeed"}


@pytest.mark.parametrize("field", ["priority", "schedule_type", "name"])
def test_a_deep_value_in_any_field_is_refused_by_the_parser_on_any_endpoint(alice, field):
    body = f'{{"{field}":{nested_text("lists", 5_000)},"password":"x"}}'

    for path in (JOBS, "/api/v1/auth/token"):
        assert assert_error_shape(post_text(alice, body, path), 400)["code"] == "parse_error"


def nested_value(kind: str, levels: int):
    value = 0 if kind == "objects" else []
    for _ in range(levels):
        value = {"a": value} if kind == "objects" else [value]
    return value


@pytest.mark.parametrize("kind", ["objects", "lists"])
@pytest.mark.parametrize("depth", [conf.MAX_PAYLOAD_DEPTH + 1, 400, 10_000])
def test_the_serializer_refuses_a_deep_payload_without_recursing(kind, depth):
    # Python callers hand the serializer objects no parser has bounded.
    payload = {"mode": "succeed", "value": nested_value(kind, depth - 1)}
    serializer = JobSerializer(data={**VALID, "handler": "probe", "payload": payload})

    assert not serializer.is_valid()
    assert "Nested too deeply" in serializer.errors["payload"][0]


@pytest.mark.parametrize("field", ["priority", "schedule_type", "run_at", "notify_on"])
def test_the_serializer_refuses_a_deep_value_in_any_field(field):
    # str() of a list this deep raises RecursionError: DRF's integer and choice fields do it.
    serializer = JobSerializer(data={**VALID, field: nested_value("lists", 5_000)})

    assert not serializer.is_valid()
    assert "Nested too deeply" in serializer.errors[field][0]


def test_every_problem_of_a_field_round_is_reported_at_once(alice):
    response = create(alice, colour="blue", priority="high", state="x")

    assert set(response.json()["errors"]) == {"colour", "priority", "state"}


def test_every_service_problem_is_reported_at_once(alice):
    response = create(alice, handler="nope", timezone="Nowhere/Town", interval_seconds=0)

    assert set(response.json()["errors"]) == {"handler", "timezone", "interval_seconds"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ('{"name": "x",', "application/json", 400, "parse_error"),
        ("[1, 2, 3]", "application/json", 400, "invalid"),
        ('"just a string"', "application/json", 400, "invalid"),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "parse_error"),
        ('{"x": NaN}', "application/json", 400, "parse_error"),
        ("name=x&handler=noop", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(alice, body, content_type, status, code):
    response = alice.generic("POST", JOBS, body, content_type=content_type)

    assert response.status_code == status
    assert response.json()["code"] == code


def test_an_invalid_patch_changes_nothing(alice, make_job):
    job = make_job()

    response = alice.patch(f"{JOBS}/{job.pk}", {"cron": "bad"}, format="json")

    assert response.status_code == 400
    assert "cron" in response.json()["errors"]
    job.refresh_from_db()
    assert job.cron == ""


def test_an_unknown_field_in_a_patch_is_400(alice, make_job):
    job = make_job()

    response = alice.patch(f"{JOBS}/{job.pk}", {"owner": "bob"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"owner": ["This field is read-only."]}
