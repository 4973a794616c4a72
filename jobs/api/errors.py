"""The scheduler's exceptions in the API's one error shape (web.errors).

jobs.exceptions.ValidationError is a 400 naming each invalid field, InvalidTransition a 409,
and any other SchedulerError a 400 about the request as a whole. `exception_handler` is the
project's DRF EXCEPTION_HANDLER: it maps these onto DRF's exceptions and hands everything to
web.errors, which answers every other exception (accounts' endpoints' too) the same way.
"""

from rest_framework import exceptions, status

from jobs.exceptions import InvalidTransition, SchedulerError
from jobs.exceptions import ValidationError as SchedulerValidationError
from web import errors


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This state change is not allowed."
    default_code = "invalid_transition"


def exception_handler(exc, context):
    """Answer any exception raised in an API view with an Error, the scheduler's included."""
    return errors.exception_handler(as_api_exception(exc), context)


def as_api_exception(exc):
    """Return a scheduler exception as the DRF exception to answer with; others unchanged."""
    if isinstance(exc, SchedulerValidationError):
        return exceptions.ValidationError(exc.errors)
    if isinstance(exc, InvalidTransition):
        return Conflict(str(exc))
    if isinstance(exc, SchedulerError):
        return exceptions.ValidationError({errors.NON_FIELD: [str(exc)]})
    return exc
