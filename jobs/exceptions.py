"""The scheduler's errors. Each class's docstring is its message."""

# Where errors about no one field go (DRF's name, which the API's error shape keeps).
NON_FIELD = "non_field_errors"


class SchedulerError(Exception):
    """The scheduler refused the request."""

    def __init__(self, message: str | None = None, **context):
        self.context = context
        super().__init__(message or (self.__doc__ or "").strip())


class ValidationError(SchedulerError):
    """The job is not valid."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        summary = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        super().__init__(summary)


class CodedMessage(str):
    """A message with a machine-readable code beside it, as DRF's ErrorDetail carries one: a
    transport tells a refusal from a mistake by the code, never by the text."""

    def __new__(cls, text: str, code: str):
        message = super().__new__(cls, text)
        message.code = code
        return message


class QuotaExceeded(ValidationError):
    """The request passes a limit of the owner's account."""

    # Its messages carry one of these codes; the API answers a field's limit with 403 and a
    # count used up with 429 (web.errors.REFUSALS), the admin and jobsctl show the message.
    FIELD_LIMIT = "quota_exceeded"
    COUNT_LIMIT = "quota_reached"

    def __init__(self, errors: dict[str, list[str]], *, code: str, limit: str):
        self.code, self.limit = code, limit
        self.errors = {
            field: [CodedMessage(message, code) for message in messages]
            for field, messages in errors.items()
        }
        # One line for the admin's message and jobsctl: a count is about no field.
        summary = "; ".join(
            " ".join(messages) if field == NON_FIELD else f"{field}: {' '.join(messages)}"
            for field, messages in errors.items()
        )
        SchedulerError.__init__(self, summary, limit=limit)


class InvalidTransition(SchedulerError):
    """This state change is not allowed."""

    def __init__(self, *, obj: str, state: str, action: str):
        super().__init__(f"Cannot {action} a {obj} that is {state}.", state=state, action=action)


class HandlerNotFound(SchedulerError):
    """No handler is registered under this name."""

    def __init__(self, name: str):
        super().__init__(f"No handler is registered under the name {name!r}.", name=name)


class ExecutionCancelled(SchedulerError):
    """The execution was cancelled while it ran."""


class ExecutionTimedOut(SchedulerError):
    """The execution ran past its timeout."""
