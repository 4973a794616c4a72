"""Page-number pagination: `{count, next, previous, results}` with `page` and `page_size`."""

from django.conf import settings
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    page_size_query_description = "Results per page (at most API_MAX_PAGE_SIZE, default 500)."

    @property
    def max_page_size(self) -> int:
        # Read per request, so the setting (and tests overriding it) apply without a restart.
        return settings.API_MAX_PAGE_SIZE

    @property
    def page_size(self) -> int:
        return settings.API_PAGE_SIZE
