"""The egress guard: which addresses outbound step requests may connect to (SPEC §9).

`http_request`, `webhook` and `agent_task` send through one httpx client whose connection pool
opens every TCP connection through `EgressBackend`. The backend resolves the host itself,
checks each address, and connects to an address it checked (never to the name again, so DNS
cannot answer differently between check and connect). Each redirect hop to a new origin opens
a new connection, so it passes the same check. TLS still verifies the certificate against the
URL's host name: httpcore hands that name to the TLS layer, not the address we dialled.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

import anyio
import httpcore
import httpx

log = logging.getLogger("flowdeck.egress")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# One sentence for every way a connection can fail to happen: refused by this guard, refused by
# the peer, unreachable, unresolvable or timed out. Telling them apart would make steps a port
# scanner for whoever can write a workflow.
UNREACHABLE = (
    "cannot connect: the target refused or did not answer, or the egress guard does not allow "
    "its address (FLOWDECK_HTTP_ALLOW opens intranet addresses)"
)

ALLOW_ALL = "*"

# Refused unless FLOWDECK_HTTP_ALLOW opens them. IPv4-mapped (::ffff:0:0/96) and NAT64
# (64:ff9b::/96) addresses are judged by the IPv4 address they carry.
REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network (0.0.0.0 reaches the local host)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local, including cloud metadata at 169.254.169.254"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and the broadcast address 255.255.255.255"),
    ("::/96", "unspecified (::), loopback (::1) and IPv4-compatible (deprecated)"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments: Teredo, benchmarking, ORCHID"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4 (deprecated)"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) identifiers"),
    ("fc00::/7", "unique local (ULA)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
_REFUSED = tuple(ipaddress.ip_network(cidr) for cidr, _ in REFUSED_NETWORKS)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_BRACKETED = re.compile(r"\[(?P<address>[^\]]+)\](?::(?P<port>\d+))?")


def carried_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address reaches; else `address`."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(address.packed[-4:])
    return address


def refused_by_default(address: IPAddress) -> bool:
    """Whether the guard refuses `address` when nothing opens it."""
    target = carried_ipv4(address)
    return any(target in network for network in _REFUSED)


@dataclass(frozen=True)
class AllowRule:
    """One FLOWDECK_HTTP_ALLOW entry: a network or a host name, on one port or on all."""

    network: IPNetwork | None = None
    host: str | None = None
    port: int | None = None

    def opens(self, host: str, address: IPAddress, port: int) -> bool:
        """Whether this entry opens `address` (reached as `host`) on `port`."""
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == host.lower().rstrip(".")
        assert self.network is not None
        return address in self.network or carried_ipv4(address) in self.network


@dataclass(frozen=True)
class EgressPolicy:
    """Refuse the default ranges except what `rules` open; `allow_all` turns the guard off."""

    rules: tuple[AllowRule, ...] = ()
    allow_all: bool = False

    def permits(self, host: str, address: IPAddress, port: int) -> bool:
        """Whether a connection to `address`:`port`, found for `host`, may be opened."""
        if self.allow_all or any(rule.opens(host, address, port) for rule in self.rules):
            return True
        return not refused_by_default(address)

    def with_endpoint(self, url: str) -> EgressPolicy:
        """This policy, also opening the host:port of `url` (the operator's LLM endpoint)."""
        try:
            parsed = httpx.URL(url)
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            rule = _rule(parsed.raw_host.decode("ascii"), port)
        except (httpx.InvalidURL, ValueError):
            return self  # an unusable URL fails the agent step on its own
        return replace(self, rules=(*self.rules, rule))


def _normal_host(name: str) -> str:
    """A host name as httpx puts it on the wire: IDNA, lower case, no trailing dot."""
    return httpx.URL(f"http://{name}/").raw_host.decode("ascii").rstrip(".")


def _rule(host: str, port: int | None) -> AllowRule:
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    try:
        return AllowRule(network=ipaddress.ip_network(host, strict=False), port=port)
    except ValueError:
        pass
    if not host or any(c in host for c in ":/[]*@ "):
        raise ValueError("neither a network nor a host name")
    try:
        return AllowRule(host=_normal_host(host), port=port)
    except httpx.InvalidURL as exc:
        raise ValueError(str(exc)) from None


def _parse_entry(entry: str) -> AllowRule:
    bracketed = _BRACKETED.fullmatch(entry)
    if bracketed:
        port = bracketed.group("port")
        return _rule(bracketed.group("address"), int(port) if port else None)
    try:
        return _rule(entry, None)
    except ValueError:
        host, sep, port = entry.rpartition(":")
        if not (sep and port.isdigit()) or ":" in host:
            raise
        return _rule(host, int(port))


def parse_allow_list(text: str) -> EgressPolicy:
    """The policy a FLOWDECK_HTTP_ALLOW value describes; ValueError names every bad entry."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    rules: list[AllowRule] = []
    problems: list[str] = []
    for entry in entries:
        if entry == ALLOW_ALL:
            continue
        try:
            rules.append(_parse_entry(entry))
        except ValueError as exc:
            problems.append(f"{entry!r} ({exc})")
    if problems:
        raise ValueError(
            f"entries must be CIDRs, hosts or host:port ('{ALLOW_ALL}' allows all): "
            + ", ".join(problems)
        )
    return EgressPolicy(rules=tuple(rules), allow_all=ALLOW_ALL in entries)


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, in its order (IP literals as is)."""
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class EgressBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard in front of every TCP connection."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolve: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve `host`, keep the addresses the policy permits, connect to one that answers."""
        # The connect timeout covers resolving too; the sentence hides which step took too long.
        with anyio.move_on_after(timeout):
            for address in await self._permitted(host, port):
                try:
                    return await self._inner.connect_tcp(
                        address, port, local_address=local_address, socket_options=socket_options
                    )
                except httpcore.ConnectError:
                    continue
            raise httpcore.ConnectError(UNREACHABLE)
        raise httpcore.ConnectTimeout(UNREACHABLE)

    async def _permitted(self, host: str, port: int) -> list[str]:
        try:
            found = await self._resolve(host, port)
        except OSError:
            raise httpcore.ConnectError(UNREACHABLE) from None
        permitted = [
            address
            for address in found
            if self.policy.permits(host, ipaddress.ip_address(address), port)
        ]
        if not permitted:
            log.info("Egress guard refused %s port %d (%s)", host, port, ", ".join(found))
            raise httpcore.ConnectError(UNREACHABLE)
        return permitted

    async def sleep(self, seconds: float) -> None:
        """Pause, as the wrapped backend does (httpcore's connect retries use it)."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool dialling through `backend`."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        *,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limits=limits)
        # httpx 0.28 cannot pass a network backend to its pool (encode/httpx#3749 would add it),
        # so swap in the same pool built with one. Fail loudly should httpx change that layout.
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx's transport layout changed: the egress guard cannot install")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def step_client(
    policy: EgressPolicy,
    *,
    timeout: float = 30.0,
    resolve: Resolver = resolve_host,
    inner: httpcore.AsyncNetworkBackend | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The client steps share: redirects followed, every connection through the guard.

    `trust_env=False`: an HTTP(S)_PROXY from the environment would carry requests past the
    guard (the proxy, not us, would connect), and ~/.netrc would hand credentials to any host.
    `resolve`, `inner` and `ssl_context` default to the system's resolver, sockets and CAs.
    """
    backend = EgressBackend(policy, resolve=resolve, inner=inner)
    return httpx.AsyncClient(
        transport=GuardedTransport(backend, ssl_context=ssl_context),
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        trust_env=False,
    )
