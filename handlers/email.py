"""The built-in `email` handler: one message through Django's email framework.

The backend comes from `EMAIL_URL` (SMTP in production, the console in `make run`, locmem in
tests). The sender is always `DEFAULT_FROM_EMAIL`: a payload cannot speak for another
address. The recipients (to + cc + bcc) are bounded by `EMAIL_MAX_RECIPIENTS`, checked when
the job is created and again when it runs; the emails an ordinary user's jobs send in a day
by QUOTA_EMAILS_PER_DAY (jobs.quotas), counted from the `recipients` each result records.
"""

from email.utils import make_msgid

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.utils.html import strip_tags

from jobs import conf, quotas
from jobs.exceptions import SchedulerError

from .registry import register

ADDRESS_LIST = {"type": "array", "items": {"type": "string", "maxLength": 254}, "maxItems": 1000}

SCHEMA = {
    "type": "object",
    "properties": {
        "to": {**ADDRESS_LIST, "minItems": 1},
        "cc": ADDRESS_LIST,
        "bcc": ADDRESS_LIST,
        "reply_to": ADDRESS_LIST,
        # One line: a newline in a header is how headers get injected.
        "subject": {"type": "string", "maxLength": 998, "pattern": "^[^\r\n]*$"},
        "body": {"type": "string", "maxLength": 1_000_000},
        "html": {"type": "string", "maxLength": 1_000_000},
    },
    "required": ["to", "subject"],
    "anyOf": [{"required": ["body"]}, {"required": ["html"]}],
    "additionalProperties": False,
}


class EmailError(SchedulerError):
    """The email cannot be sent."""


def max_recipients() -> int:
    return conf.EMAIL_MAX_RECIPIENTS


def address_problems(field: str, addresses: list[str]) -> list[str]:
    """Return a message for each malformed address in `addresses`."""
    problems = []
    for index, address in enumerate(addresses):
        try:
            validate_email(address)
        except DjangoValidationError:
            problems.append(f"{field}/{index}: {address!r} is not an email address.")
    return problems


def recipients_problems(*lists: list[str]) -> list[str]:
    """Return a message if the recipients together pass EMAIL_MAX_RECIPIENTS."""
    count = len({address.lower() for addresses in lists for address in addresses})
    limit = max_recipients()
    if count > limit:
        return [f"{count} recipients; the limit is {limit} (EMAIL_MAX_RECIPIENTS)."]
    return []


def check(payload: dict) -> list[str]:
    problems = []
    for field in ("to", "cc", "bcc", "reply_to"):
        problems.extend(address_problems(field, payload.get(field, [])))
    problems.extend(
        recipients_problems(payload["to"], payload.get("cc", []), payload.get("bcc", []))
    )
    return problems


def send_email(
    *,
    owner_id: int | None,
    to: list[str],
    subject: str,
    body: str = "",
    html: str = "",
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    reply_to: list[str] | None = None,
    attachments: list[tuple[str, str, str]] | None = None,
) -> dict:
    """Send one message on behalf of `owner_id`'s job (plain text, with an HTML alternative
    if given); return what was sent. The owner's QUOTA_EMAILS_PER_DAY is checked first."""
    cc, bcc, reply_to = cc or [], bcc or [], reply_to or []
    problems = recipients_problems(to, cc, bcc)
    if problems:
        raise EmailError(problems[0])
    # Counted as the result records them (one per address), before anything is sent.
    quotas.refuse_sending(owner_id, recipients=len([*to, *cc, *bcc]))
    message_id = make_msgid(domain=_domain())
    message = EmailMultiAlternatives(
        subject=subject,
        # A text part is always there: some clients show nothing else.
        body=body or strip_tags(html),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        headers={"Message-ID": message_id},
        connection=get_connection(fail_silently=False),
    )
    if html:
        message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments or []:
        message.attach(filename, content, mimetype)
    sent = message.send()
    if not sent:
        raise EmailError("The email backend sent nothing.")
    return {"message_id": message_id, "recipients": len(message.recipients())}


@register(
    "email",
    description=(
        "Send an email through Django's email framework: to, cc, bcc, reply_to, subject, "
        "body and/or html. Recipients are bounded by EMAIL_MAX_RECIPIENTS."
    ),
    schema=SCHEMA,
    check=check,
)
def email(payload, ctx):
    result = send_email(
        owner_id=ctx.job.owner_id if ctx.job else None,
        to=payload["to"],
        cc=payload.get("cc"),
        bcc=payload.get("bcc"),
        reply_to=payload.get("reply_to"),
        subject=payload["subject"],
        body=payload.get("body", ""),
        html=payload.get("html", ""),
    )
    ctx.logger.info(
        "Email sent message_id=%s recipients=%s", result["message_id"], result["recipients"]
    )
    return result


def _domain() -> str:
    sender = settings.DEFAULT_FROM_EMAIL
    return sender.rpartition("@")[2].strip(">").strip() or "localhost"
