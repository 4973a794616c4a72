"""Routes of /api/v1/ (jobs, executions, handlers, workers, queues, stats, audit, schedule
preview);
auth: accounts.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import audit, queues, views, workflows

router = SimpleRouter(trailing_slash=False)
router.register("jobs", views.JobViewSet, basename="jobs")
router.register("executions", views.ExecutionViewSet, basename="executions")
router.register("handlers", views.HandlerViewSet, basename="handlers")
router.register("workers", views.WorkerViewSet, basename="workers")
router.register("queues", queues.QueueViewSet, basename="queues")
router.register("audit", audit.AuditEventViewSet, basename="audit")
router.register("workflows", workflows.WorkflowViewSet, basename="workflows")

app_name = "api"
urlpatterns = [
    *router.urls,
    path("stats", views.StatsView.as_view(), name="stats"),
    path("schedules/preview", views.SchedulePreviewView.as_view(), name="schedule-preview"),
]
