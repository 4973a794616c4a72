"""The job admin's "Backfill missed runs" action: a form for the range, then the service.

Chosen from the job list (any number of jobs) or from a job's page, it asks for a range;
the range is checked by the service's own rules before anything is queued (a reversed or
future range, or one holding more than BACKFILL_MAX_OCCURRENCES occurrences of any chosen
job, is a form error), then jobs.services.job_backfill runs once per job.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone

from jobs import conf, services
from jobs.services.backfill import TooManyOccurrences, backfill_range_errors, occurrences_between
from jobs.states import ScheduleType

from .common import apply_each

TEMPLATE = "admin/jobs/job/backfill.html"


class BackfillForm(forms.Form):
    start = forms.DateTimeField(help_text="UTC, e.g. 2026-11-01 22:00. Included.")
    end = forms.DateTimeField(help_text="UTC, not in the future. Included.")

    def __init__(self, *args, jobs, **kwargs):
        super().__init__(*args, **kwargs)
        self.jobs = jobs

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        for field, messages in backfill_range_errors(start, end, now=timezone.now()).items():
            for message in messages:
                self.add_error(field, message)
        if not self.errors:
            self._check_counts(start, end)
        return cleaned

    def _check_counts(self, start, end) -> None:
        limit = conf.BACKFILL_MAX_OCCURRENCES
        for job in self.jobs:
            if job.schedule_type == ScheduleType.ONCE:
                continue  # refused per job when applied: a one-time job has no past runs
            try:
                occurrences_between(job, start, end, limit=limit)
            except TooManyOccurrences as error:
                counted = f"{error.counted:,}" if error.exact else f"more than {error.counted:,}"
                self.add_error(
                    "end",
                    f"For {job}, the range holds {counted} occurrences; one backfill queues "
                    f"at most {limit:,} (BACKFILL_MAX_OCCURRENCES).",
                )


@admin.action(description="Backfill missed runs of selected jobs", permissions=["change"])
def backfill(modeladmin, request, queryset):
    jobs = list(queryset)
    form = BackfillForm(request.POST if "apply" in request.POST else None, jobs=jobs)
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        apply_each(
            modeladmin,
            request,
            jobs,
            service=lambda job: services.job_backfill(job=job, start=start, end=end),
            past="backfilled",
            detail=lambda job, done: f" ({done.queued} of {done.occurrences} runs queued)",
        )
        return None  # back to the list, with a message per job
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Backfill missed runs",
        "opts": modeladmin.model._meta,
        "form": form,
        "jobs": jobs,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "max_occurrences": conf.BACKFILL_MAX_OCCURRENCES,
    }
    return TemplateResponse(request, TEMPLATE, context)
