"""Labels: admins define them, operators set them on conversations they work, the list filters."""

from __future__ import annotations

from confide.access.models import Role
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World


async def test_labels_are_set_on_conversations_and_filter_the_list(world: World) -> None:
    group = await world.group("Support")
    admin = await world.headers(await world.operator("root", Role.ADMIN))
    agent = await world.headers(await world.operator("ada", Role.AGENT, groups=[group]))
    outsider = await world.headers(await world.operator("bob", Role.AGENT))

    assert (
        await world.client.post("/api/v1/labels", json={"name": "Billing"}, headers=agent)
    ).status_code == 403
    billing = (
        await world.client.post("/api/v1/labels", json={"name": "Billing"}, headers=admin)
    ).json()
    bug = (await world.client.post("/api/v1/labels", json={"name": "Bug"}, headers=admin)).json()
    duplicate = await world.client.post("/api/v1/labels", json={"name": "billing"}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["field"] == "name"

    visitor = await new_visitor(world.client)
    first = (await start_chat(world.client, visitor, "Invoice?", group_id=group))["conversation"]
    second = (
        await start_chat(world.client, await new_visitor(world.client), "Crash!", group_id=group)
    )["conversation"]
    path = f"/api/v1/conversations/{first['id']}/labels"
    set_ = await world.client.put(path, json={"label_ids": [billing["id"]]}, headers=agent)
    assert set_.status_code == 200 and [x["name"] for x in set_.json()["labels"]] == ["Billing"]
    await world.client.put(
        f"/api/v1/conversations/{second['id']}/labels",
        json={"label_ids": [bug["id"]]},
        headers=agent,
    )
    # An operator who may not work the conversation cannot label it.
    refused = await world.client.put(path, json={"label_ids": [bug["id"]]}, headers=outsider)
    assert refused.status_code == 404

    listed = await world.client.get(
        f"/api/v1/conversations?label_id={billing['id']}", headers=agent
    )
    assert [c["id"] for c in listed.json()["conversations"]] == [first["id"]]
    # Deleting a label takes it off every conversation.
    deleted = await world.client.delete(f"/api/v1/labels/{billing['id']}", headers=admin)
    assert deleted.status_code == 204
    after = await world.client.get(f"/api/v1/conversations?label_id={billing['id']}", headers=agent)
    assert after.json()["conversations"] == []
