"""What the operator's admin pages share: service calls per object, and object actions.

Admin actions and the buttons on detail pages call the service layer, one object at a time
and each in its own transaction, so one refused object never undoes the others. A refusal
(InvalidTransition, ValidationError, or jobs.policy saying the operator may not change that
object) becomes a message naming the object, never an error page.

`PolicyPermissionsMixin` gives a ModelAdmin jobs.policy's answers: the rows it lists and,
object by object, who may view, change and delete.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from jobs import audit, policy
from jobs.exceptions import SchedulerError

MAX_REFUSALS_LISTED = 10  # one message each; beyond this, one summary message
MAX_NAMES_LISTED = 10
NOT_YOURS = "you do not have permission to change it."


@dataclass
class Report:
    """What an action did to each object it was given."""

    done: list = field(default_factory=list)
    refused: list[tuple[object, str]] = field(default_factory=list)


def apply_each(
    modeladmin,
    request,
    objects: Iterable,
    *,
    service: Callable,
    past: str,
    label: Callable[[object], str] = str,
    detail: Callable[[object, object], str] | None = None,
) -> Report:
    """Call `service(obj)` for each object as the operator; tell them what happened to each.

    Every action changes its objects: one the operator may not change (jobs.policy) is
    refused like any other. `past` is the verb as the messages say it ("paused");
    `detail(obj, result)` may add what the service returned ("as execution 42").
    """
    report = Report()
    notes = []
    with audit.acting_as(audit.admin_actor(request)):
        for obj in objects:
            if not policy.may(request.user, policy.CHANGE, obj):
                report.refused.append((obj, NOT_YOURS))
                continue
            try:
                result = service(obj)
            except SchedulerError as exc:
                report.refused.append((obj, str(exc)))
                continue
            report.done.append(obj)
            note = f"{label(obj)}{detail(obj, result) if detail else ''}"
            notes.append(note)
            modeladmin.log_change(request, obj, f"{past.capitalize()} from the admin.")
    if notes:
        shown = ", ".join(notes[:MAX_NAMES_LISTED])
        more = len(notes) - MAX_NAMES_LISTED
        tail = f" and {more} more" if more > 0 else ""
        messages.success(request, f"{past.capitalize()} {len(notes)}: {shown}{tail}.")
    for obj, reason in report.refused[:MAX_REFUSALS_LISTED]:
        messages.warning(request, f"{label(obj)} was not {past}: {reason}")
    hidden = len(report.refused) - MAX_REFUSALS_LISTED
    if hidden > 0:
        messages.warning(request, f"{hidden} more were not {past}, for the same kinds of reason.")
    if not notes and not report.refused:
        messages.info(request, "Nothing was selected.")
    return report


class PolicyPermissionsMixin:
    """A ModelAdmin of jobs or executions that asks jobs.policy what the operator may do.

    With no object (may they open the list, run an action at all) the answer is whether
    they reach every user's rows; for one object, whether they may act on that one: their
    own, or others' as far as they are permitted. Each ModelAdmin's get_queryset narrows its
    rows with the policy's row set of its model.
    """

    def has_view_permission(self, request, obj=None):
        return self._policy_allows(request, policy.VIEW, obj)

    def has_change_permission(self, request, obj=None):
        return self._policy_allows(request, policy.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._policy_allows(request, policy.DELETE, obj)

    def _policy_allows(self, request, action: str, obj) -> bool:
        if obj is None:
            return policy.reaches_all(request.user, action, self.model)
        return policy.may(request.user, action, obj)


class ObjectActionsMixin:
    """Buttons on a detail page that POST one action for that object.

    `object_actions` names admin actions of this ModelAdmin; each button runs the same
    action function as the changelist does, on a queryset of the one object, with the same
    permission check.
    """

    object_actions: tuple[str, ...] = ()

    def get_urls(self):
        opts = self.model._meta
        info = opts.app_label, opts.model_name
        custom = [
            path(
                "<path:object_id>/do/<str:action>/",
                self.admin_site.admin_view(self.object_action_view),
                name="{}_{}_object_action".format(*info),
            )
        ]
        return custom + super().get_urls()

    def object_action_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in self.object_actions:
            return HttpResponseRedirect(self._change_url(object_id))
        func, _name, _description = self.get_actions(request).get(action, (None, None, None))
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} with id {object_id!r}.")
        if func is None or not self.has_view_or_change_permission(request, obj):
            messages.error(request, "You do not have permission to do that.")
            return HttpResponseRedirect(self._change_url(object_id))
        queryset = self.get_queryset(request).filter(pk=obj.pk)
        response = func(self, request, queryset)
        return response or HttpResponseRedirect(self._change_url(object_id))

    def available_object_actions(self, request, obj) -> list[tuple[str, str]]:
        """Return (name, label) of the buttons to show for `obj`: allowed and permitted."""
        actions = self.get_actions(request)
        shown = []
        for name in self.object_actions:
            if name in actions and self.object_action_allowed(obj, name):
                shown.append((name, actions[name][2]))
        return shown

    def object_action_allowed(self, obj, name: str) -> bool:
        return True

    def _change_url(self, object_id) -> str:
        opts = self.model._meta
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[object_id]
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["object_actions"] = [
                {
                    "name": name,
                    "label": label,
                    "url": reverse(
                        f"{self.admin_site.name}:{self.model._meta.app_label}_"
                        f"{self.model._meta.model_name}_object_action",
                        args=[obj.pk, name],
                    ),
                    "confirm": name in getattr(self, "confirm_object_actions", ()),
                }
                for name, label in self.available_object_actions(request, obj)
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)
