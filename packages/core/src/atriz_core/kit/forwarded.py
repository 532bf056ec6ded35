"""The caller's address behind reverse proxies, for the per-address login limit and the audit log.

`X-Forwarded-For` is believed only when the connection comes from a configured proxy, and then
only as far as the chain of configured proxies goes: the address taken is the rightmost one that
is not a proxy of ours. Entries to the left of it were written by the client and prove nothing;
trusting the leftmost one would let any caller pick the address it is rate-limited under.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

__all__ = ["Network", "client_address", "parse_networks"]

Network = IPv4Network | IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 127.0.0.1"` as networks; `ValueError` names an entry that is not one."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if entry:
            try:
                networks.append(ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
    return tuple(networks)


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy that says otherwise."""
    if peer is None or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # a malformed entry: nothing to the left of it can be believed
    return hops[0] if hops[0] else peer  # every hop is ours: the first one is the client
