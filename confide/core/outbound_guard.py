"""Outbound requests only to public addresses (SSRF protection).

Why: an admin types the URL that Confide POSTs replies to. Without a check, that URL could
point at the cloud metadata service (169.254.169.254), the database on localhost or a host on
the private network, and Confide would carry requests there on the admin's behalf (server-side
request forgery, OWASP A10). So every outbound host is resolved and each address must be
public, both when the URL is configured and again for every request: a name that resolved to
a public address yesterday may resolve to 127.0.0.1 today (DNS rebinding).

At request time :class:`GuardedTransport` resolves the host once, checks every address, and
connects to the checked address itself (the ``Host`` header and, for https, the TLS server
name stay the original name), so no second lookup can slip in another address. Redirects are
never followed by the callers; if one were, the new host would pass through the same check.

Networks an operator trusts (a bridge on this host) are listed in the setting
``outbound_allowed_networks``; metadata addresses are refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpx

from confide.core.errors import OutboundAddressRefused, OutboundRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud instance metadata services: never reachable, whatever the allowed networks say.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)


def _networks(allowed: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in allowed]


def address_refused(address: IPAddress, allowed: Iterable[str] = ()) -> bool:
    """Whether ``address`` is loopback, private, link-local, reserved or a metadata address
    and not inside an allowed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return True
    if address.is_global and not address.is_multicast:
        return False
    return not any(address in network for network in _networks(allowed))


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal: itself). Raises ``OSError``."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


async def check_url(url: str, allowed: Iterable[str], *, field: str) -> list[IPAddress]:
    """Resolve ``url``'s host and refuse it (:class:`OutboundAddressRefused`, naming ``field``)
    if any address is refused. A name that does not resolve now is accepted here: every
    request checks again. Returns the addresses found."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await resolve(parsed.host, port)
    except OSError:
        return []
    allowed = list(allowed)
    if any(address_refused(a, allowed) for a in addresses):
        raise OutboundAddressRefused(field=field)
    return addresses


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects only to checked, public addresses (see the module
    docstring). Raises :class:`OutboundRefused` for a refused address (nothing is sent) and
    :class:`httpx.ConnectError` for a name that does not resolve."""

    def __init__(self, allowed_networks: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._allowed = list(allowed_networks)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"name resolution failed ({type(exc).__name__})") from exc
        if not addresses or any(address_refused(a, self._allowed) for a in addresses):
            raise OutboundRefused("outbound address refused")
        pinned = str(addresses[0])
        if pinned != host.strip("[]"):
            request.url = request.url.copy_with(host=pinned)
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return await super().handle_async_request(request)
