"""jobs.policy in DRF's terms: which permission a request needs, and its refusal.

A viewset's queryset holds what the user may see, so anything else is a 404, like an object
that does not exist. An object they see but may not act on is a 403 saying why (as DRF's
DjangoObjectPermissions answers). Reading needs "view", DELETE "delete", and every other
method "change": a new action (backfill) is a change unless it says otherwise.
"""

from rest_framework import exceptions, permissions

from jobs import policy


def needed_action(request, view) -> str:
    """Return the policy action ("view", "change", "delete") this request performs."""
    if request.method in permissions.SAFE_METHODS:
        return policy.VIEW
    if request.method == "DELETE":
        return policy.DELETE
    return policy.CHANGE


class ObjectPolicy(permissions.IsAuthenticated):
    """Let a user act on an object they see only as jobs.policy allows; 403 otherwise."""

    def has_object_permission(self, request, view, obj):
        reason = policy.refusal(request.user, needed_action(request, view), obj)
        if reason is not None:
            raise exceptions.PermissionDenied(reason)
        return True


class MayViewWorkers(permissions.IsAuthenticated):
    """The workers' list: staff who may view workers (jobs.policy)."""

    message = "Workers are shown to staff with the jobs.view_worker permission."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and policy.may_view_workers(request.user)


class ObjectPolicyMixin:
    """A viewset whose objects are acted on as jobs.policy allows (see ObjectPolicy)."""

    permission_classes = [ObjectPolicy]

    @property
    def may_forbid(self) -> bool:
        # What the API's schema documents (web.schema): a change to, or deletion of, an
        # object the user sees but may not touch is a 403.
        return bool(getattr(self, "detail", False)) and self.request.method not in (
            permissions.SAFE_METHODS
        )
