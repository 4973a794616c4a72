"""Bulk actions over a filter: POST /api/v1/executions/retry|cancel and
/api/v1/jobs/pause|resume|cancel act on every row the list's filters match.

At least one filter is required (an empty query would act on everything the caller may
change). The rows are those the caller may change, filtered as the list filters them; the
work, in batches with one audited service call per row, is jobs.services.bulk's.
"""

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from jobs import policy
from jobs.services import job_cancel, job_pause, job_resume
from jobs.services.bulk import jobs_apply

from . import serializers

# The list's parameters that choose no rows.
NOT_FILTERS = frozenset({"ordering"})


def apply_to_matching(view, rows, apply: Callable, service: Callable) -> Response:
    """Answer {"count": N}: `apply(matching rows, service)` over `rows` as the list's query
    parameters filter them; a 400 and no change without a filter."""
    given = set(view.request.query_params) & set(view.filterset_class.base_filters)
    if not given - NOT_FILTERS:
        raise ValidationError(
            {"filters": ["Give at least one filter, e.g. ?state=dead: this acts on all."]}
        )
    matching = view.filter_queryset(rows.order_by())
    return Response({"count": apply(matching, service)})


class JobBulkMixin:
    """JobViewSet's bulk actions: pause, resume or cancel every job the filters match."""

    bulk_actions = frozenset({"pause_matching", "resume_matching", "cancel_matching"})

    def _jobs_matching(self, service: Callable) -> Response:
        # The scheduler's own jobs are not changed through the API (policy.changed_through_api).
        changeable = policy.jobs_for(self.request.user, policy.CHANGE).exclude(owner=None)
        return apply_to_matching(self, changeable, jobs_apply, service)

    @extend_schema(request=None, responses=serializers.BulkCountSerializer)
    @action(detail=False, methods=["post"], url_path="pause", url_name="pause-matching")
    def pause_matching(self, request):
        """Pause every job the filters match.

        Takes the list's filter parameters (at least one: `?handler=report&state=active`)
        and pauses each matching job you may change that is active, one at a time, each
        audited; answers how many.
        """
        return self._jobs_matching(job_pause)

    @extend_schema(request=None, responses=serializers.BulkCountSerializer)
    @action(detail=False, methods=["post"], url_path="resume", url_name="resume-matching")
    def resume_matching(self, request):
        """Resume every job the filters match.

        As pause: the list's filter parameters (at least one), each matching paused job you
        may change, each audited; answers how many.
        """
        return self._jobs_matching(job_resume)

    @extend_schema(request=None, responses=serializers.BulkCountSerializer)
    @action(detail=False, methods=["post"], url_path="cancel", url_name="cancel-matching")
    def cancel_matching(self, request):
        """Cancel every job the filters match, for good.

        As pause: the list's filter parameters (at least one), each matching active or
        paused job you may change, each audited; answers how many.
        """
        return self._jobs_matching(job_cancel)
