"""Which address a request comes from, behind trusted reverse proxies and otherwise."""

from __future__ import annotations

import re

import pytest

from atriz_core.kit.forwarded import client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.10, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),  # no proxy in between
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # the header from an untrusted peer is ignored
        ("10.0.0.5", None, "10.0.0.5"),  # a proxy that says nothing
        ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.5", "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # the client wrote 1.2.3.4 itself
        ("10.0.0.5", "203.0.113.9, 192.0.2.10", "203.0.113.9"),  # two proxies of ours
        ("10.0.0.5", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # only our own hops: the first one
        ("10.0.0.5", "203.0.113.9, not-an-address", "10.0.0.5"),  # malformed: believe nothing
        ("fd00::1", "2001:db8::7", "2001:db8::7"),
        ("10.0.0.5", "2001:DB8:0::7", "2001:db8::7"),  # normalised, so limits count it once
        (None, "203.0.113.9", None),
        ("testclient", "203.0.113.9", "testclient"),  # not an address: not a proxy of ours
    ],
)
def test_client_address(peer: str | None, forwarded_for: str | None, expected: str | None) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert client_address("10.0.0.5", "203.0.113.9", ()) == "10.0.0.5"


def test_a_bad_network_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300' is not an IP address or network")):
        parse_networks("10.0.0.0/8, 10.0.0.300")
