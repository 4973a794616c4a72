"""The built-in `webhook` handler: one HTTP request, to public addresses only.

The payload names the method, URL, headers, a JSON body and a timeout. A 2xx answer
succeeds and is stored as the result; anything else fails the attempt with the status in the
error (and so is retried like any failure). Redirects are followed here, hop by hop, so that
each new location goes through the address check again (see handlers.netguard), and every
connection goes to an address that was checked, never to a name resolved a second time.

The request is bounded whatever the server does (see handlers.httpbounds): one wall-clock
deadline over all of it, a size limit counted on the bytes read from the socket, and a
limit on what a compressed answer may inflate to.
"""

import codecs
import contextlib
import ipaddress
import json
import ssl
import time
import zlib

import certifi
import httpcore
import httpx

from jobs import conf
from jobs.exceptions import SchedulerError

from . import httpbounds, netguard
from .registry import register

# Seconds for the whole request, redirects included: connect, TLS, send, read the answer.
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0  # seconds
DEFAULT_MAX_REDIRECTS = 5
MAX_REDIRECTS = 10
# Read at most this much of an answer's body from the socket (compressed or not), and keep
# at most this much of it once decompressed; the rest is dropped.
MAX_RESPONSE_BYTES = 1024 * 1024
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
            # Often credentials (Authorization, API keys): stored and sent, never shown back.
            "writeOnly": True,
            "description": "Sent with the request; shown back with each value masked.",
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
    """Send the request, following redirects one checked hop at a time; return the 2xx answer.

    The whole of it, every hop included, ends by one deadline: `timeout` seconds from now,
    or the run's own timeout (the job's timeout_seconds) if that is shorter, since past it
    the worker has given the run up and the request would only hold its thread.
    """
    started = time.monotonic()
    budget = timeout
    job = getattr(ctx, "job", None)
    if job is not None:
        budget = min(budget, job.effective_timeout)
    deadline = httpbounds.Deadline(started + budget)
    redirects = 0
    while True:
        if ctx is not None:
            ctx.raise_if_cancelled()
        target = netguard.resolve(url)
        status, reason, response_headers, body, truncated = _send_pinned(
            target,
            method=method,
            url=url,
            headers=headers,
            content=content,
            deadline=deadline,
            budget=budget,
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


def _send_pinned(target: netguard.Target, *, method, url, headers, content, deadline, budget):
    """Send one request to one of `target`'s checked addresses; return the answer, read."""
    original = httpx.URL(url)
    # The Host header and TLS (SNI, certificate check) keep the name; only the TCP
    # connection goes to the address: that is the pin against DNS rebinding.
    send_headers = {
        "Accept": "*/*",
        "Accept-Encoding": httpbounds.ACCEPT_ENCODING,
        **headers,
        "Host": original.netloc.decode("ascii"),
        "Connection": "close",
    }
    if content is not None:
        send_headers["Content-Length"] = str(len(content))
    extensions = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = original.raw_host.decode("ascii")
    last_error: Exception | None = None
    for address in target.addresses:
        pinned = original.copy_with(host=str(address))
        left = max(0.0, deadline.at - time.monotonic())
        extensions["timeout"] = dict.fromkeys(("connect", "read", "write", "pool"), left)
        # A pool per connection: a pooled connection must never carry one name's TLS
        # session to another name on the same address. httpcore rather than httpx: no
        # proxies from the environment (a proxy would connect by name, around the check),
        # and the body arrives as sent, so its size is counted before any decompression.
        with httpcore.ConnectionPool(
            ssl_context=_tls_context(), network_backend=deadline, max_connections=1
        ) as pool:
            try:
                with pool.stream(
                    method,
                    str(pinned),
                    headers=list(send_headers.items()),
                    content=content,
                    extensions=extensions,
                ) as response:
                    response_headers = httpx.Headers(response.headers)
                    body, truncated = _read_capped(
                        response, response_headers, budget=budget, url=url
                    )
            except httpcore.ConnectError as exc:
                # Nothing was sent: the next checked address may answer.
                last_error = exc
                continue
            except httpcore.TimeoutException:
                raise WebhookError(
                    f"Timed out after {budget:g} s waiting for {_loggable(url)}."
                ) from None
            except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise WebhookError(f"Request to {_loggable(url)} failed: {exc}") from None
            reason = response.extensions.get("reason_phrase", b"").decode("ascii", "replace")
            return response.status, reason, response_headers, body, truncated
    raise WebhookError(f"Cannot connect to {_loggable(url)}: {last_error}")


def _read_capped(response: httpcore.Response, headers: httpx.Headers, *, budget, url):
    """Read the body: at most MAX_RESPONSE_BYTES from the socket, and at most as much once
    decoded; return it and whether anything was dropped."""
    try:
        decoder = httpbounds.CappedDecoder(
            headers.get("content-encoding", ""), limit=MAX_RESPONSE_BYTES
        )
    except httpbounds.UnsupportedEncoding as exc:
        raise WebhookError(f"Cannot read the answer from {_loggable(url)}: {exc}") from None
    chunks, raw, truncated = [], 0, False
    try:
        for chunk in response.iter_stream():
            if raw + len(chunk) > MAX_RESPONSE_BYTES:
                chunk, truncated = chunk[: MAX_RESPONSE_BYTES - raw], True
            raw += len(chunk)
            chunks.append(decoder.decode(chunk))
            if truncated or decoder.full:
                # Leaving the stream closes the connection: the rest is never read.
                break
    except zlib.error as exc:
        raise WebhookError(f"Cannot decode the answer from {_loggable(url)}: {exc}") from None
    return b"".join(chunks), truncated or decoder.full


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
