"""Fixtures for admin tests: signed-in browsers of the test client, and jobs to act on."""

import pytest
from django.contrib.auth.models import Permission

from tests.api.conftest import make_execution, make_job  # noqa: F401 - fixtures


@pytest.fixture
def admin_client(client, staff_user):
    """The test client signed in as a superuser."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_staff(django_user_model):
    """Create a staff user (not a superuser) with the named permissions, signed in."""

    def make(*codenames: str, username: str = "operator"):
        user = django_user_model.objects.create_user(
            username=username, password="pw-operator-123", is_staff=True
        )
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return user

    return make


def run_action(client, changelist: str, action: str, *objects):
    """Run the admin action `action` of a changelist on `objects`, as its form posts it."""
    return client.post(
        changelist,
        {"action": action, "_selected_action": [str(o.pk) for o in objects]},
        follow=True,
    )


def messages_of(response) -> list[str]:
    """The texts of the messages shown on the page a response leads to."""
    return [str(m) for m in response.context["messages"]]
