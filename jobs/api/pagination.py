"""Page-number pagination: `{count, next, previous, results}` with `page` and `page_size`.

`page_size` is bounded by API_MAX_PAGE_SIZE: a value outside 1..max is a 400 naming it,
rather than silently replaced. A `page` that is not a number from 1 on is a 400 too; a page
past the end is a 404.
"""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

from jobs import conf


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    last_page_strings = ()  # `page` is a number, as the schema says

    # Read per request, so the settings (and tests overriding them) apply without a restart.
    @property
    def page_size(self) -> int:
        return conf.API_PAGE_SIZE

    @property
    def max_page_size(self) -> int:
        return conf.API_MAX_PAGE_SIZE

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, "1")
        if not (_is_whole_number(raw) and int(raw) >= 1):
            raise ValidationError({self.page_query_param: ["Give a whole number from 1 on."]})
        return raw

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = int(raw) if _is_whole_number(raw) else 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Give a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(
                    minimum=1, maximum=self.max_page_size, default=self.page_size
                )
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
        return parameters


def _is_whole_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 9
