"""The job form's live schedule preview: the form's schedule fields in, the next runs out.

The admin's counterpart of POST /api/v1/schedules/preview, for the signed-in operator's
session: the same selector answers, so the form shows what the API would. The form's
run_at is a wall time of the job's timezone (as the job form reads it), so it is placed on
that clock by the schedules' own rule before the preview. A GET: it reads and saves nothing.
"""

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.exceptions import ValidationError
from jobs.selectors.schedules import schedule_preview

from .forms import CLEARED, SCHEDULE_TYPE_FIELDS, JobForm


class SchedulePreviewForm(forms.Form):
    """The schedule fields of the job form, parsed exactly as the job form parses them."""

    schedule_type = JobForm.base_fields["schedule_type"]
    run_at = JobForm.base_fields["run_at"]
    interval_seconds = JobForm.base_fields["interval_seconds"]
    cron = JobForm.base_fields["cron"]
    timezone = JobForm.base_fields["timezone"]


@require_GET
@staff_member_required
def schedule_preview_view(request):
    form = SchedulePreviewForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    given = dict(form.cleaned_data)
    kind = given["schedule_type"]
    # Only the chosen type's field counts, as when the form is saved.
    for name, empty in CLEARED.items():
        if SCHEDULE_TYPE_FIELDS.get(kind) != name:
            given[name] = empty
    if given["run_at"] is not None:
        given["run_at"] = JobForm.on_job_clock(given["run_at"], given["timezone"])
    try:
        preview = schedule_preview(**given, now=timezone.now())
    except ValidationError as exc:
        errors = {
            field: [{"message": m} for m in messages] for field, messages in exc.errors.items()
        }
        return JsonResponse({"errors": errors}, status=400)
    return JsonResponse(
        {
            "description": preview.description,
            "timezone": preview.timezone,
            "runs": [
                {
                    "at": run.at.strftime("%Y-%m-%d %H:%M:%S"),
                    "weekday": run.at.strftime("%a"),
                    "utc_offset": run.utc_offset,
                    "after_clock_change": run.after_clock_change,
                }
                for run in preview.runs
            ],
            "warnings": preview.warnings,
        }
    )
