"""GET /api/v1/queues, PATCH queues/{name}, POST queues/{name}/pause and resume.

Anyone signed in lists the queues (their jobs name them); changing one is for staff with the
jobs.change_queue permission (jobs.policy). The rules are jobs.services.queues'.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from jobs import policy
from jobs.models import Queue
from jobs.selectors.queues import HELD_BACK_KINDS, queue_rows
from jobs.services.queues import (
    QueueNotFound,
    queue_pause,
    queue_resume,
    queue_update,
)
from web.serializers import StrictFieldsMixin


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    paused = serializers.BooleanField(help_text="Nothing of it starts until resumed.")
    concurrency_limit = serializers.IntegerField(
        allow_null=True, help_text="At most this many running at once, fleet-wide."
    )
    rate_limit = serializers.IntegerField(
        allow_null=True, help_text="At most this many starts per rate_period, fleet-wide."
    )
    rate_period = serializers.IntegerField(help_text="Seconds.")
    queued = serializers.IntegerField(help_text="Queued executions, due or later.")
    due = serializers.IntegerField(help_text="Queued executions that may start now.")
    running = serializers.IntegerField()
    oldest_due_at = serializers.DateTimeField(allow_null=True)
    throttled = serializers.BooleanField(
        help_text="Due work waits because the queue is paused or at its concurrency limit."
    )
    held_back = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=f"Claims that found due work held back, by kind: {', '.join(HELD_BACK_KINDS)}.",
    )


class QueueLimitsSerializer(StrictFieldsMixin, serializers.Serializer):
    """The limits a PATCH may set; null removes one. Unknown fields are refused by name."""

    concurrency_limit = serializers.IntegerField(required=False, allow_null=True)
    rate_limit = serializers.IntegerField(required=False, allow_null=True)
    rate_period = serializers.IntegerField(required=False)


class MayChangeQueues(permissions.IsAuthenticated):
    message = "Changing a queue needs the jobs.change_queue permission."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return policy.reaches_all(request.user, policy.CHANGE, Queue)


@extend_schema_view(
    list=extend_schema(summary="List the queues, with their limits and what they hold"),
    retrieve=extend_schema(summary="Show a queue"),
    partial_update=extend_schema(
        summary="Set a queue's limits", request=QueueLimitsSerializer, responses=QueueSerializer
    ),
)
@extend_schema(tags=["queues"])
class QueueViewSet(viewsets.GenericViewSet):
    """Queues: every queue a job names, with its pause and fleet-wide limits."""

    serializer_class = QueueSerializer
    queryset = Queue.objects.none()  # rows come from the selector; this names the model
    permission_classes = [MayChangeQueues]
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch"]
    pagination_class = None

    def _row(self, name: str):
        rows = queue_rows(now=timezone.now(), name=name)
        if not rows:
            raise exceptions.NotFound(f"No job names a queue {name!r}.")
        return rows[0]

    def list(self, request):
        return Response(QueueSerializer(queue_rows(now=timezone.now()), many=True).data)

    def retrieve(self, request, name=None):
        return Response(QueueSerializer(self._row(name)).data)

    def partial_update(self, request, name=None):
        given = QueueLimitsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return self._changed(lambda: queue_update(name=name, **given.validated_data), name)

    @extend_schema(request=None, responses=QueueSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, name=None):
        """Pause a queue across the fleet: running executions finish, nothing new starts."""
        return self._changed(lambda: queue_pause(name=name), name)

    @extend_schema(request=None, responses=QueueSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, name=None):
        """Resume a paused queue."""
        return self._changed(lambda: queue_resume(name=name), name)

    def _changed(self, change, name: str) -> Response:
        try:
            change()
        except QueueNotFound:
            raise exceptions.NotFound(f"No job names a queue {name!r}.") from None
        return Response(QueueSerializer(self._row(name)).data, status=status.HTTP_200_OK)
