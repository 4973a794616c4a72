"""GET /api/v1/audit: the audit trail, read-only.

A user reads the events about their own jobs, executions and tokens; staff with the
`view_auditevent` permission read them all (jobs.policy). Another user's event answers 404,
like one that does not exist. An owner is shown anyone else who acted on their objects as
"staff", without the token or the address (accounts.actors.shown_to), and the `actor` filter
matches what they are shown. The trail is append-only, so the endpoint has no write methods:
POST, PUT, PATCH and DELETE answer 405.
"""

import django_filters as filters
from django.db.models import CharField, Q
from django.db.models.functions import Cast
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from accounts.actors import OTHERS_NAME, SYSTEM, shown_to
from jobs import audit, policy
from jobs.models import AUDIT_EVENT_FIELDS, AuditEvent, Execution
from web.query import StrictQueryMixin

from .filters import DateTimeFilter


class AuditEventFilter(filters.FilterSet):
    job = filters.UUIDFilter(
        method="filter_job",
        help_text="Events about this job and about its executions (retry, cancel).",
    )
    action = filters.MultipleChoiceFilter(
        choices=[(action, action) for action in audit.ACTIONS],
        help_text="Repeat to match any of several actions.",
    )
    object_type = filters.ChoiceFilter(
        choices=[(kind, kind) for kind in audit.OBJECT_TYPES],
    )
    actor = filters.CharFilter(
        method="filter_actor", help_text="A username, `system`, or (for an owner) `staff`."
    )
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ()

    def filter_actor(self, queryset, name, value):
        viewer = self.request.user
        if policy.sees_actors(viewer):
            return queryset.filter(actor=value)
        # The owner's view: themselves and the system by name, everyone else as "staff".
        named = Q(actor_id=viewer.pk) | Q(actor_id__isnull=True, actor=SYSTEM.name)
        if value == OTHERS_NAME:
            return queryset.exclude(named)
        return queryset.filter(named, actor=value)

    def filter_job(self, queryset, name, value):
        # Execution events name the execution, not its job: match them through the job's
        # executions (those of a deleted job are gone, as is the job's own history).
        executions = (
            Execution.objects.filter(job_id=value)
            .annotate(key=Cast("pk", output_field=CharField()))
            .values("key")
        )
        return queryset.filter(
            Q(object_type="job", object_id=str(value))
            | Q(object_type="execution", object_id__in=executions)
        )


class AuditEventSerializer(serializers.ModelSerializer):
    """One change: who made it (`actor`, `actor_id`), from where (`via`, `ip`), to what."""

    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        read_only=True,
        help_text="Each changed field -> [before, after]; secrets are masked.",
    )

    class Meta:
        model = AuditEvent
        fields = ("id", *AUDIT_EVENT_FIELDS)
        read_only_fields = fields

    def to_representation(self, event):
        data = super().to_representation(event)
        viewer = self.context["request"].user
        if not policy.sees_actors(viewer):
            shown = shown_to(
                viewer.pk, actor_id=event.actor_id, name=event.actor, via=event.via, ip=event.ip
            )
            data.update(actor_id=shown.user_id, actor=shown.name, via=shown.via, ip=shown.ip)
        return data


@extend_schema_view(
    list=extend_schema(summary="List audit events"),
    retrieve=extend_schema(summary="Show an audit event"),
)
@extend_schema(tags=["audit"])
class AuditEventViewSet(StrictQueryMixin, viewsets.ReadOnlyModelViewSet):
    """The audit trail: who changed what, when and from where, newest first.

    Covers the events about your jobs, their executions and your tokens (staff with the
    view_auditevent permission: all). Anyone else who acted on your objects is shown as
    `staff`, without token or address. Append-only: events cannot be changed or deleted.
    """

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no user
            return AuditEvent.objects.none()
        return policy.audit_events_for(self.request.user)
