"""GET, POST /api/v1/workflows; GET workflows/{id}; POST workflows/{id}/cancel.

A workflow is a set of one-time jobs of one owner with dependencies (jobs.services.workflows
has the rules). Who sees and cancels which is jobs.policy's to say, as for jobs: another
user's workflow is a 404.
"""

from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from jobs import policy
from jobs.models import Workflow
from jobs.models.workflows import OnFailure, WorkflowState
from jobs.selectors.workflows import STEP_STATES, step_rows
from jobs.services.workflows import workflow_cancel, workflow_create
from web.query import StrictQueryMixin

from .permissions import ObjectPolicyMixin
from .serializers import StrictFieldsMixin


class StepInputSerializer(serializers.Serializer):
    """One step as POST takes it (checked whole by the service, every problem at once)."""

    name = serializers.CharField()
    handler = serializers.CharField(required=False, help_text="A registered handler.")
    payload = serializers.JSONField(required=False)
    options = serializers.JSONField(
        required=False,
        help_text="Job fields: queue, priority, max_retries, retry_backoff_seconds, "
        "timeout_seconds, concurrency_key, concurrency_limit, notify_*.",
    )
    depends_on = serializers.ListField(child=serializers.CharField(), required=False)
    on_failure = serializers.ChoiceField(choices=OnFailure.choices, required=False)
    job = serializers.UUIDField(
        required=False, help_text="Instead of handler: an existing one-time job of yours."
    )


class WorkflowCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField()
    # Kept as given: the service names each problem by the step's index (steps[2].name).
    steps = serializers.JSONField(help_text="A list of steps (see StepInput).")


class StepSerializer(serializers.Serializer):
    name = serializers.CharField()
    # Plain strings, not enums: the schema's enum names for "state" are the jobs' and
    # executions'.
    state = serializers.CharField(help_text=f"One of {', '.join(STEP_STATES)}.")
    job = serializers.UUIDField(source="job_id")
    depends_on = serializers.ListField(child=serializers.CharField())
    on_failure = serializers.CharField()
    execution = serializers.IntegerField(source="execution_id", allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class WorkflowSummarySerializer(serializers.ModelSerializer):
    state = serializers.CharField(
        read_only=True, help_text=f"One of {', '.join(WorkflowState.values)}."
    )
    step_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "name", "owner", "state", "step_count", "created_at", "cancelled_at"]


class WorkflowSerializer(WorkflowSummarySerializer):
    steps = serializers.SerializerMethodField()

    class Meta(WorkflowSummarySerializer.Meta):
        fields = [*WorkflowSummarySerializer.Meta.fields, "steps"]

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, workflow):
        return StepSerializer(step_rows(workflow), many=True).data


CREATE_EXAMPLE = OpenApiExample(
    "A diamond",
    value={
        "name": "nightly report",
        "steps": [
            {"name": "export", "handler": "noop", "payload": {}},
            {"name": "left", "handler": "noop", "depends_on": ["export"]},
            {"name": "right", "handler": "noop", "depends_on": ["export"]},
            {"name": "merge", "handler": "noop", "depends_on": ["left", "right"]},
        ],
    },
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(summary="List your workflows"),
    retrieve=extend_schema(summary="Show a workflow with each step's state"),
    create=extend_schema(
        summary="Create a workflow",
        request=WorkflowCreateSerializer,
        responses={201: WorkflowSerializer},
        examples=[CREATE_EXAMPLE],
    ),
)
@extend_schema(tags=["workflows"])
class WorkflowViewSet(
    ObjectPolicyMixin,
    StrictQueryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Workflows: one-time jobs of one owner run in the order their dependencies say.

    A step runs once every step it depends on has succeeded; a step whose run dies cancels
    the steps after it (`on_failure: cancel`, the default) or lets them run
    (`continue`). A step's handler reads the results of the steps before it from
    `ctx.dependency_results`.
    """

    conflict_actions = frozenset({"cancel"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Workflow.objects.none()
        return policy.workflows_for(self.request.user).with_state().order_by("-created_at")

    def get_serializer_class(self):
        if self.action == "list":
            return WorkflowSummarySerializer
        if self.action == "create":
            return WorkflowCreateSerializer
        return WorkflowSerializer

    def _response(self, workflow, *, status_code=status.HTTP_200_OK) -> Response:
        workflow = self.get_queryset().get(pk=workflow.pk)
        return Response(WorkflowSerializer(workflow).data, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = WorkflowCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workflow = workflow_create(owner=request.user, **serializer.validated_data)
        return self._response(workflow, status_code=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a workflow.

        Its steps that have not finished are cancelled (running ones are asked to stop). A
        workflow with no unfinished step cannot be cancelled (409).
        """
        return self._response(workflow_cancel(workflow=self.get_object()))
