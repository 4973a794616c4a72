"""The outbound-request guard: which addresses a handler may connect to.

A job's payload names a URL, and the worker runs inside the operator's network, so an
unchecked URL lets whoever creates jobs reach the database, the cloud metadata service or an
internal admin page (server-side request forgery). Before every connection, and again for
every redirect, `resolve()` looks the host up once, refuses it if *any* of its addresses is
loopback, private, link-local, metadata, multicast or otherwise not public, and returns the
checked addresses. The caller connects to one of those very addresses (not to the name
again), so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot slip a private address in.

Operators open specific addresses or networks with the `WEBHOOK_ALLOWED_ADDRESSES` setting
(e.g. `["10.0.5.0/24"]` for an internal hook receiver).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from jobs import conf
from jobs.exceptions import SchedulerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = {"http": 80, "https": 443}

# Cloud instance metadata services. Most are link-local already; named apart so the refusal
# says what it protected. AWS (IPv4 and IPv6), ECS task metadata, Alibaba Cloud.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
# NAT64 (RFC 6052): the last 32 bits are an IPv4 address the gateway connects to.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
# Ranges refused by name, because `ipaddress` calls some of them global (its tables differ
# between Python releases) or files them under a misleading class.
NAMED_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        # "This network" (RFC 1122): Linux connects 0.0.0.0 to the local host itself.
        ("0.0.0.0/8", "unspecified"),
        ("255.255.255.255/32", "broadcast"),
        # Deprecated site-local (RFC 3879), still routed inside some networks; Python 3.11
        # says is_global.
        ("fec0::/10", "site-local"),
        # Teredo (RFC 4380) tunnels to whatever IPv4 host and port the address encodes (in
        # obfuscated form); refused whole rather than trusting the decoding.
        ("2001::/32", "teredo"),
    )
)


class AddressRefused(SchedulerError):
    """The request was refused: the address is not a public one."""

    def __init__(self, message: str, *, host: str = "", address: str = "", reason: str = ""):
        super().__init__(message, host=host, address=address, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A URL's host and port, with the checked addresses to connect to, in resolver order."""

    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def classify(address: IPAddress) -> str | None:
    """Return why `address` is refused ("loopback", "private", ...), or None if it is public."""
    # An IPv4 address written as IPv6 (::ffff:10.0.0.1, 2002:a00:1:: 6to4) reaches the IPv4
    # host: judge the embedded address.
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return classify(embedded)
    if address in METADATA_ADDRESSES:
        return "metadata"
    for network, reason in NAMED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        # Shared (carrier-grade NAT), benchmarking, documentation and other special ranges.
        return "non-public"
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any."""
    if address.version != 6:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def allowed_networks() -> list[IPNetwork]:
    """Return the networks the `WEBHOOK_ALLOWED_ADDRESSES` setting opens."""
    networks = []
    for entry in conf.WEBHOOK_ALLOWED_ADDRESSES:
        networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
    return networks


def check_address(address: IPAddress, *, host: str, allowed: list[IPNetwork]) -> None:
    """Raise AddressRefused unless `address` is public or opened by the allow-list."""
    reason = classify(address)
    if reason is None:
        return
    candidates = [address, embedded_ipv4(address)]
    if any(
        a in network
        for a in candidates
        if a is not None
        for network in allowed
        if a.version == network.version
    ):
        return
    shown = host if host == str(address) else f"{host} ({address})"
    raise AddressRefused(
        f"Refused to connect to {shown}: {reason} address. "
        "List it in WEBHOOK_ALLOWED_ADDRESSES to allow it.",
        host=host,
        address=str(address),
        reason=reason,
    )


def split_url(url: str) -> tuple[str, str, int]:
    """Return the scheme, host and port of an http(s) URL, or raise AddressRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"Refused the URL {url!r}: {exc}.", reason="bad-url") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise AddressRefused(
            f"Refused the URL {url!r}: only http and https are allowed.", reason="scheme"
        )
    host = parts.hostname or ""
    if not host:
        raise AddressRefused(f"Refused the URL {url!r}: it has no host.", reason="bad-url")
    return scheme, host, port or ALLOWED_SCHEMES[scheme]


def resolve(url: str) -> Target:
    """Look up `url`'s host once and return its addresses, each checked, or raise.

    Every address the name resolves to must pass: a name with one public and one private
    address is refused, since the connection could go to either.
    """
    scheme, host, port = split_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(
            f"Cannot resolve the host {host!r}: {exc}.", host=host, reason="unresolvable"
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        # Drop an IPv6 zone ("fe80::1%eth0"): the address itself is what we judge.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise AddressRefused(f"The host {host!r} has no address.", host=host, reason="unresolvable")
    allowed = allowed_networks()
    for address in addresses:
        check_address(address, host=host, allowed=allowed)
    return Target(scheme=scheme, host=host, port=port, addresses=tuple(addresses))
