"""The probes and the metrics page (included at the site root)."""

from django.urls import path

from . import views

app_name = "ops"
urlpatterns = [
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="ready"),
    path("metrics", views.metrics, name="metrics"),
]
