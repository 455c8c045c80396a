"""Transfers outside the EEA need a recorded safeguard; outbound webhooks reach public
addresses only (SSRF), checked when configured and again at every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confide.access.models import Role
from confide.chat import channels
from confide.chat.models import ChannelDelivery, ChannelEndpoint
from confide.core.config import Settings
from confide.core.errors import OutboundRefused
from confide.core.outbound_guard import GuardedTransport
from confide.runtime import Runtime
from tests.chat.test_channels import _reply, hook, inbound, signed
from tests.conftest import World


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(outbound_allowed_networks=[])  # production's default


@pytest.fixture
async def admin(world: World) -> dict[str, str]:
    return await world.headers(await world.operator("ada", Role.ADMIN))


@dataclass
class Server:
    url: str
    received: list[bytes] = field(default_factory=list)
    redirect_to: str | None = None


async def _serve(host: str) -> AsyncIterator[Server]:
    import uvicorn

    state = Server(url="")

    async def replies(request: Request) -> Response:
        state.received.append(await request.body())
        if state.redirect_to:
            return Response(status_code=302, headers={"Location": state.redirect_to})
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/replies", replies, methods=["POST"])])
    config = uvicorn.Config(app, host=host, port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    state.url = f"http://{host}:{port}/replies"
    yield state
    await channels.drain(grace_seconds=5)
    server.should_exit = True
    await task


@pytest.fixture
async def bridge() -> AsyncIterator[Server]:
    async for server in _serve("127.0.0.1"):
        yield server


@pytest.fixture
async def internal() -> AsyncIterator[Server]:
    """A service on another loopback address: what an SSRF would try to reach."""
    async for server in _serve("127.0.0.2"):
        yield server


async def put_channel(
    client: httpx.AsyncClient, admin: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.put("/api/v1/channels/sms", json={"enabled": True, **body}, headers=admin)


# -- subprocessors and transfers -----------------------------------------------------------


async def test_a_subprocessor_outside_the_eea_needs_a_safeguard(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = {"name": "Example Cloud", "service": "Hosting"}
    cases = [
        ({"country": "US"}, "country", "transfer_not_safeguarded"),
        ({"country": "CN", "safeguard": "adequacy"}, "country", "transfer_not_safeguarded"),
        ({"country": "IN", "safeguard": "scc"}, "country", "transfer_not_safeguarded"),
        ({"country": "XX1"}, "country", "validation_failed"),
        ({"country": "ZZ", "safeguard": "scc"}, "country", "validation_failed"),  # no country
    ]
    for extra, field_name, code in cases:
        response = await client.post("/api/v1/subprocessors", json={**base, **extra}, headers=admin)
        assert response.status_code == 422, extra
        assert response.json()["error"]["field"] == field_name, extra
        assert response.json()["error"]["code"] == code, extra
    for extra in (
        {"country": "de"},  # inside the EEA: no safeguard needed
        {"country": "CH", "safeguard": "adequacy"},
        {"country": "IN", "safeguard": "scc", "safeguard_date": "2024-06-01"},
    ):
        response = await client.post("/api/v1/subprocessors", json={**base, **extra}, headers=admin)
        assert response.status_code == 201, response.text
    listed = (await client.get("/api/v1/subprocessors", headers=admin)).json()["subprocessors"]
    assert sorted(s["country"] for s in listed) == ["CH", "DE", "IN"]
    gone = await client.delete(f"/api/v1/subprocessors/{listed[0]['id']}", headers=admin)
    assert gone.status_code == 204


async def test_a_webhook_outside_the_eea_is_refused_until_its_receiver_is_safeguarded(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "https://bridge.example.invalid/out"
    refused = await put_channel(client, admin, outbound_url=url, outbound_country="US")
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "transfer_not_safeguarded",
        "message": refused.json()["error"]["message"],
        "field": "outbound_country",
    }
    assert "bridge.example.invalid" in refused.json()["error"]["message"]
    assert (
        await put_channel(client, admin, outbound_url=url, outbound_country="FR")
    ).status_code in (
        200,
        201,
    )
    await client.post(
        "/api/v1/subprocessors",
        json={
            "name": "Example Bridge Inc.",
            "service": "SMS bridge",
            "country": "US",
            "host": "bridge.example.invalid",
            "safeguard": "adequacy",  # EU-US Data Privacy Framework
        },
        headers=admin,
    )
    accepted = await put_channel(client, admin, outbound_url=url, outbound_country="US")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["outbound_country"] == "US"

    # The webhook relies on that entry's safeguard: it cannot be removed from under it.
    [entry] = (await client.get("/api/v1/subprocessors", headers=admin)).json()["subprocessors"]
    kept = await client.delete(f"/api/v1/subprocessors/{entry['id']}", headers=admin)
    assert kept.status_code == 409 and "Settings → Channels" in kept.json()["error"]["message"]
    await put_channel(client, admin, outbound_url=None)
    gone = await client.delete(f"/api/v1/subprocessors/{entry['id']}", headers=admin)
    assert gone.status_code == 204


# -- SSRF ------------------------------------------------------------------------------------


async def test_outbound_urls_to_private_addresses_are_refused_when_configured(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url in (
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",  # a name that resolves to 127.0.0.1
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://10.1.2.3/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::1]/hook",
    ):
        response = await put_channel(client, admin, outbound_url=url)
        assert response.status_code == 422, url
        assert response.json()["error"]["code"] == "outbound_address_refused", url
        assert response.json()["error"]["field"] == "outbound_url", url


async def _reply_to_a_thread(
    client: httpx.AsyncClient, admin: dict[str, str], secret: str
) -> dict[str, Any]:
    body = inbound()
    conversation = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    await _reply(client, admin, conversation, "On its way")
    await channels.drain(grace_seconds=10)
    return conversation  # type: ignore[no-any-return]


async def test_a_name_that_now_resolves_to_loopback_is_refused_at_request_time(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime, bridge: Server
) -> None:
    secret = (await put_channel(client, admin, outbound_url=None)).json()["signing_secret"]
    # Configured while its name resolved to a public address; today it answers 127.0.0.1.
    async with rt.db.transaction() as tx:
        await tx.execute(update(ChannelEndpoint).values(outbound_url=bridge.url))
    await _reply_to_a_thread(client, admin, secret)
    assert bridge.received == []  # nothing left the machine towards loopback
    async with rt.db.session() as session:
        delivery = await session.scalar(select(ChannelDelivery))
    assert delivery is not None
    assert (delivery.status.value, delivery.last_error, delivery.attempts) == (
        "failed",
        "address_refused",
        1,
    )


async def test_a_redirect_to_an_internal_address_is_not_followed(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime, bridge: Server, internal: Server
) -> None:
    # The bridge on this host is trusted; the internal service on 127.0.0.2 is not.
    rt.settings = rt.settings.with_overrides(outbound_allowed_networks=["127.0.0.1/32"])
    bridge.redirect_to = internal.url
    response = await put_channel(client, admin, outbound_url=bridge.url)
    assert response.status_code == 201, response.text
    await _reply_to_a_thread(client, admin, response.json()["signing_secret"])
    assert len(bridge.received) == 1 and internal.received == []
    async with rt.db.session() as session:
        delivery = await session.scalar(select(ChannelDelivery))
    assert delivery is not None and delivery.last_error == "http_302"

    # Even a client that follows redirects gets no further through the guarded transport.
    async with httpx.AsyncClient(
        transport=GuardedTransport(["127.0.0.1/32"]), follow_redirects=True
    ) as guarded:
        with pytest.raises(OutboundRefused):
            await guarded.post(bridge.url, content=b"{}")
    assert internal.received == []


async def test_the_guarded_transport_reaches_allowed_addresses(bridge: Server) -> None:
    async with httpx.AsyncClient(transport=GuardedTransport(["127.0.0.1/32"])) as guarded:
        assert (await guarded.post(bridge.url, content=b"{}")).status_code == 200
    async with httpx.AsyncClient(transport=GuardedTransport()) as strict:
        with pytest.raises(OutboundRefused):
            await strict.post(bridge.url.replace("127.0.0.1", "localhost"), content=b"{}")
    assert len(bridge.received) == 1


async def test_an_smtp_relay_outside_the_eea_needs_a_safeguard(
    settings: Settings, rt: Runtime, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    relay = {"smtp_host": "relay.example.invalid", "smtp_country": "US"}
    with pytest.raises(ValidationError) as refused:
        settings.with_overrides(**relay)
    assert "smtp_country" in str(refused.value) and "outside the EEA" in str(refused.value)
    with pytest.raises(ValidationError, match="smtp_safeguard"):
        settings.with_overrides(**relay, smtp_safeguard="scc:someday")
    assert settings.with_overrides(smtp_host="relay.example.invalid", smtp_country="ie")

    rt.settings = settings.with_overrides(**relay, smtp_safeguard="scc:2025-01-31")
    record = (await client.get("/api/v1/records/processing", headers=admin)).json()
    transfers = next(s for s in record["sections"] if s["key"] == "1e")["items"]
    assert {
        "label": "SMTP relay relay.example.invalid (US)",
        "value": "standard contractual clauses of 2025-01-31 (Art. 46(2)(c))",
    } in transfers
