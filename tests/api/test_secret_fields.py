"""Secret payload fields (writeOnly in a handler's schema) through the API, jobsctl and the
audit trail: stored and given to the handler, never shown back."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from jobs import secrets
from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState
from tests.conftest import wait_for
from tests.handlers.conftest import serve

pytestmark = pytest.mark.django_db

SECRET = "Bearer s3cret"
MASK = secrets.MASK
HOOK = "https://hooks.example.com/in"


def webhook_job(client, url: str = HOOK, **fields) -> dict:
    """Create alice's one-time webhook job, carrying the secret header, through the API."""
    body = {
        "name": "hook",
        "handler": "webhook",
        "payload": {"url": url, "headers": {"Authorization": SECRET, "X-Trace": "tr4ce-1"}},
        "schedule_type": "once",
        "run_at": (timezone.now() + timedelta(days=1)).isoformat(),
        **fields,
    }
    response = client.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def hook_server():
    """An HTTP server on loopback that records the requests it receives."""
    yield from serve()


def stored_headers(job_id) -> dict:
    return Job.objects.get(pk=job_id).payload["headers"]


def audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("action", "changes")))


def test_the_webhook_schema_marks_its_headers_write_only(alice):
    handlers = alice.get("/api/v1/handlers").json()
    listed = handlers["results"] if isinstance(handlers, dict) else handlers
    webhook = next(h for h in listed if h["name"] == "webhook")

    assert webhook["schema"]["properties"]["headers"]["writeOnly"] is True


def test_create_get_and_list_never_show_a_secret_header(alice):
    created = webhook_job(alice)

    detail = alice.get(f"/api/v1/jobs/{created['id']}")
    listed = alice.get("/api/v1/jobs")

    for response_text in (json.dumps(created), detail.content.decode(), listed.content.decode()):
        assert "s3cret" not in response_text
        assert "tr4ce-1" not in response_text
    # The header names stay visible; each value is masked.
    assert detail.json()["payload"]["headers"] == {"Authorization": MASK, "X-Trace": MASK}
    assert detail.json()["payload"]["url"] == HOOK
    assert stored_headers(created["id"]) == {"Authorization": SECRET, "X-Trace": "tr4ce-1"}


def test_a_job_read_and_sent_back_keeps_its_secrets(alice):
    created = webhook_job(alice)
    payload = alice.get(f"/api/v1/jobs/{created['id']}").json()["payload"]

    patched = alice.patch(
        f"/api/v1/jobs/{created['id']}", {"name": "renamed", "payload": payload}, format="json"
    )

    assert patched.status_code == 200, patched.content
    assert "s3cret" not in patched.content.decode()
    assert stored_headers(created["id"]) == {"Authorization": SECRET, "X-Trace": "tr4ce-1"}
    assert Job.objects.get(pk=created["id"]).name == "renamed"


def test_put_of_the_whole_job_as_read_keeps_its_secrets(alice):
    created = webhook_job(alice)
    job = alice.get(f"/api/v1/jobs/{created['id']}").json()
    writable = {
        name: job[name]
        for name in ("name", "handler", "payload", "schedule_type", "run_at", "timezone")
    }

    response = alice.put(f"/api/v1/jobs/{created['id']}", writable, format="json")

    assert response.status_code == 200, response.content
    assert stored_headers(created["id"])["Authorization"] == SECRET


def test_a_new_value_replaces_the_secret_and_a_left_out_header_is_removed(alice):
    created = webhook_job(alice)
    payload = {"url": HOOK, "headers": {"Authorization": "Bearer n3w", "X-Trace": MASK}}

    response = alice.patch(f"/api/v1/jobs/{created['id']}", {"payload": payload}, format="json")
    assert response.status_code == 200, response.content
    assert stored_headers(created["id"]) == {"Authorization": "Bearer n3w", "X-Trace": "tr4ce-1"}
    assert "n3w" not in response.content.decode()

    response = alice.patch(
        f"/api/v1/jobs/{created['id']}",
        {"payload": {"url": HOOK, "headers": {"X-Trace": MASK}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert stored_headers(created["id"]) == {"X-Trace": "tr4ce-1"}


def test_a_mask_for_a_header_never_stored_is_taken_as_typed(alice):
    created = webhook_job(alice)
    payload = {"url": HOOK, "headers": {"Authorization": MASK, "X-New": MASK}}

    alice.patch(f"/api/v1/jobs/{created['id']}", {"payload": payload}, format="json")

    assert stored_headers(created["id"]) == {"Authorization": SECRET, "X-New": MASK}


def test_the_audit_trail_never_holds_a_secret_but_shows_that_it_changed(alice):
    created = webhook_job(alice)
    job_url = f"/api/v1/jobs/{created['id']}"
    alice.patch(
        job_url,
        {"payload": {"url": HOOK, "headers": {"Authorization": "Bearer n3w", "X-Trace": MASK}}},
        format="json",
    )
    alice.patch(
        job_url,
        {"notify_webhook_url": HOOK, "notify_on": ["failure"], "notify_webhook_secret": "sh4red"},
        format="json",
    )
    alice.patch(job_url, {"notify_webhook_secret": "sh4red-2"}, format="json")
    alice.delete(job_url)

    stored = audit_text()
    shown = alice.get("/api/v1/audit").content.decode()
    for text in (stored, shown):
        for secret in ("s3cret", "n3w", "tr4ce-1", "sh4red"):
            assert secret not in text
    events = {e.action: e for e in AuditEvent.objects.filter(object_id=created["id"])}
    assert set(events) >= {"create", "edit", "delete"}
    header_edit = AuditEvent.objects.filter(action="edit", changes__has_key="payload").get()
    before, after = header_edit.changes["payload"]
    assert before["headers"] == after["headers"] == {"Authorization": MASK, "X-Trace": MASK}
    secret_edits = AuditEvent.objects.filter(
        action="edit", changes__has_key="notify_webhook_secret"
    )
    assert [e.changes["notify_webhook_secret"] for e in secret_edits.order_by("id")] == [
        ["", MASK],
        [MASK, MASK],
    ]
    assert events["create"].changes["payload"][1]["headers"]["Authorization"] == MASK


def test_jobsctl_json_masks_secret_headers(alice):
    created = webhook_job(alice)

    for args in (("show", created["id"]), ("list",)):
        out = StringIO()
        call_command("jobsctl", *args, "--json", stdout=out)
        assert "s3cret" not in out.getvalue()
    out = StringIO()
    call_command("jobsctl", "show", created["id"], "--json", stdout=out)
    assert json.loads(out.getvalue())["payload"]["headers"]["Authorization"] == MASK


@pytest.mark.django_db(transaction=True)
@override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.1/32"])
def test_the_worker_sends_the_real_header_of_a_job_edited_with_the_mask(
    alice, hook_server, start_worker
):
    created = webhook_job(alice, url=f"{hook_server.url}/status/200", max_retries=0)
    payload = alice.get(f"/api/v1/jobs/{created['id']}").json()["payload"]
    assert payload["headers"]["Authorization"] == MASK

    # The round trip moves the run to now: the worker runs what the PATCH left stored.
    response = alice.patch(
        f"/api/v1/jobs/{created['id']}",
        {"payload": payload, "run_at": timezone.now().isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    worker = start_worker(
        "--concurrency", "1", "--burst", env={"WEBHOOK_ALLOWED_ADDRESSES": "127.0.0.1/32"}
    )

    execution = wait_for(
        lambda: Execution.objects.filter(job_id=created["id"], finished_at__isnull=False).first(),
        message=f"the webhook run; worker output:\n{worker.output()}",
    )
    assert execution.state == ExecutionState.SUCCEEDED, execution.error
    [received] = hook_server.requests
    assert received["headers"]["Authorization"] == SECRET
    assert received["headers"]["X-Trace"] == "tr4ce-1"


# --- jobs.secrets on its own ------------------------------------------------------------


def test_masking_leaves_the_stored_payload_alone():
    payload = {"url": HOOK, "headers": {"Authorization": SECRET}}

    shown = secrets.masked("webhook", payload)

    assert shown == {"url": HOOK, "headers": {"Authorization": MASK}}
    assert payload["headers"]["Authorization"] == SECRET


def test_nested_and_scalar_secrets_are_found_in_a_schema():
    schema = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "writeOnly": True},
            "auth": {"type": "object", "properties": {"password": {"writeOnly": True}}},
            "user": {"type": "string"},
        },
    }

    assert secrets.paths_in(schema) == (("token",), ("auth", "password"))


def test_a_mask_is_never_restored_into_another_handlers_payload():
    stored = {"url": HOOK, "headers": {"Authorization": SECRET}}
    sent = {"url": HOOK, "headers": {"Authorization": MASK}}

    assert secrets.restored("webhook", sent, stored_handler="webhook", stored=stored) == stored
    assert secrets.restored("webhook", sent, stored_handler="noop", stored=stored) == sent
