"""A list action over many rows asks first: how many, a sample, and the filters they matched.

With "Select all N" (Django's select_across) an action reaches every row the list's filters
match, not just the page. Before it changes more than CONFIRM_ABOVE rows, the operator sees
a confirmation page with the count and the first SAMPLE_SIZE rows; confirming posts the same
action back with the same selection (and the list's query string, so the same filters), and
only then does it run.
"""

from django.contrib.admin import helpers
from django.template.response import TemplateResponse

CONFIRM_ABOVE = 20
SAMPLE_SIZE = 10
CONFIRMED = "confirmed"


def confirmation(modeladmin, request, queryset, *, verb: str, past: str):
    """None when the action may run now; else the page that asks first."""
    if request.POST.get(CONFIRMED) == "yes":
        return None
    count = queryset.count()
    if count <= CONFIRM_ABOVE:
        return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": opts,
        "title": f"{verb.capitalize()} {count} {opts.verbose_name_plural}?",
        "verb": verb,
        "past": past,
        "count": count,
        "sample": list(queryset[:SAMPLE_SIZE]),
        "action": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "filters": request.GET.urlencode(),
    }
    return TemplateResponse(request, "admin/jobs/confirm_action.html", context)
