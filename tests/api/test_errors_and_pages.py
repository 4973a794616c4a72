"""One JSON error shape everywhere under /api/, and page-number pagination with bounds."""

import logging

import pytest
from django.test import RequestFactory

from tests.api.conftest import client_with_token, issue_secret
from web import errors

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"status", "code", "detail", "errors"}


def assert_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert (body["status"], body["code"]) == (status, code)
    return body


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/jobs", "/api/", "/api/v1/jobs/x/y/z"])
def test_an_unknown_api_path_is_a_json_404(alice, path):
    assert_error(alice.get(path), 404, "not_found")


def test_a_get_with_a_trailing_slash_is_redirected(alice):
    response = alice.get("/api/v1/jobs/?page=2")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/jobs?page=2"


def test_the_docs_without_their_slash_are_redirected(anon):
    response = anon.get("/api/docs")

    assert response.status_code == 301
    assert response["Location"] == "/api/docs/"


def test_a_post_with_a_trailing_slash_is_a_404_that_says_where_to_go(alice):
    body = assert_error(alice.post("/api/v1/jobs/", {}), 404, "not_found")

    assert "Did you mean /api/v1/jobs?" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", "/api/v1/jobs"), ("put", "/api/v1/executions/1"), ("get", "/api/v1/auth/logout")],
)
def test_a_method_the_endpoint_does_not_take_is_a_json_405(alice, method, path):
    response = getattr(alice, method)(path)

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"]


def test_asking_for_html_still_gets_json(alice):
    response = alice.get("/api/v1/jobs", HTTP_ACCEPT="text/html")

    assert_error(response, 406, "not_acceptable")


def test_a_crash_in_a_view_is_a_json_500_and_is_logged(alice, make_job, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr("jobs.api.views.job_pause", broken)
    job = make_job()

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = alice.post(f"/api/v1/jobs/{job.pk}/pause")

    body = assert_error(response, 500, "server_error")
    assert "fire" not in body["detail"]  # no internals to the client
    assert any("the disk is on fire" in r.exc_text for r in caplog.records if r.exc_text)


def test_a_crash_outside_a_view_is_json_under_api_and_html_elsewhere():
    factory = RequestFactory()

    api = errors.server_error(factory.get("/api/v1/jobs"))
    site = errors.server_error(factory.get("/admin/"))

    assert api.status_code == site.status_code == 500
    assert api["Content-Type"] == "application/json"
    assert site["Content-Type"].startswith("text/html")


def test_too_many_requests_is_a_json_429_with_retry_after(alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "2/min",
        },
    }

    statuses = [alice.get("/api/v1/jobs").status_code for _ in range(2)]
    response = alice.get("/api/v1/jobs")

    assert statuses == [200, 200]
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


def test_a_throttle_rate_of_none_switches_it_off(alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": None,
        },
    }

    assert {alice.get("/api/v1/auth/me").status_code for _ in range(5)} == {200}


def test_a_flattened_error_names_nested_fields():
    detail = {"a": {"b": ["bad"]}, "c": [{}, {"d": ["worse"]}], "e": ["x", "y"]}

    assert errors.flatten_errors(detail) == {"a.b": ["bad"], "c.1.d": ["worse"], "e": ["x", "y"]}
    assert errors.flatten_errors(["whole request"]) == {"non_field_errors": ["whole request"]}


# --- pagination -------------------------------------------------------------------------


@pytest.fixture
def five_jobs(make_job, settings):
    settings.API_PAGE_SIZE = 2
    settings.API_MAX_PAGE_SIZE = 3
    return [make_job(name=f"job {i}") for i in range(5)]


def names(response):
    return [job["name"] for job in response.json()["results"]]


def test_the_default_page_size_applies(alice, five_jobs):
    body = alice.get("/api/v1/jobs").json()

    assert body["count"] == 5
    assert len(body["results"]) == 2


@pytest.mark.parametrize("page_size", ["1", "3"])
def test_page_size_takes_values_up_to_the_maximum(alice, five_jobs, page_size):
    assert len(names(alice.get("/api/v1/jobs", {"page_size": page_size}))) == int(page_size)


@pytest.mark.parametrize("page_size", ["4", "1000000", str(2**70), "0", "-1", "many", "2.5"])
def test_a_page_size_outside_the_bounds_is_400(alice, five_jobs, page_size):
    body = assert_error(alice.get("/api/v1/jobs", {"page_size": page_size}), 400, "invalid")

    assert body["errors"] == {"page_size": ["Give a whole number from 1 to 3."]}


def test_a_page_past_the_end_is_404(alice, five_jobs):
    assert_error(alice.get("/api/v1/jobs", {"page": 4}), 404, "not_found")


@pytest.mark.parametrize("page", ["0", "-1", "last", "2.0", ""])
def test_a_page_that_is_not_a_number_from_one_on_is_400(alice, five_jobs, page):
    body = assert_error(alice.get("/api/v1/jobs", {"page": page}), 400, "invalid")

    assert list(body["errors"]) == ["page"]


def test_the_last_page_holds_the_rest(alice, five_jobs):
    body = alice.get("/api/v1/jobs", {"page": 3}).json()

    assert len(body["results"]) == 1
    assert body["next"] is None
    assert body["previous"].endswith("page=2")


# --- query parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "problem"),
    [
        ("/api/v1/jobs", {"stat": "dead"}, "Unknown query parameter."),
        ("/api/v1/jobs", {"queue": ["a", "b"]}, "Give this parameter once."),
        ("/api/v1/jobs", {"queue": ""}, "Give a value, or leave the parameter out."),
        ("/api/v1/audit", {"job": "\f"}, "Give a value, or leave the parameter out."),
        ("/api/v1/stats", {"window": "1h"}, "Unknown query parameter."),
        ("/api/v1/auth/me", {"verbose": "1"}, "Unknown query parameter."),
        ("/api/v1/handlers/noop", {"page": "1"}, "Unknown query parameter."),
    ],
)
def test_a_query_parameter_the_endpoint_does_not_take_is_400(alice, path, params, problem):
    body = assert_error(alice.get(path, params), 400, "invalid")

    assert body["errors"] == {next(iter(params)): [problem]}


def test_a_filter_on_several_values_takes_the_parameter_repeated(alice):
    assert alice.get("/api/v1/jobs", {"state": ["active", "paused"]}).status_code == 200


def test_a_stranger_gets_401_before_any_query_check(anon):
    assert_error(anon.get("/api/v1/jobs", {"stat": "dead"}), 401, "not_authenticated")


@pytest.mark.parametrize(
    "value", ["2030-01-01T09:00:00", "2030-01-01", "tomorrow", "0001-01-01T00:00:00+01:00"]
)
def test_a_time_filter_needs_an_iso_time_with_an_offset(alice, value):
    body = assert_error(alice.get("/api/v1/jobs", {"created_after": value}), 400, "invalid")

    assert list(body["errors"]) == ["created_after"]


def test_a_time_filter_takes_any_utc_offset_iso_8601_allows(alice, make_job):
    make_job()

    response = alice.get("/api/v1/jobs", {"created_after": "2020-01-01T00:00:00+21:30"})

    assert response.json()["count"] == 1


def test_an_unknown_path_is_404_for_unsafe_methods_too(user):
    client = client_with_token(issue_secret(user))
    client.handler.enforce_csrf_checks = True

    assert_error(client.delete("/api/v1/jobs/not/a/route"), 404, "not_found")
