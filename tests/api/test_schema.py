"""The OpenAPI schema is valid, complete and honest; the docs pages need no internet."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from openapi_spec_validator import validate
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# The contract of DESIGN.md ("REST API contract"), as (method, path).
CONTRACT = [
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/jobs"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("put", "/api/v1/jobs/{id}"),
    ("patch", "/api/v1/jobs/{id}"),
    ("delete", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/pause"),
    ("post", "/api/v1/jobs/{id}/resume"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("post", "/api/v1/jobs/{id}/trigger"),
    ("post", "/api/v1/jobs/{id}/reschedule"),
    ("get", "/api/v1/jobs/{id}/executions"),
    ("get", "/api/v1/executions"),
    ("get", "/api/v1/executions/{id}"),
    ("post", "/api/v1/executions/{id}/retry"),
    ("post", "/api/v1/executions/{id}/cancel"),
    ("get", "/api/v1/handlers"),
    ("get", "/api/v1/workers"),
    ("get", "/api/v1/stats"),
]
PUBLIC = {("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/token")}
METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_the_schema_is_valid_openapi(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_the_schema_is_generated_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", tmp_path / "s.yaml")


def test_the_schema_has_every_operation_of_the_contract(schema):
    documented = {(method, path) for method, path, _ in operations(schema)}

    assert set(CONTRACT) <= documented


def test_every_operation_has_a_summary_an_id_and_a_tag(schema):
    ids = []
    for method, path, operation in operations(schema):
        assert operation.get("summary"), (method, path)
        assert operation.get("tags"), (method, path)
        ids.append(operation["operationId"])

    assert len(ids) == len(set(ids))


def test_the_token_scheme_is_declared_and_required_except_to_log_in(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")

    for method, path, operation in operations(schema):
        if (method, path) in PUBLIC:
            # [{}]: "no credentials needed".
            assert operation.get("security") in (None, [], [{}]), (method, path)
        else:
            assert operation["security"] == [{"tokenAuth": []}], (method, path)


def test_every_error_response_is_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"status", "code", "detail", "errors"}

    for method, path, operation in operations(schema):
        statuses = set(operation["responses"])
        assert {"429", "5XX"} <= statuses, (method, path)
        if (method, path) not in PUBLIC:
            assert "401" in statuses, (method, path)
        for status, response in operation["responses"].items():
            if status[0] in "45":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("get", "/api/v1/jobs/{id}", {"401", "404"}),
        ("post", "/api/v1/jobs", {"400", "401"}),
        ("post", "/api/v1/jobs/{id}/pause", {"401", "404", "409"}),
        ("post", "/api/v1/jobs/{id}/trigger", {"202", "404", "409"}),
        ("post", "/api/v1/executions/{id}/retry", {"202", "404", "409"}),
        ("get", "/api/v1/workers", {"401", "403"}),
        ("post", "/api/v1/auth/register", {"201", "400", "403"}),
        ("get", "/api/v1/jobs", {"200", "400", "404"}),
    ],
)
def test_operations_document_their_statuses(schema, method, path, statuses):
    assert statuses <= set(schema["paths"][path][method]["responses"])


def test_the_main_operations_have_examples(schema):
    create = schema["paths"]["/api/v1/jobs"]["post"]
    assert len(create["requestBody"]["content"]["application/json"]["examples"]) >= 3
    assert create["responses"]["201"]["content"]["application/json"]["examples"]
    reschedule = schema["paths"]["/api/v1/jobs/{id}/reschedule"]["post"]
    assert reschedule["requestBody"]["content"]["application/json"]["examples"]
    trigger = schema["paths"]["/api/v1/jobs/{id}/trigger"]["post"]
    assert trigger["responses"]["202"]["content"]["application/json"]["examples"]


def test_request_bodies_refuse_unknown_fields(schema):
    job_request = schema["components"]["schemas"]["JobRequest"]

    assert job_request["additionalProperties"] is False
    assert "state" not in job_request["properties"]
    assert job_request["properties"]["notify_webhook_secret"]["writeOnly"] is True


def test_the_job_detail_documents_its_upcoming_runs(schema):
    job = schema["components"]["schemas"]["Job"]

    assert job["properties"]["upcoming_runs"]["type"] == "array"


@pytest.mark.parametrize(
    ("path", "asset"),
    [
        ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
    ],
)
def test_the_docs_pages_load_only_our_own_static_files(anon, path, asset):
    response = anon.get(path)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"/static/{asset}" in page
    assert re.findall(r"(?:src|href)=\"(https?:)?//", page) == []
    assert "googleapis" not in page
    for referenced in re.findall(r"(?:src|href)=\"/static/([^\"]+)\"", page):
        assert finders.find(referenced), referenced
