"""The webhook handler against a real HTTP server on loopback, and the address guard."""

import ipaddress
import json
import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from handlers import netguard, webhook
from jobs.exceptions import ValidationError
from jobs.models import Execution
from jobs.services import job_create
from jobs.states import ExecutionState

LOOPBACK_ALLOWED = override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.1/32"])


def call(ctx, **payload):
    return webhook.webhook(payload, ctx)


@LOOPBACK_ALLOWED
def test_post_with_json_body_succeeds_and_stores_the_answer(http_server, bare_ctx):
    result = call(
        bare_ctx,
        url=f"{http_server.url}/echo",
        method="POST",
        headers={"X-Token": "abc"},
        json={"hello": "world"},
    )

    assert result["status"] == 200
    assert result["redirects"] == 0
    assert result["json"]["method"] == "POST"
    assert json.loads(result["json"]["body"]) == {"hello": "world"}
    received = http_server.requests[0]["headers"]
    assert received["X-Token"] == "abc"
    assert received["Content-Type"] == "application/json"
    assert received["Host"] == http_server.url.removeprefix("http://")


@LOOPBACK_ALLOWED
def test_non_2xx_answer_fails_with_the_status_in_the_error(http_server, bare_ctx):
    with pytest.raises(webhook.WebhookError, match=r"HTTP 503 Service Unavailable"):
        call(bare_ctx, url=f"{http_server.url}/status/503")


@LOOPBACK_ALLOWED
def test_slow_server_fails_the_attempt_at_the_timeout(http_server, bare_ctx):
    with pytest.raises(webhook.WebhookError, match=r"Timed out after 0.3 s"):
        call(bare_ctx, url=f"{http_server.url}/slow?seconds=3", method="GET", timeout=0.3)


@LOOPBACK_ALLOWED
def test_redirect_is_followed_and_a_303_turns_post_into_get(http_server, bare_ctx):
    target = f"{http_server.url}/echo"
    result = call(
        bare_ctx,
        url=f"{http_server.url}/redirect?code=303&to={target}",
        method="POST",
        json={"a": 1},
    )

    assert result["status"] == 200
    assert result["redirects"] == 1
    assert result["url"] == target
    assert [r["method"] for r in http_server.requests] == ["POST", "GET"]


@LOOPBACK_ALLOWED
def test_redirect_loop_stops_at_max_redirects(http_server, bare_ctx):
    with pytest.raises(webhook.WebhookError, match="Too many redirects"):
        call(bare_ctx, url=f"{http_server.url}/loop", method="GET", max_redirects=3)
    assert len(http_server.requests) == 4


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("[fc00::1]", "private"),
        ("[64:ff9b::a00:1]", "private"),
        ("169.254.10.10", "link-local"),
        ("[fe80::1]", "link-local"),
        ("169.254.169.254", "metadata"),
        ("[fd00:ec2::254]", "metadata"),
        ("100.100.100.200", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("2130706433", "loopback"),  # 127.0.0.1 as one number: resolvers accept it
        # Spellings of 127.0.0.1 the resolver also reads (octal, hex, short forms).
        ("0177.0.0.1", "loopback"),
        ("0x7f.1", "loopback"),
        ("127.1", "loopback"),
        # IPv4-mapped IPv6 reaches the IPv4 host.
        ("[::ffff:10.0.0.1]", "private"),
        ("[::ffff:169.254.169.254]", "metadata"),
        ("[::ffff:0.0.0.0]", "unspecified"),
        # Deprecated site-local IPv6 (fec0::/10): Python 3.11 calls it global.
        ("[fec0::1]", "site-local"),
        ("[feff:ffff::1]", "site-local"),
        # 6to4 (2002::/16) embeds the IPv4 address its relay delivers to.
        ("[2002:7f00:1::1]", "loopback"),
        ("[2002:a00:1::1]", "private"),
        ("[2002:a9fe:a9fe::1]", "metadata"),
        # Teredo (2001::/32) tunnels to an encoded IPv4 host: refused whatever it encodes.
        ("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "teredo"),  # client 10.0.0.1
        ("[2001:0:4136:e378:8000:63bf:f7f6:f7f7]", "teredo"),  # client 8.9.8.8
        # NAT64 (64:ff9b::/96): the gateway connects to the last 32 bits.
        ("[64:ff9b::7f00:1]", "loopback"),
        ("[64:ff9b::c0a8:101]", "private"),
        ("[64:ff9b::a9fe:a9fe]", "metadata"),
        ("[64:ff9b::6440:1]", "non-public"),
        # "This network" 0.0.0.0/8: Linux connects 0.0.0.0 to the local host.
        ("0.1.2.3", "unspecified"),
        ("0", "unspecified"),
        # Carrier-grade NAT, 100.64.0.0/10, at both ends.
        ("100.127.255.254", "non-public"),
        # Multicast, IPv4 and IPv6, and the limited broadcast address.
        ("239.255.255.250", "multicast"),
        ("[ff02::1]", "multicast"),
        ("[ff0e::1]", "multicast"),
        ("255.255.255.255", "broadcast"),
        # The old IPv4-compatible and the SIIT-translated forms are reserved space.
        ("[::127.0.0.1]", "reserved"),
        ("[::ffff:0:a00:1]", "reserved"),
        ("[::]", "unspecified"),
    ],
)
def test_each_non_public_address_class_is_refused(host, reason, bare_ctx):
    with pytest.raises(netguard.AddressRefused) as refused:
        call(bare_ctx, url=f"http://{host}:8080/hook", method="GET")

    assert refused.value.reason == reason
    assert "WEBHOOK_ALLOWED_ADDRESSES" in str(refused.value)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",  # mapped, 6to4 and NAT64 forms of a public IPv4 address
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_a_public_address_passes_in_each_of_its_forms(address):
    assert netguard.classify(ipaddress.ip_address(address)) is None


def test_loopback_server_is_refused_until_its_address_is_allow_listed(http_server, bare_ctx):
    with pytest.raises(netguard.AddressRefused, match="loopback"):
        call(bare_ctx, url=f"{http_server.url}/echo", method="GET")
    assert http_server.requests == []

    with override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.0/8"]):
        assert call(bare_ctx, url=f"{http_server.url}/echo", method="GET")["status"] == 200


def test_hostname_that_resolves_to_a_loopback_address_is_refused(http_server, bare_ctx):
    port = http_server.server_address[1]
    with pytest.raises(netguard.AddressRefused, match=r"localhost \(.*\): loopback"):
        call(bare_ctx, url=f"http://localhost:{port}/echo", method="GET")
    assert http_server.requests == []


@pytest.mark.parametrize(
    "location",
    ["http://10.0.0.7/internal", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/"],
)
@LOOPBACK_ALLOWED
def test_redirect_to_a_private_address_is_refused(location, http_server, bare_ctx):
    with pytest.raises(netguard.AddressRefused):
        call(bare_ctx, url=f"{http_server.url}/redirect?to={location}", method="GET")
    assert len(http_server.requests) == 1


@override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.0/8", "::1/128"])
def test_credentials_are_dropped_when_a_redirect_leaves_the_origin(http_server, bare_ctx):
    port = http_server.server_address[1]
    other_origin = f"http://localhost:{port}/echo"
    call(
        bare_ctx,
        url=f"{http_server.url}/redirect?to={other_origin}",
        method="GET",
        headers={"Authorization": "Bearer secret", "X-Kept": "yes"},
    )

    first, second = http_server.requests
    assert first["headers"]["Authorization"] == "Bearer secret"
    assert "Authorization" not in second["headers"]
    assert second["headers"]["X-Kept"] == "yes"
    assert second["headers"]["Host"] == f"localhost:{port}"


@LOOPBACK_ALLOWED
def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    http_server, bare_ctx, monkeypatch
):
    # DNS rebinding: the first answer passes the check, a later one would not. The client
    # must connect to the first answer without asking again.
    port = http_server.server_address[1]
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host == "hooks.example.test":
            lookups.append(host)
            answer = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
            return real_getaddrinfo(answer, *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    result = call(bare_ctx, url=f"http://hooks.example.test:{port}/echo", method="GET")

    assert result["status"] == 200
    assert lookups == ["hooks.example.test"]
    assert http_server.requests[0]["headers"]["Host"] == f"hooks.example.test:{port}"


def test_a_name_with_one_public_and_one_private_address_is_refused(monkeypatch):
    def two_answers(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.10", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    with pytest.raises(netguard.AddressRefused, match="private"):
        netguard.resolve("https://mixed.example.test/hook")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field_message"),
    [
        ({"url": "ftp://example.com/x"}, "only http and https"),
        ({"url": "http://10.0.0.1/hook"}, "private address"),
        ({"url": "http://169.254.169.254/"}, "metadata address"),
        ({"url": "https://example.com", "headers": {"Host": "evil"}}, "set by the client"),
        ({"url": "https://example.com", "timeout": 0}, "less than or equal to the minimum"),
        ({"url": "https://example.com", "method": "TRACE"}, "is not one of"),
        ({"url": "https://example.com", "headers": {"X-A": "b\r\nX-B: c"}}, "does not match"),
        ({"method": "GET"}, "'url' is a required property"),
    ],
)
def test_a_payload_the_webhook_refuses_is_refused_when_the_job_is_created(payload, field_message):
    with pytest.raises(ValidationError) as refused:
        job_create(
            name="hook",
            handler="webhook",
            payload=payload,
            schedule_type="once",
            run_at=timezone.now(),
        )
    assert any(field_message in message for message in refused.value.errors["payload"])


@pytest.mark.django_db(transaction=True)
@LOOPBACK_ALLOWED
def test_webhook_job_runs_on_the_worker_and_fails_on_a_500(http_server):
    ok = job_create(
        name="ok",
        handler="webhook",
        schedule_type="once",
        run_at=timezone.now(),
        payload={"url": f"{http_server.url}/echo", "json": {"n": 1}},
    )
    bad = job_create(
        name="bad",
        handler="webhook",
        schedule_type="once",
        run_at=timezone.now(),
        payload={"url": f"{http_server.url}/status/500"},
        max_retries=0,
    )

    call_command("runworker", burst=True, concurrency=2)

    done = Execution.objects.get(job=ok)
    assert done.state == ExecutionState.SUCCEEDED
    assert done.result["status"] == 200
    failed = Execution.objects.get(job=bad)
    assert failed.state == ExecutionState.DEAD
    assert "HTTP 500" in failed.error
    assert failed.finished_at - failed.started_at < timedelta(seconds=30)


@pytest.fixture
def names_to_loopback(monkeypatch):
    """Make *.example.test resolve to 127.0.0.1, as a real DNS answer would."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).endswith(".example.test"):
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_https_to_the_pinned_address_still_checks_the_certificate_against_the_name(
    https_server, tls_ca, names_to_loopback, bare_ctx, tmp_path, settings
):
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    # Both through the `settings` fixture: its overrides are undone after the test's own
    # decorators', so mixed with @LOOPBACK_ALLOWED it would put that one back for good.
    settings.WEBHOOK_ALLOWED_ADDRESSES = ["127.0.0.1/32"]
    settings.WEBHOOK_CA_BUNDLE = str(bundle)
    port = https_server.server_address[1]

    result = call(bare_ctx, url=f"https://hooks.example.test:{port}/echo", method="GET")

    assert result["status"] == 200
    assert https_server.requests[0]["headers"]["Host"] == f"hooks.example.test:{port}"
    # The same server under a name its certificate does not carry is refused.
    with pytest.raises(webhook.WebhookError, match="certificate"):
        call(bare_ctx, url=f"https://other.example.test:{port}/echo", method="GET")


@LOOPBACK_ALLOWED
def test_https_certificate_from_an_unknown_ca_is_refused(https_server, names_to_loopback, bare_ctx):
    port = https_server.server_address[1]
    with pytest.raises(webhook.WebhookError, match="certificate"):
        call(bare_ctx, url=f"https://hooks.example.test:{port}/echo", method="GET")
    assert https_server.requests == []
