"""The audit trail in the admin: read-only, append-only, filterable by who and what.

Shown whole, with who acted and from where, to staff who may read it (jobs.policy).
"""

from django.contrib import admin

from jobs import policy
from jobs.models import AUDIT_EVENT_FIELDS, AuditEvent

from .pagination import EstimatedCountPaginator


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "via", "action", "object_type", "object_id", "ip")
    list_filter = ("action", "object_type", "via")
    search_fields = ("=object_id", "actor")
    search_help_text = "An object id (exact) or an actor's name."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = AUDIT_EVENT_FIELDS
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return policy.sees_actors(request.user)

    # The trail is append-only (a database trigger enforces it too): read, never write.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
