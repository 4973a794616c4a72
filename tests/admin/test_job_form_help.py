"""The job form's help for the payload: the chosen handler's schema and an example payload
(the page carries them for every handler), and a new job's payload box starting at {}."""

import json
import re

import pytest

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/jobs/job/add/"


def test_the_payload_schema_and_an_example_of_each_handler_are_in_the_page(admin_client):
    page = admin_client.get(ADD_URL).content.decode()

    found = re.search(r'<script id="sched-handler-schemas"[^>]*>(.*?)</script>', page, re.S)
    handlers = json.loads(found.group(1))
    assert handlers["sleep"]["schema"]["properties"]["seconds"]
    assert handlers["sleep"]["example"] == {"seconds": 0}
    assert "notification" not in handlers  # internal handlers are not offered


def test_a_new_jobs_payload_starts_as_an_empty_object(admin_client):
    response = admin_client.get(ADD_URL)
    assert response.context["adminform"].form["payload"].value() == "{}"
