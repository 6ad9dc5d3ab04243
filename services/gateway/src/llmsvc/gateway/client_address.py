"""The client's address, for per-address limits: the connection's peer, unless that
peer is a proxy the operator trusts (`TRUSTED_PROXIES`), in which case the nearest
address in `X-Forwarded-For` that is not itself a trusted proxy. A client can put
anything in that header, so it is believed only as far as trusted proxies wrote it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]
) -> str | None:
    if peer is None or not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):  # the nearest hop was written by the proxy we trust
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
