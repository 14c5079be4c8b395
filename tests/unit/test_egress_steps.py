"""The egress guard under the real step handlers, against real sockets on loopback.

Addresses outside loopback (10.x, 169.254.169.254…) are never dialled for real: the guard's
inner network backend is replaced by one that records where it was asked to connect and
connects to a loopback peer instead, so a guard that let them through would be seen.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from flowdeck.engine.agents import AgentProfile
from flowdeck.engine.egress import UNREACHABLE, EgressPolicy, parse_allow_list, step_client
from flowdeck.engine.steps.agent_task import AgentTaskHandler
from flowdeck.engine.steps.http_request import HttpRequestHandler
from flowdeck.engine.steps.webhook import WebhookHandler
from tests.support.peer import Reply, refused_url, running_peer
from tests.unit.egress_helpers import Forwarding, Loopback, resolver
from tests.unit.step_helpers import completed_output, step_failure

http_request = HttpRequestHandler()
GUARDED = EgressPolicy()
OPEN = parse_allow_list("*")


@pytest.fixture
async def loopback() -> AsyncIterator[Loopback]:
    peer = Loopback()
    await peer.start()
    yield peer
    await peer.stop()


def unreachable(url: str, method: str = "GET") -> str:
    return f"{method} {httpx.URL(url)} failed: {UNREACHABLE}"


async def fetch(client: httpx.AsyncClient, url: str, **config: Any) -> Any:
    return await completed_output(http_request, client, {"url": url, **config})


LOOPBACK_SPELLINGS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}",
    "http://127.1:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://0.0.0.0:{port}/",
]


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
async def test_loopback_is_refused_however_it_is_spelled(spelling: str, loopback: Loopback) -> None:
    url = spelling.format(port=loopback.port)
    async with step_client(GUARDED) as guarded:
        failure = await step_failure(http_request, guarded, {"url": url})
    assert failure.message == unreachable(url)
    assert failure.retryable is True
    assert loopback.connections == 0
    async with step_client(OPEN) as unguarded:  # the same URL does reach the peer
        assert (await fetch(unguarded, url))["body"] == "ok"
    assert loopback.connections == 1


INTRANET = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://172.16.0.1:8080/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
]


@pytest.mark.parametrize("url", INTRANET)
async def test_metadata_private_and_multicast_addresses_are_refused(
    url: str, loopback: Loopback
) -> None:
    network = Forwarding(loopback.port)
    async with step_client(GUARDED, inner=network) as guarded:
        failure = await step_failure(http_request, guarded, {"url": url})
    assert failure.message == unreachable(url)
    assert network.dialled == []
    async with step_client(OPEN, inner=network) as unguarded:
        assert (await fetch(unguarded, url))["status_code"] == 200
    assert network.dialled == [(httpx.URL(url).host, httpx.URL(url).port or 80)]


async def test_a_name_that_resolves_to_loopback_is_refused(loopback: Loopback) -> None:
    names = resolver({"intranet.test": [["127.0.0.1"]]})
    url = f"http://intranet.test:{loopback.port}/"
    async with step_client(GUARDED, resolve=names) as guarded:
        failure = await step_failure(http_request, guarded, {"url": url})
    assert failure.message == unreachable(url) and loopback.connections == 0
    # Opened, it connects to the address the guard checked: the system knows no such name.
    async with step_client(OPEN, resolve=names) as unguarded:
        assert (await fetch(unguarded, url))["body"] == "ok"


async def test_the_address_checked_is_the_address_dialled(loopback: Loopback) -> None:
    # A name that answers a public address, then loopback (DNS rebinding), and a name with both.
    names = resolver(
        {
            "rebind.test": [["93.184.216.34"], ["127.0.0.1"]],
            "mixed.test": [["127.0.0.1", "93.184.216.35"]],
        }
    )
    network = Forwarding(loopback.port)
    async with step_client(GUARDED, resolve=names, inner=network) as guarded:
        assert (await fetch(guarded, "http://rebind.test/"))["status_code"] == 200
        failure = await step_failure(http_request, guarded, {"url": "http://rebind.test/"})
        assert failure.message == unreachable("http://rebind.test/")
        assert (await fetch(guarded, "http://mixed.test/"))["status_code"] == 200
    assert network.dialled == [("93.184.216.34", 80), ("93.184.216.35", 80)]


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/api/me", "http://localhost:{port}/x"])
async def test_a_redirect_into_loopback_is_refused(target: str) -> None:
    async with running_peer() as allowed, running_peer() as inner:
        location = target.format(port=inner.port)
        allowed.replies["/start"] = Reply(status=302, headers={"Location": location})
        allowed.replies["/here"] = Reply(status=302, headers={"Location": "/there"})
        async with step_client(parse_allow_list(f"127.0.0.1:{allowed.port}")) as client:
            failure = await step_failure(http_request, client, {"url": allowed.url("/start")})
            assert failure.message == unreachable(allowed.url("/start"))
            assert inner.requests == []
            # A redirect that stays on the allowed origin is followed.
            assert (await fetch(client, allowed.url("/here")))["status_code"] == 200
        opened = f"127.0.0.1:{allowed.port},127.0.0.1:{inner.port}"
        async with step_client(parse_allow_list(opened)) as client:
            assert (await fetch(client, allowed.url("/start")))["status_code"] == 200
        assert [r.path for r in allowed.requests] == ["/start", "/here", "/there", "/start"]
        assert [r.path for r in inner.requests] == [httpx.URL(location).path]


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port whose accept queue is full, so a new connection is never answered."""
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        first.connect(("127.0.0.1", port))
        yield port


async def test_every_failure_to_connect_reads_the_same(loopback: Loopback) -> None:
    open_port = f"http://127.0.0.1:{loopback.port}/"
    names = resolver({"nowhere.test": [[]]})
    failures = []
    async with step_client(GUARDED) as guarded:  # open, refused by the guard
        failures.append((open_port, await step_failure(http_request, guarded, {"url": open_port})))
    lo = parse_allow_list("127.0.0.1")
    with silent_port() as port:
        silent = f"http://127.0.0.1:{port}/"
        async with step_client(lo, resolve=names, timeout=10) as opened:
            for url in (refused_url(), "http://nowhere.test/"):  # closed port, no such name
                failures.append((url, await step_failure(http_request, opened, {"url": url})))
            step_deadline = {"url": silent, "timeout_seconds": 0.5}
            failures.append((silent, await step_failure(http_request, opened, step_deadline)))
        async with step_client(lo, timeout=0.5) as impatient:  # httpx's connect timeout
            failures.append((silent, await step_failure(http_request, impatient, {"url": silent})))
    for url, failure in failures:
        assert failure.message == unreachable(url), failure.message
        assert failure.retryable is True
    assert loopback.connections == 0


async def test_webhook_is_guarded(loopback: Loopback) -> None:
    url = f"http://localhost:{loopback.port}/hook"
    async with step_client(GUARDED) as guarded:
        failure = await step_failure(WebhookHandler(), guarded, {"url": url, "payload": {"a": 1}})
    assert failure.message == unreachable(url, "POST")
    assert loopback.connections == 0


async def test_an_agents_own_base_url_is_guarded(loopback: Loopback) -> None:
    agent = AgentProfile(
        id="agent_1", name="a", model="m", base_url=f"http://127.0.0.1:{loopback.port}/v1"
    )

    async def agents(workspace_id: str, agent_id: str) -> AgentProfile:
        return agent

    config = {"agent_id": "agent_1", "goal": "hi"}
    async with step_client(GUARDED) as guarded:
        failure = await step_failure(AgentTaskHandler(), guarded, config, agents=agents)
    assert failure.message == unreachable(f"{agent.base_url}/chat/completions", "POST")
    assert loopback.connections == 0


async def test_environment_proxies_are_not_a_way_around(
    loopback: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_peer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url())
        network = Forwarding(loopback.port)
        names = resolver({"public.test": [["93.184.216.34"]]})
        async with step_client(GUARDED, resolve=names, inner=network) as guarded:
            assert (await fetch(guarded, "http://public.test/"))["status_code"] == 200
            failure = await step_failure(http_request, guarded, {"url": "http://10.0.0.1/"})
        assert failure.message == unreachable("http://10.0.0.1/")
        assert proxy.requests == []
        assert network.dialled == [("93.184.216.34", 80)]
