"""Query filters for the lists. A value that does not parse is a 400 naming the parameter."""

from datetime import UTC

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Execution, Job, Worker
from jobs.selectors import workers
from jobs.states import ExecutionState, JobState, ScheduleType


class AwareDateTimeField(forms.DateTimeField):
    """An ISO 8601 time with its UTC offset, as run_at takes, handed on in UTC.

    UTC because PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 (and Python) allow.
    """

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(
                "Give an ISO 8601 time, e.g. 2030-01-01T09:00:00Z.", code="invalid"
            )
        if timezone.is_naive(parsed):
            raise forms.ValidationError(
                "Give the time with a UTC offset, e.g. 2030-01-01T09:00:00+01:00 or ...Z.",
                code="naive",
            )
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("This time is out of range.", code="overflow") from None


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = AwareDateTimeField


class OrderingFilter(filters.OrderingFilter):
    """Ordering with the primary key last, so equal values cannot shuffle across pages.

    An empty item (`?ordering=,` or `?ordering=name,`) is refused: django-filter would
    skip it and answer in the default order, as if the parameter were right.
    """

    def filter(self, qs, value):
        if value and not all(value):
            raise ValidationError({self.field_name: ["Give field names, without empty items."]})
        qs = super().filter(qs, value)
        return qs.order_by(*qs.query.order_by, "pk") if value else qs


class JobFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(
        distinct=False,  # as ExecutionFilter.state: a column, no row matches twice
        choices=JobState.choices,
        help_text="Repeat to match any of several states.",
    )
    handler = filters.CharFilter()
    schedule_type = filters.ChoiceFilter(choices=ScheduleType.choices)
    queue = filters.CharFilter()
    search = filters.CharFilter(
        method="filter_search", help_text="Words found in the name or the handler name."
    )
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    next_run_before = DateTimeFilter(field_name="next_run_at", lookup_expr="lt")
    ordering = OrderingFilter(
        fields=("created_at", "updated_at", "name", "next_run_at", "last_run_at", "priority"),
        help_text="A field to sort by, `-` first for descending (default: -created_at).",
    )

    class Meta:
        model = Job
        fields = ()

    def filter_search(self, queryset, name, value):
        for word in value.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(handler__icontains=word))
        return queryset


class ExecutionFilter(filters.FilterSet):
    job = filters.UUIDFilter(field_name="job_id")
    # distinct=False: a state is a column of the row, so no row can match twice, and
    # DISTINCT over every column made the dead-letter count sort 100,000 rows at 1M.
    state = filters.MultipleChoiceFilter(
        distinct=False,
        choices=ExecutionState.choices,
        help_text="Repeat to match any of several states; `dead` is the dead-letter list.",
    )
    queue = filters.CharFilter()
    handler = filters.CharFilter(field_name="job__handler")
    worker = filters.CharFilter(field_name="worker__name")
    scheduled_after = DateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    scheduled_before = DateTimeFilter(field_name="scheduled_for", lookup_expr="lt")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    finished_after = DateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = DateTimeFilter(field_name="finished_at", lookup_expr="lt")
    ordering = OrderingFilter(
        fields=("created_at", "scheduled_for", "started_at", "finished_at", "priority"),
        help_text="A field to sort by, `-` first for descending (default: -created_at).",
    )

    class Meta:
        model = Execution
        fields = ()


class WorkerFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=[(s, s) for s in workers.STATUSES], method="by_status")

    class Meta:
        model = Worker
        fields = ()

    def by_status(self, queryset, name, value):
        return workers.with_status(queryset, value)
