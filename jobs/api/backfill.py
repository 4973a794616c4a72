"""POST /api/v1/jobs/{id}/backfill: queue a recurring job's past occurrences that never ran.

A mixin of JobViewSet, so the job is found (and its owner checked) exactly as for the
job's other actions; the rule is jobs.services.backfill's.
"""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from jobs.services import job_backfill


class BackfillRequestSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="The first instant of the range (included).")
    end = serializers.DateTimeField(
        help_text="The last instant of the range (included); not in the future."
    )


class BackfillSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    occurrences = serializers.IntegerField(help_text="Occurrences of the schedule in the range.")
    queued = serializers.IntegerField(
        help_text="Of those, how many had no execution and were queued now."
    )


EXAMPLES = [
    OpenApiExample(
        "The night the workers were down",
        request_only=True,
        value={"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T06:00:00Z"},
    ),
    OpenApiExample(
        "Queued",
        response_only=True,
        status_codes=["202"],
        value={
            "start": "2030-01-01T00:00:00Z",
            "end": "2030-01-01T06:00:00Z",
            "occurrences": 7,
            "queued": 6,
        },
    ),
    OpenApiExample(
        "Too many",
        response_only=True,
        status_codes=["400"],
        value={
            "status": 400,
            "code": "invalid",
            "detail": "end: The range holds 8,761 occurrences; one backfill queues at most "
            "1,000 (BACKFILL_MAX_OCCURRENCES). Split it into smaller ranges.",
            "errors": {
                "end": [
                    "The range holds 8,761 occurrences; one backfill queues at most 1,000 "
                    "(BACKFILL_MAX_OCCURRENCES). Split it into smaller ranges."
                ]
            },
        },
    ),
]


class BackfillMixin:
    @extend_schema(
        request=BackfillRequestSerializer,
        responses={202: BackfillSerializer},
        examples=EXAMPLES,
    )
    @action(detail=True, methods=["post"])
    def backfill(self, request, pk=None):
        """Backfill a recurring job's past occurrences.

        Queues a first attempt of each occurrence from `start` to `end` (both included, by
        the job's schedule and timezone) that has no execution yet, to run now, oldest
        first; answers 202 with how many the range holds and how many were queued. A second
        backfill of the same range queues nothing. A range in the future, reversed, or
        holding more than BACKFILL_MAX_OCCURRENCES occurrences is a 400; a one-time job is
        a 400, a cancelled one a 409.
        """
        job = self.get_object()
        given = BackfillRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        result = job_backfill(job=job, **given.validated_data)
        return Response(BackfillSerializer(result).data, status=status.HTTP_202_ACCEPTED)
