"""CORS for the widget's endpoints only, and the workspace's allowed origins (REST and socket)."""

from __future__ import annotations

import httpx
import pytest
import websockets

from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, open_socket, token_subprotocols
from tests.conftest import LiveServer, World
from tests.privacy.helpers import admin_headers, count_rows

SHOP = "https://shop.example.com"
EVIL = "https://evil.example"


def _preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def _allow(client: httpx.AsyncClient, admin: dict[str, str], *origins: str) -> None:
    response = await client.patch(
        "/api/v1/workspace/widget", json={"allowed_origins": list(origins)}, headers=admin
    )
    assert response.status_code == 200, response.text


async def test_any_site_may_embed_by_default_without_credentials_or_wildcard(
    world: World, client: httpx.AsyncClient
) -> None:
    await world.workspace()
    preflight = await client.options(
        "/api/v1/widget/conversations", headers=_preflight_headers(EVIL)
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == EVIL
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in preflight.headers
    config = await client.get("/api/v1/widget/acme/config", headers={"Origin": EVIL})
    assert config.status_code == 200
    assert config.headers["access-control-allow-origin"] == EVIL
    assert "Origin" in config.headers["vary"]
    created = await client.post("/api/v1/widget/acme/visitors", headers={"Origin": EVIL})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == EVIL


async def test_allowed_origins_admit_listed_sites_and_refuse_others_before_any_write(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    visitor = await new_visitor(client)  # before the list: a visitor of some site
    await _allow(client, admin, SHOP)

    refused = await client.get("/api/v1/widget/acme/config", headers={"Origin": EVIL})
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "origin"
    assert "access-control-allow-origin" not in refused.headers
    preflight = await client.options(
        "/api/v1/widget/acme/visitors", headers=_preflight_headers(EVIL)
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    visitors_before = await count_rows(rt, "visitors")
    assert (
        await client.post("/api/v1/widget/acme/visitors", headers={"Origin": EVIL})
    ).status_code == 403
    assert await count_rows(rt, "visitors") == visitors_before

    # Token-addressed paths: the workspace comes from the token.
    start = {"message": {"client_id": "c1", "body": "Hello"}}
    sneaky = await client.post(
        "/api/v1/widget/conversations",
        json=start,
        headers={**visitor.headers, "Origin": EVIL},
    )
    assert sneaky.status_code == 403 and sneaky.json()["error"]["field"] == "origin"
    assert await count_rows(rt, "conversations") == 0

    allowed = await client.post(
        "/api/v1/widget/conversations",
        json=start,
        headers={**visitor.headers, "Origin": SHOP},
    )
    assert allowed.status_code == 201, allowed.text
    assert allowed.headers["access-control-allow-origin"] == SHOP
    config = await client.get("/api/v1/widget/acme/config", headers={"Origin": SHOP + "/"})
    assert config.status_code == 200

    # Confide's own pages (the demo host page) are same-origin: always allowed.
    same = await client.get("/api/v1/widget/acme/config", headers={"Origin": "https://testserver"})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers


async def test_unknown_workspaces_and_bad_tokens_stay_readable_to_the_widget(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    await _allow(client, admin, SHOP)
    missing = await client.get("/api/v1/widget/nobody/config", headers={"Origin": EVIL})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == EVIL
    forged = await client.get(
        "/api/v1/widget/conversations", headers={"Authorization": "Bearer forged", "Origin": EVIL}
    )
    assert forged.status_code == 401
    assert forged.headers["access-control-allow-origin"] == EVIL


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/workspace"),
        ("OPTIONS", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/workspace/widget"),
        ("GET", "/console/login"),
    ],
)
async def test_console_and_api_routes_never_answer_other_origins(
    world: World, client: httpx.AsyncClient, method: str, path: str
) -> None:
    await world.workspace()
    response = await client.request(method, path, headers=_preflight_headers(EVIL))
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code != 204


async def test_widget_socket_checks_the_origin_against_allowed_origins(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    admin = await admin_headers(world)
    visitor = await new_visitor(client)
    url = f"{live_server.ws_url}/api/v1/ws/widget"
    auth = token_subprotocols(visitor.token)
    anywhere = await open_socket(url, subprotocols=auth, additional_headers={"Origin": EVIL})
    await anywhere.connection.close()

    await _allow(client, admin, SHOP)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url, subprotocols=auth, additional_headers={"Origin": EVIL})
    assert refused.value.response.status_code == 403
    listed = await open_socket(url, subprotocols=auth, additional_headers={"Origin": SHOP})
    await listed.connection.close()
    same_site = await open_socket(
        url, subprotocols=auth, additional_headers={"Origin": live_server.http_url}
    )  # the demo page
    await same_site.connection.close()
