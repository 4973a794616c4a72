"""The built-in `notification` handler: deliver one event about a job to where it asks.

Notifications are queued by the engine (jobs.notifications) as jobs of this handler. The
addresses and the webhook are read from the job the event is about, when delivering, so a
changed address list applies to pending notifications too; a notification names only a job
of its own owner.
"""

import json

from django.conf import settings
from django.core.mail import EmailMessage

from .registry import register

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


@register("notification", description="Deliver a job event by email or webhook.", schema=SCHEMA)
def notification(payload, ctx):
    from jobs.models import Job

    job = Job.objects.filter(pk=payload["job_id"], owner_id=ctx.job.owner_id).first()
    if job is None:
        return {"skipped": "the job no longer exists"}
    document = event_document(job, payload)
    if payload["channel"] == "email":
        return send_email(job, document)
    return send_webhook(job, document)


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


def send_webhook(job, document: dict) -> dict:
    from .webhook_signing import post_signed

    if not job.notify_webhook_url:
        return {"skipped": "no webhook"}
    status = post_signed(job.notify_webhook_url, document, secret=job.notify_webhook_secret)
    return {"webhook_status": status}
