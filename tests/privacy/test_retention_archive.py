"""An archived conversation is gone from operational access: the API, the console, the
sockets and search no longer show it to any normal role, nor to its visitor; its messages'
key sits under the archive key, so even a read path that skipped the policy cannot open it."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from confide.access.models import Role
from confide.chat.models import Message
from confide.privacy.retention.run import do_run_retention
from confide.runtime import Runtime
from tests.chat.helpers import open_socket
from tests.conftest import LiveServer, World
from tests.privacy.helpers import set_privacy
from tests.privacy.retention_helpers import conversation_state, ended_at, seed_conversation
from tests.web.helpers import sign_in


async def test_archived_conversation_is_invisible_to_every_normal_role_and_channel(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    root = await world.operator("root", Role.ADMIN)
    admin = await world.headers(root)
    group = await world.group("Support")
    manager = await world.headers(await world.operator("mia", Role.MANAGER, groups=[group]))
    await set_privacy(client, admin, retention_days={"web": 30})
    seeded = await seed_conversation(rt, client, admin)
    cid = str(seeded.conversation_id)

    async def visible(headers: dict[str, str]) -> dict[str, bool]:
        listed = (await client.get("/api/v1/conversations", headers=headers)).json()
        found = await client.get("/api/v1/search", params={"q": "parcel"}, headers=headers)
        return {
            "get": (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).status_code
            == 200,
            "list": cid in str(listed),
            "search": cid in {c["id"] for c in found.json().get("conversations", [])},
        }

    assert await visible(admin) == {"get": True, "list": True, "search": True}
    await do_run_retention(rt, as_of=await ended_at(rt, seeded.conversation_id) + timedelta(31))
    assert await conversation_state(rt, seeded.conversation_id) == "archived"

    for headers in (admin, manager):
        assert await visible(headers) == {"get": False, "list": False, "search": False}
    widget = {"Authorization": f"Bearer {seeded.token}"}
    response = await client.get(f"/api/v1/widget/conversations/{cid}", headers=widget)
    assert response.status_code == 404
    # The console: neither the inbox nor the conversation's page shows it.
    await sign_in(world, root)
    assert cid not in (await client.get("/console/")).text
    assert (await client.get(f"/console/conversations/{cid}")).status_code == 404
    # The sockets: subscribing is refused as for a conversation that does not exist.
    login = await world.login(root)
    socket = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=login.json()["access_token"]
    )
    await socket.send(type="subscribe", conversation_id=cid, since=0)
    error = await socket.recv()
    assert (error["type"], error["code"]) == ("error", "not_found")
    await socket.close()
    widget_socket = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=seeded.token)
    await widget_socket.send(type="subscribe", conversation_id=cid, since=0)
    assert (await widget_socket.recv())["code"] == "not_found"
    await widget_socket.close()
    # Below the policy, the key: a read that bypassed it still cannot decrypt.
    async with rt.db.session() as session:
        message = await session.scalar(
            select(Message).where(Message.conversation_id == seeded.conversation_id).limit(1)
        )
        assert message is not None
        assert await rt.vault.read_message_texts(session, [message.id]) == {}
        with rt.keyring.archive_access():  # only the custodian's context opens it
            opened = await rt.vault.read_message_texts(session, [message.id])
    assert next(iter(opened.values())).startswith("Question 0")
