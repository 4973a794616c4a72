"""The audit trail: one append-only row per change made by a person or a program."""

from django.db import models
from django.utils.timezone import now as utcnow

# What the admin and the API show of an event (the API adds its id).
AUDIT_EVENT_FIELDS = (
    "created_at",
    "actor",
    "actor_id",
    "via",
    "ip",
    "action",
    "object_type",
    "object_id",
    "owner_id",
    "changes",
)


class AuditEvent(models.Model):
    """One change made by a person or a program. Append-only (a trigger enforces it)."""

    created_at = models.DateTimeField(default=utcnow, db_index=True, editable=False)
    # Plain ids, no foreign keys: the trail outlives the users and objects it names.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, help_text="Who: a username, or 'system'.")
    via = models.CharField(max_length=100, help_text="From where: API token prefix, admin, …")
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=30)
    object_type = models.CharField(max_length=30)
    object_id = models.CharField(max_length=64)
    owner_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="Owner of the job concerned."
    )
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [before, after]")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self):
        return f"{self.actor} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")
