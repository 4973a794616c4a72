"""Routes of /api/v1/auth/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=False)
router.register("tokens", api.TokenViewSet, basename="tokens")

app_name = "auth"
urlpatterns = [
    path("register", api.RegisterView.as_view(), name="register"),
    path("token", api.TokenView.as_view(), name="token"),
    path("logout", api.LogoutView.as_view(), name="logout"),
    path("me", api.MeView.as_view(), name="me"),
    *router.urls,
]
