"""Saved replies: personal and workspace-wide, who may manage which, and plain refusals."""

from __future__ import annotations

from confide.access.models import Role
from tests.conftest import World

PATH = "/api/v1/saved-replies"


async def test_personal_replies_are_private_and_workspace_ones_are_for_admins(
    world: World,
) -> None:
    admin = await world.headers(await world.operator("root", Role.ADMIN))
    ada = await world.headers(await world.operator("ada", Role.AGENT))
    bob = await world.headers(await world.operator("bob", Role.AGENT))

    shared = await world.client.post(
        PATH,
        json={"shortcut": "hello", "body": "Hello! How can I help?", "scope": "workspace"},
        headers=admin,
    )
    assert shared.status_code == 201, shared.text
    refused = await world.client.post(
        PATH, json={"shortcut": "x", "body": "Mine for all", "scope": "workspace"}, headers=ada
    )
    assert refused.status_code == 403
    mine = await world.client.post(
        PATH, json={"shortcut": "/Hello", "body": "Hi, Ada here."}, headers=ada
    )
    assert mine.status_code == 201 and mine.json()["shortcut"] == "hello"
    taken = await world.client.post(PATH, json={"shortcut": "hello", "body": "again"}, headers=ada)
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "shortcut"
    bad = await world.client.post(PATH, json={"shortcut": "no spaces", "body": "x"}, headers=ada)
    assert bad.status_code == 422 and "lowercase letters" in bad.json()["error"]["message"]

    listed = (await world.client.get(PATH, headers=ada)).json()["saved_replies"]
    assert [(r["shortcut"], r["scope"]) for r in listed] == [
        ("hello", "personal"),
        ("hello", "workspace"),
    ]
    others = (await world.client.get(PATH, headers=bob)).json()["saved_replies"]
    assert [r["body"] for r in others] == ["Hello! How can I help?"]
    # Bob cannot delete Ada's reply (nor learn it exists), nor the workspace's.
    assert (
        await world.client.delete(f"{PATH}/{mine.json()['id']}", headers=bob)
    ).status_code == 404
    assert (
        await world.client.delete(f"{PATH}/{shared.json()['id']}", headers=bob)
    ).status_code == 403
    assert (
        await world.client.delete(f"{PATH}/{mine.json()['id']}", headers=ada)
    ).status_code == 204
    assert [
        r["scope"] for r in (await world.client.get(PATH, headers=ada)).json()["saved_replies"]
    ] == ["workspace"]


async def test_an_analyst_has_no_saved_replies(world: World) -> None:
    analyst = await world.headers(await world.operator("ana", Role.ANALYST))
    assert (await world.client.get(PATH, headers=analyst)).status_code == 403
