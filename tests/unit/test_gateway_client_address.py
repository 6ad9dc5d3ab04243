"""Which address the gateway counts a request against: the peer, or what trusted
proxies wrote in X-Forwarded-For, never what a client wrote there itself."""

from __future__ import annotations

import pytest

from llmsvc.gateway.client_address import Network, client_address, parse_networks

pytestmark = pytest.mark.unit

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        # No trusted proxy configured: the header means nothing.
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),
        # An untrusted peer cannot claim to be someone else.
        ("203.0.113.9", "1.2.3.4", PROXIES, "203.0.113.9"),
        # Through one trusted proxy: the address it saw.
        ("127.0.0.1", "198.51.100.7", PROXIES, "198.51.100.7"),
        # Through two trusted proxies: the nearest untrusted hop, not the client's own
        # claim further left.
        ("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", PROXIES, "198.51.100.7"),
        # A trusted proxy that sent no header: the proxy itself.
        ("127.0.0.1", None, PROXIES, "127.0.0.1"),
        ("10.1.2.3", "10.2.2.2", PROXIES, "10.2.2.2"),
        ("2001:db8::1", "198.51.100.7", parse_networks(["2001:db8::/32"]), "198.51.100.7"),
    ],
)
def test_the_client_address_is_believed_only_as_far_as_trusted_proxies(
    peer: str,
    forwarded: str | None,
    proxies: list[Network],
    expected: str,
) -> None:
    assert client_address(peer, forwarded, proxies) == expected


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    from llmsvc.gateway.settings import GatewaySettings

    assert GatewaySettings(trusted_proxies="10.0.0.0/8, 127.0.0.1").trusted_proxies == [
        "10.0.0.0/8",
        "127.0.0.1",
    ]
    with pytest.raises(ValueError, match="not-an-ip"):
        GatewaySettings(trusted_proxies="not-an-ip")
