"""The client's address: the socket's, unless the request came through a trusted proxy.

Only when the connection comes from an address in BACKSTOP_TRUSTED_PROXIES is X-Forwarded-For
believed, and then read from the right, skipping the trusted proxies themselves: the first
address that is not one of ours is the client. A forged X-Forwarded-For from anyone else is
ignored, so IP restrictions and sign-in limits cannot be dodged with a header."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@cache
def _proxies(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net) for net in networks)


def _parse(text: str) -> Address | None:
    """An address as a socket or a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address) -> bool:
    return any(address in net for net in _proxies(tuple(settings.BACKSTOP_TRUSTED_PROXIES)))


def client_address(request: HttpRequest) -> Address | None:
    socket = _parse(request.META.get("REMOTE_ADDR", ""))
    if socket is None or not _trusted(socket):
        return socket
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return None  # a garbled header: no address, so no trusted list lets it in
        if not _trusted(address):
            return address
    return socket


def client_ip(request: HttpRequest) -> str:
    address = client_address(request)
    return str(address) if address else ""
