"""Top-level URLs: the admin, the API and the probes."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from jobs.admin.dashboard import dashboard
from jobs.admin.preview import schedule_preview_view
from web import errors as api_errors
from web.docs import RedocView

urlpatterns = [
    path("admin/dashboard/", dashboard, name="scheduler-dashboard"),
    # The job form's live preview of the schedule being typed.
    path("admin/schedule-preview/", schedule_preview_view, name="scheduler-schedule-preview"),
    path("admin/", admin.site.urls),
    # The REST API, its OpenAPI schema and the docs (Swagger UI, Redoc) from our static files.
    path("api/v1/auth/", include("accounts.urls")),
    path("api/v1/", include("jobs.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    # Anything else under /api/ is a JSON 404, not Django's HTML page.
    re_path(r"^api/", api_errors.not_found),
    path("", include("ops.urls")),  # /health, /health/ready, /metrics
]

# A request refused or crashing outside a view (in middleware) still answers JSON under /api/.
handler400 = api_errors.bad_request
handler500 = api_errors.server_error
