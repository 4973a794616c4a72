"""The scheduler's errors. Each class's docstring is its message."""


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
