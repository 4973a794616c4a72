"""Query parameters are checked like body fields: what an endpoint does not take is a 400.

A typo such as `?stat=dead` would otherwise list everything, silently. An endpoint takes
the parameters its schema documents: lists take their filters and `page`/`page_size`,
other endpoints none. Each is given once (filters on several values excepted) and never
empty: leave a parameter out instead.
"""

from django_filters import MultipleChoiceFilter
from rest_framework.exceptions import ValidationError


class StrictQueryMixin:
    # Actions that answer a paginated, filtered list.
    list_actions = frozenset({"list"})

    def initial(self, request, *args, **kwargs):
        # Authentication, permissions and throttles first: a stranger gets 401, not 400.
        super().initial(request, *args, **kwargs)
        errors = query_errors(request.query_params, self.query_parameters())
        if errors:
            raise ValidationError(errors)

    def query_parameters(self) -> dict[str, bool]:
        """Return the query parameters this request may carry -> whether they may repeat."""
        if getattr(self, "action", None) not in self.list_actions:
            return {}
        allowed = {}
        paginator = getattr(self, "paginator", None)
        if paginator is not None:
            allowed[paginator.page_query_param] = False
            allowed[paginator.page_size_query_param] = False
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None and self.filter_backends:
            for name, query_filter in filterset_class.base_filters.items():
                allowed[name] = isinstance(query_filter, MultipleChoiceFilter)
        return allowed


def query_errors(query, allowed: dict[str, bool]) -> dict[str, list[str]]:
    """Return parameter -> problems of `query` against `allowed` (name -> may repeat)."""
    errors = {}
    for name, values in query.lists():
        if name not in allowed:
            errors[name] = ["Unknown query parameter."]
        elif len(values) > 1 and not allowed[name]:
            errors[name] = ["Give this parameter once."]
        elif any(not value.strip() for value in values):
            # Blank after trimming too: a form field strips " " or "\f" to nothing and then
            # ignores the filter, so the request would answer as if it had none.
            errors[name] = ["Give a value, or leave the parameter out."]
    return errors
