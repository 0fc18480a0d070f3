"""Per-request context set by a pure ASGI middleware: the client's address, TLS, and the request id.

X-Forwarded-For, X-Forwarded-Proto and X-Request-ID are believed only when the direct peer is one of the
configured trusted proxies; anyone else could forge them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.types import Scope

from schedgen.adapters.logs import request_id

__all__ = ["Client", "client_of", "parse_networks", "request_id"]

VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # an incoming X-Request-ID we are willing to echo
CLIENT_KEY = "schedgen.client"  # where the resolved Client is kept in the ASGI scope
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent the request, as far as we can trust it."""

    ip: str
    tls: bool
    trusted_peer: bool  # the direct peer is one of our proxies


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks ("10.0.0.0/8, 127.0.0.1")."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(text: str, networks: Sequence[Network]) -> bool:
    address = _ip(text)
    return address is not None and any(address in network for network in networks)


def header_of(scope: Scope, name: bytes) -> str:
    """The first request header of this (lower-case) name, decoded as HTTP's latin-1; "" if absent."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def resolve_client(scope: Scope, networks: Sequence[Network], *, force_tls: bool = False) -> Client:
    """The client address: the peer, or (behind trusted proxies) the last untrusted X-Forwarded-For hop."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    tls = scope.get("scheme") in ("https", "wss") or force_tls
    if not _trusted(peer, networks):
        return Client(peer, tls, trusted_peer=False)
    hops: Iterable[str] = reversed([h.strip() for h in header_of(scope, b"x-forwarded-for").split(",")])
    ip = peer
    for hop in hops:
        if not hop or _ip(hop) is None:
            break
        ip = hop
        if not _trusted(hop, networks):
            break
    proto = header_of(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
    return Client(ip, tls or proto == "https", trusted_peer=True)


def client_of(scope: Scope) -> Client:
    """The Client the edge middleware resolved (or the bare peer when it did not run)."""
    client = scope.get(CLIENT_KEY)
    if isinstance(client, Client):
        return client
    return resolve_client(scope, ())
