"""The API's views. They parse, call a service, and render; the rules live in jobs.services.

Who may see and do what is jobs.policy's to say: each queryset holds what the user may see
(another user's job or execution is a 404, exactly like one that does not exist), and
`permissions.ObjectPolicy` refuses, with a 403 saying why, an action on an object the user
sees but may not change or delete (jobs.api.permissions).
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import policy
from jobs.exceptions import HandlerNotFound
from jobs.models import Execution, Job
from jobs.registry import all_handlers, get_handler
from jobs.selectors.schedules import schedule_preview
from jobs.selectors.stats import stats_for
from jobs.selectors.workers import worker_rows
from jobs.services import (
    execution_cancel,
    execution_retry,
    job_cancel,
    job_create,
    job_delete,
    job_pause,
    job_reschedule,
    job_resume,
    job_trigger,
    job_update,
)
from jobs.services.bulk import executions_apply
from web.query import StrictQueryMixin

from . import examples, serializers
from .backfill import BackfillMixin
from .bulk import JobBulkMixin, apply_to_matching
from .filters import ExecutionFilter, JobFilter, WorkerFilter
from .permissions import MayViewWorkers, ObjectPolicyMixin


@extend_schema_view(
    list=extend_schema(summary="List your jobs"),
    retrieve=extend_schema(summary="Show a job, with its next runs"),
    create=extend_schema(summary="Create a job", examples=examples.JOB_CREATE),
    update=extend_schema(summary="Replace a job's definition", examples=examples.JOB_UPDATE),
    partial_update=extend_schema(
        summary="Change some of a job's fields", examples=examples.JOB_UPDATE
    ),
    destroy=extend_schema(summary="Delete a job and its history"),
)
@extend_schema(tags=["jobs"])
class JobViewSet(
    BackfillMixin, JobBulkMixin, ObjectPolicyMixin, StrictQueryMixin, viewsets.ModelViewSet
):
    """Jobs: definitions that run a handler with a payload on a schedule.

    A schedule change (PUT, PATCH or reschedule) recomputes next_run_at. PUT needs the
    required fields; fields left out keep their values, as with PATCH.
    """

    serializer_class = serializers.JobSerializer
    filterset_class = JobFilter
    http_method_names = ["get", "post", "put", "patch", "delete"]
    conflict_actions = frozenset(
        {
            "update",
            "partial_update",
            "pause",
            "resume",
            "cancel",
            "trigger",
            "reschedule",
            "backfill",
        }
    )
    # The bulk actions take the list's filters.
    list_actions = frozenset({"list", "executions"}) | JobBulkMixin.bulk_actions

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no user
            return Job.objects.none()
        return policy.jobs_for(self.request.user).select_related("owner")

    def get_serializer_class(self):
        if self.action == "list":
            return serializers.JobSummarySerializer
        return super().get_serializer_class()

    def perform_create(self, serializer):
        serializer.instance = job_create(owner=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = job_update(job=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        job_delete(job=instance)

    def _job_response(self, job: Job) -> Response:
        return Response(serializers.JobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=serializers.JobSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause a job.

        Nothing new is queued until it is resumed; executions already queued still run.
        Only an active job can be paused (409 otherwise).
        """
        return self._job_response(job_pause(job=self.get_object()))

    @extend_schema(request=None, responses=serializers.JobSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume a paused job.

        It runs again from its next occurrence after now. Only a paused job can be resumed
        (409 otherwise).
        """
        return self._job_response(job_resume(job=self.get_object()))

    @extend_schema(request=None, responses=serializers.JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a job for good.

        Its queued executions are cancelled and running ones asked to stop. An active or
        paused job can be cancelled (409 otherwise).
        """
        return self._job_response(job_cancel(job=self.get_object()))

    @extend_schema(
        request=None,
        responses={202: serializers.ExecutionSerializer},
        examples=examples.TRIGGER,
    )
    @action(detail=True, methods=["post"])
    def trigger(self, request, pk=None):
        """Run a job now.

        Leaves the schedule as it is: queues a new execution at once and answers 202 with
        it. Any job that is not cancelled can be triggered (409 otherwise).
        """
        execution = job_trigger(job=self.get_object())
        data = serializers.ExecutionSerializer(execution).data
        return Response(data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=serializers.RescheduleSerializer,
        responses=serializers.JobSerializer,
        examples=examples.RESCHEDULE,
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        """Reschedule a job.

        `{"run_at": ...}` alone makes it a one-time job at that time; `schedule_type` with its
        fields sets a new recurring schedule (the old type's fields are cleared). A completed
        or failed one-time job becomes active again.
        """
        job = self.get_object()
        serializer = serializers.RescheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._job_response(job_reschedule(job=job, **serializer.validated_data))

    @extend_schema(responses=serializers.ExecutionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def executions(self, request, pk=None):
        """List a job's executions.

        The job's attempt history: newest occurrence first, and within one occurrence the
        latest attempt first.
        """
        job = self.get_object()
        history = (
            policy.executions_for(request.user)
            .filter(job=job)
            .select_related("job", "worker")
            .defer("log")
            .order_by("-scheduled_for", "-attempt")
        )
        page = self.paginate_queryset(history)
        return self.get_paginated_response(serializers.ExecutionSerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="List executions", examples=examples.EXECUTION_LIST),
    retrieve=extend_schema(summary="Show an execution, with its traceback"),
)
@extend_schema(tags=["executions"])
class ExecutionViewSet(ObjectPolicyMixin, StrictQueryMixin, viewsets.ReadOnlyModelViewSet):
    """Executions: one attempt of one occurrence of a job; retries are new rows."""

    filterset_class = ExecutionFilter
    conflict_actions = frozenset({"retry", "cancel"})
    # The bulk actions take the list's filters.
    list_actions = frozenset({"list", "retry_matching", "cancel_matching"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Execution.objects.none()
        executions = policy.executions_for(self.request.user).select_related("job", "worker")
        # Logs (up to EXECUTION_LOG_MAX_BYTES each) are shown one execution at a time.
        return executions.defer("log") if self.action == "list" else executions

    def get_serializer_class(self):
        if self.action == "list":
            return serializers.ExecutionSerializer
        return serializers.ExecutionDetailSerializer

    @extend_schema(request=None, responses={202: serializers.ExecutionSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Retry an execution.

        Queues the next attempt of a dead or cancelled execution's occurrence and answers
        202 with it; 409 for any other state, when its job is cancelled, or when it was
        already retried.
        """
        retry = execution_retry(execution=self.get_object())
        return Response(
            serializers.ExecutionSerializer(retry).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=None, responses=serializers.ExecutionDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel an execution.

        A queued execution is cancelled at once; a running one is asked to stop and shows
        `cancel_requested: true` until its handler stops. 409 once it has finished.
        """
        execution = execution_cancel(execution=self.get_object())
        return Response(serializers.ExecutionDetailSerializer(execution).data)

    @extend_schema(request=None, responses=serializers.BulkCountSerializer)
    @action(detail=False, methods=["post"], url_path="retry", url_name="retry-matching")
    def retry_matching(self, request):
        """Retry every execution the filters match.

        Takes the list's filter parameters (at least one: `?state=dead&queue=mail` retries
        the dead letters of the mail queue) and retries each matching execution you may
        change that can be retried, one at a time, each audited; answers how many.
        """
        return self._apply_to_matching(request, execution_retry)

    @extend_schema(request=None, responses=serializers.BulkCountSerializer)
    @action(detail=False, methods=["post"], url_path="cancel", url_name="cancel-matching")
    def cancel_matching(self, request):
        """Cancel every execution the filters match.

        As retry: the list's filter parameters (at least one), each matching execution you
        may change that can be cancelled (queued: at once; running: asked to stop), each
        audited; answers how many.
        """
        return self._apply_to_matching(request, execution_cancel)

    def _apply_to_matching(self, request, service):
        changeable = policy.executions_for(request.user, policy.CHANGE)
        return apply_to_matching(self, changeable, executions_apply, service)


@extend_schema_view(
    list=extend_schema(summary="List the registered handlers"),
    retrieve=extend_schema(
        summary="Show a handler and its payload schema",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)],
    ),
)
@extend_schema(tags=["handlers"])
class HandlerViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    """Handlers: the names a job's `handler` may take, each with its payload's JSON Schema."""

    serializer_class = serializers.HandlerSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    filter_backends = []

    def list(self, request):
        handlers = [h for h in all_handlers() if self._may_use(h)]
        page = self.paginate_queryset(handlers)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, name=None):
        try:
            handler = get_handler(name)
        except HandlerNotFound as exc:
            raise NotFound(str(exc)) from None
        if not self._may_use(handler):
            raise NotFound(str(HandlerNotFound(name)))
        return Response(self.get_serializer(handler).data)

    def _may_use(self, handler) -> bool:
        # Internal handlers (notifications, Django tasks) run only jobs the system makes.
        return not handler.internal or policy.sees_internal_handlers(self.request.user)


@extend_schema_view(
    list=extend_schema(summary="List workers (staff with view_worker)"),
    retrieve=extend_schema(summary="Show a worker (staff with view_worker)"),
)
@extend_schema(tags=["workers"])
class WorkerViewSet(StrictQueryMixin, viewsets.ReadOnlyModelViewSet):
    """Workers: `runworker` processes, alive, stale (silent past the lease) or stopped."""

    serializer_class = serializers.WorkerSerializer
    permission_classes = [MayViewWorkers]
    may_forbid = True  # staff without view_worker, and everyone else
    filterset_class = WorkerFilter

    def get_queryset(self):
        return worker_rows(everyone=True)


class StatsView(StrictQueryMixin, APIView):
    """Counts by state, and throughput and failure rate over the last 5 minutes, hour, day.

    Covers your jobs (staff: all jobs). `failure_rate` is (failed + dead) / (succeeded +
    failed + dead) among attempts finished in the window, null when none finished.
    """

    @extend_schema(
        summary="Show counts and recent throughput",
        tags=["stats"],
        responses=serializers.StatsSerializer,
    )
    def get(self, request):
        data = stats_for(request.user, now=timezone.now())
        return Response(serializers.StatsSerializer(data).data)


class SchedulePreviewView(APIView):
    """The next runs of a schedule, with their UTC offsets, and the schedule in words.

    Takes a job's schedule fields (schedule_type, run_at, interval_seconds, cron, timezone)
    and saves nothing; a bad field is a 400 naming it, as creating the job would be.
    """

    @extend_schema(
        summary="Preview a schedule's next runs",
        tags=["jobs"],
        request=serializers.SchedulePreviewRequestSerializer,
        responses=serializers.SchedulePreviewSerializer,
    )
    def post(self, request):
        given = serializers.SchedulePreviewRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        preview = schedule_preview(**given.validated_data, now=timezone.now())
        return Response(serializers.SchedulePreviewSerializer(preview).data)
