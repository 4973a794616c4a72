"""The built-in `notification` handler: deliver one event about a job to where it asks.

Notifications are queued by the engine (jobs.notifications) as jobs of this handler. The
addresses and the webhook are read from the job the event is about, when delivering, so a
changed address list applies to pending notifications too; a notification names only a job
of its own owner.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.core.mail import EmailMessage

from . import webhook
from .registry import register

SIGNATURE_HEADER = "X-Scheduler-Signature"
WEBHOOK_TIMEOUT = 10.0  # seconds

SCHEMA = {
    "type": "object",
    "properties": {
        "channel": {"enum": ["email", "webhook"]},
        "event": {"enum": ["success", "failure", "dead", "recovered"]},
        "job_id": {"type": "string", "format": "uuid"},
        "execution_id": {"type": "integer"},
        "attempt": {"type": "integer"},
        "state": {"type": "string"},
        "error": {"type": "string"},
        "at": {"type": "string"},
    },
    "required": ["channel", "event", "job_id", "execution_id"],
}


def event_document(job, payload: dict) -> dict:
    """The JSON event a webhook receives (and an email describes)."""
    return {
        "event": payload["event"],
        "job": {"id": str(job.pk), "name": job.name, "handler": job.handler, "state": job.state},
        "execution": {
            "id": payload["execution_id"],
            "attempt": payload.get("attempt"),
            "state": payload.get("state"),
            "error": payload.get("error", ""),
        },
        "at": payload.get("at"),
    }


@register(
    "notification",
    description="Deliver a job event by email or webhook (queued by the scheduler itself).",
    schema=SCHEMA,
    internal=True,
)
def notification(payload, ctx):
    from jobs.models import Job

    job = Job.objects.filter(pk=payload["job_id"], owner_id=ctx.job.owner_id).first()
    if job is None:
        return {"skipped": "the job no longer exists"}
    document = event_document(job, payload)
    if payload["channel"] == "email":
        return send_email(job, document)
    return send_webhook(job, document, ctx)


def send_email(job, document: dict) -> dict:
    if not job.notify_emails:
        return {"skipped": "no addresses"}
    execution = document["execution"]
    lines = [
        f"Job: {job.name} ({job.pk})",
        f"Event: {document['event']}",
        f"Execution: {execution['id']}, attempt {execution['attempt']}, {execution['state']}",
    ]
    if execution["error"]:
        lines.append(f"Error: {execution['error']}")
    message = EmailMessage(
        subject=f"[scheduler] {document['event']}: {job.name}",
        body="\n".join(lines) + "\n\n" + json.dumps(document, indent=2),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=job.notify_emails,
    )
    message.send()
    return {"emailed": len(job.notify_emails)}


def send_webhook(job, document: dict, ctx) -> dict:
    """POST the event, signed when the job has a secret, through the webhook's address guard."""
    if not job.notify_webhook_url:
        return {"skipped": "no webhook"}
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": webhook.USER_AGENT,
        "X-Scheduler-Event": document["event"],
    }
    if job.notify_webhook_secret:
        headers[SIGNATURE_HEADER] = "sha256=" + sign(job.notify_webhook_secret, body)
    answer = webhook.request(
        method="POST",
        url=job.notify_webhook_url,
        headers=headers,
        content=body,
        timeout=WEBHOOK_TIMEOUT,
        max_redirects=0,  # a redirected POST would not carry the event
        ctx=ctx,
    )
    return {"webhook_status": answer["status"]}


def sign(secret: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of `body`: what receivers compare with the header."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
