"""The built-in `webhook` handler: one HTTP request, to public addresses only.

The payload names the method, URL, headers, a JSON body and a timeout. A 2xx answer
succeeds and is stored as the result; anything else fails the attempt with the status in the
error (and so is retried like any failure). Redirects are followed here, hop by hop, so that
each new location goes through the address check again (see handlers.netguard), and every
connection goes to an address that was checked, never to a name resolved a second time.
"""

import codecs
import contextlib
import ipaddress
import json
import ssl
import time

import certifi
import httpx

from jobs import conf
from jobs.exceptions import SchedulerError

from . import netguard
from .registry import register

DEFAULT_TIMEOUT = 10.0  # seconds for each hop: connect, send, and read the whole answer
MAX_TIMEOUT = 300.0  # seconds
DEFAULT_MAX_REDIRECTS = 5
MAX_REDIRECTS = 10
MAX_RESPONSE_BYTES = 1024 * 1024  # read at most this much of an answer; the rest is dropped
MAX_STORED_BODY_CHARS = 10_000  # of the answer's text kept in the result
USER_AGENT = "django-pgscheduler-webhook/1"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Set by the client from the URL and body; a payload may not override them.
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
    }
)
# Dropped when a redirect leaves the origin: credentials are for the host they were set for.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})

SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
        "headers": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"},
            "additionalProperties": {"type": "string", "maxLength": 4096, "pattern": "^[^\r\n]*$"},
        },
        "json": {"description": "The request body, sent as JSON."},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
        "max_redirects": {"type": "integer", "minimum": 0, "maximum": MAX_REDIRECTS},
    },
    "required": ["url"],
    "additionalProperties": False,
}


class WebhookError(SchedulerError):
    """The webhook request failed."""


def check(payload: dict) -> list[str]:
    """Refuse at job creation what would always fail: a bad URL, a literal private address."""
    problems = []
    try:
        _scheme, host, _port = netguard.split_url(payload["url"])
    except netguard.AddressRefused as exc:
        problems.append(f"url: {exc}")
    else:
        # Names are looked up at run time (DNS changes); an address literal is known now.
        address = _ip_literal(host)
        if address is not None:
            try:
                netguard.check_address(address, host=host, allowed=netguard.allowed_networks())
            except netguard.AddressRefused as exc:
                problems.append(f"url: {exc}")
    for name in payload.get("headers", {}):
        if name.lower() in FORBIDDEN_HEADERS:
            problems.append(f"headers/{name}: this header is set by the client.")
    return problems


@register(
    "webhook",
    description=(
        "Send an HTTP request (method, url, headers, json, timeout); a non-2xx answer fails. "
        "Loopback, private, link-local and metadata addresses are refused unless listed in "
        "WEBHOOK_ALLOWED_ADDRESSES."
    ),
    schema=SCHEMA,
    check=check,
)
def webhook(payload, ctx):
    method = payload.get("method", "POST")
    headers = {"User-Agent": USER_AGENT, **payload.get("headers", {})}
    content = None
    if "json" in payload:
        content = json.dumps(payload["json"], separators=(",", ":")).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    result = request(
        method=method,
        url=payload["url"],
        headers=headers,
        content=content,
        timeout=float(payload.get("timeout", DEFAULT_TIMEOUT)),
        max_redirects=payload.get("max_redirects", DEFAULT_MAX_REDIRECTS),
        ctx=ctx,
    )
    ctx.logger.info(
        "Webhook method=%s url=%s status=%s redirects=%s",
        method,
        _loggable(payload["url"]),
        result["status"],
        result["redirects"],
    )
    return result


def request(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None,
    timeout: float,
    max_redirects: int,
    ctx=None,
) -> dict:
    """Send the request, following redirects one checked hop at a time; return the 2xx answer."""
    started = time.monotonic()
    redirects = 0
    while True:
        if ctx is not None:
            ctx.raise_if_cancelled()
        target = netguard.resolve(url)
        status, reason, response_headers, body, truncated = _send_pinned(
            target, method=method, url=url, headers=headers, content=content, timeout=timeout
        )
        location = response_headers.get("location")
        if status in REDIRECT_STATUSES and location:
            if redirects >= max_redirects:
                raise WebhookError(f"Too many redirects: more than {max_redirects} from {url}.")
            redirects += 1
            next_url = str(httpx.URL(url).join(location))
            if status == 303 or (status in (301, 302) and method == "POST"):
                # What every client does: the new location is fetched, not posted to again.
                method, content = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if _origin(next_url) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            url = next_url
            continue
        text = body.decode(_charset(response_headers), errors="replace")
        if not 200 <= status < 300:
            snippet = " ".join(text[:200].split())
            raise WebhookError(
                f"HTTP {status} {reason} from {_loggable(url)}"
                + (f": {snippet}" if snippet else "")
            )
        result = {
            "status": status,
            "url": url,
            "redirects": redirects,
            "elapsed_ms": round((time.monotonic() - started) * 1000),
            "content_type": response_headers.get("content-type", ""),
            "body": text[:MAX_STORED_BODY_CHARS],
            "truncated": truncated or len(text) > MAX_STORED_BODY_CHARS,
        }
        if "json" in result["content_type"] and not result["truncated"]:
            with contextlib.suppress(ValueError):
                result["json"] = json.loads(text)
        return result


def _send_pinned(target: netguard.Target, *, method, url, headers, content, timeout):
    """Send one request to one of `target`'s checked addresses; return the answer, read."""
    original = httpx.URL(url)
    # The Host header and TLS (SNI, certificate check) keep the name; only the TCP
    # connection goes to the address: that is the pin against DNS rebinding.
    send_headers = {**headers, "Host": original.netloc.decode("ascii")}
    extensions = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = original.raw_host.decode("ascii")
    last_error: Exception | None = None
    for address in target.addresses:
        pinned = original.copy_with(host=str(address))
        deadline = time.monotonic() + timeout
        # A client per connection: a pooled connection must never carry one name's TLS
        # session to another name on the same address. No proxies from the environment: a
        # proxy would connect by name, around the check.
        with httpx.Client(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            verify=_tls_context(),
        ) as client:
            request = client.build_request(
                method, pinned, headers=send_headers, content=content, extensions=extensions
            )
            try:
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent: the next checked address may answer.
                last_error = exc
                continue
            except httpx.TimeoutException:
                raise WebhookError(
                    f"Timed out after {timeout:g} s waiting for {_loggable(url)}."
                ) from None
            except httpx.HTTPError as exc:
                raise WebhookError(f"Request to {_loggable(url)} failed: {exc}") from None
            try:
                body, truncated = _read_capped(
                    response, deadline=deadline, timeout=timeout, url=url
                )
            finally:
                response.close()
            return response.status_code, response.reason_phrase, response.headers, body, truncated
    raise WebhookError(f"Cannot connect to {_loggable(url)}: {last_error}")


def _read_capped(response: httpx.Response, *, deadline: float, timeout: float, url: str):
    chunks, size, truncated = [], 0, False
    try:
        for chunk in response.iter_bytes():
            if time.monotonic() > deadline:
                raise WebhookError(f"Timed out after {timeout:g} s reading from {_loggable(url)}.")
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_RESPONSE_BYTES:
                truncated = True
                break
    except httpx.TimeoutException:
        raise WebhookError(
            f"Timed out after {timeout:g} s reading from {_loggable(url)}."
        ) from None
    except httpx.HTTPError as exc:
        raise WebhookError(f"Reading the answer from {_loggable(url)} failed: {exc}") from None
    return b"".join(chunks)[:MAX_RESPONSE_BYTES], truncated


def _tls_context() -> ssl.SSLContext:
    """Certificates are checked against the URL's name, with WEBHOOK_CA_BUNDLE's CAs if set
    (an internal CA), else with certifi's, as httpx does by default."""
    bundle = conf.WEBHOOK_CA_BUNDLE or certifi.where()
    return ssl.create_default_context(cafile=bundle)


def _ip_literal(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _charset(headers: httpx.Headers) -> str:
    content_type = headers.get("content-type", "")
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            try:
                return codecs.lookup(value.strip('"')).name
            except LookupError:
                break
    return "utf-8"


def _loggable(url: str) -> str:
    """`url` without credentials or query string, which often carry secrets."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))
