"""Operator and group management over REST: the policy's rules, end to end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from confide.access.models import Role
from confide.access.operators import do_remove_operator
from tests.conftest import PASSWORD, Account, World

OPERATORS = "/api/v1/operators"
GROUPS = "/api/v1/groups"
NEW_PASSWORD = "a brand new passphrase 42"


@dataclass
class Team:
    sales: uuid.UUID
    support: uuid.UUID
    root: Account  # the only admin, in no group
    mia: Account  # manager of Sales
    alice: Account  # agent in Sales
    bob: Account  # agent in Support
    carol: Account  # agent in Sales and Support
    ana: Account  # analyst in Sales


@pytest.fixture
async def team(world: World) -> Team:
    sales = await world.group("Sales")
    support = await world.group("Support")
    return Team(
        sales=sales,
        support=support,
        root=await world.operator("root", Role.ADMIN, name="Root Admin", email="root@acme.test"),
        mia=await world.operator(
            "mia", Role.MANAGER, groups=[sales], name="Mia Manager", email="mia@acme.test"
        ),
        alice=await world.operator(
            "alice",
            Role.AGENT,
            groups=[sales],
            name="Alice Agent",
            alias="Al",
            job_title="Sales rep",
            email="alice@acme.test",
        ),
        bob=await world.operator(
            "bob", Role.AGENT, groups=[support], name="Bob Agent", email="bob@acme.test"
        ),
        carol=await world.operator(
            "carol", Role.AGENT, groups=[sales, support], name="Carol", email="carol@acme.test"
        ),
        ana=await world.operator(
            "ana", Role.ANALYST, groups=[sales], name="Ana Analyst", email="ana@acme.test"
        ),
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error


async def operators_by_id(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The operator list keyed by id."""
    response = await client.get(OPERATORS, headers=headers)
    assert response.status_code == 200, response.text
    return {o["id"]: o for o in response.json()["operators"]}


# -- admin CRUD -----------------------------------------------------------------------------


async def test_admin_creates_an_operator_with_profile_and_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    response = await client.post(
        OPERATORS,
        headers=root,
        json={
            "username": "Dave",
            "password": NEW_PASSWORD,
            "role": "agent",
            "name": "Dave Doe",
            "alias": "D",
            "email": "dave@acme.test",
            "job_title": "Night shift",
            "avatar_url": "https://cdn.acme.test/dave.png",
            "group_ids": [str(team.sales), str(team.support)],
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["username"] == "dave"  # usernames are lower-cased
    assert created["role"] == "agent"
    assert created["name"] == "Dave Doe"
    assert created["alias"] == "D"
    assert created["email"] == "dave@acme.test"
    assert created["job_title"] == "Night shift"
    assert created["avatar_url"] == "https://cdn.acme.test/dave.png"
    assert created["group_ids"] == sorted([str(team.sales), str(team.support)])
    assert created["status"] == "active"
    assert created["mfa_enabled"] is False
    uuid.UUID(created["id"])

    fetched = await client.get(f"{OPERATORS}/{created['id']}", headers=root)
    assert fetched.status_code == 200
    assert fetched.json() == created

    # The new operator can sign in with the password the admin set.
    login = await world.login(Account(uuid.UUID(created["id"]), "acme", "dave", NEW_PASSWORD))
    assert login.status_code == 200, login.text
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["id"] == created["id"]
    assert me.json()["role"] == "agent"


async def test_admin_updates_role_groups_and_profile(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    alice_headers = await world.headers(team.alice)
    response = await client.patch(
        f"{OPERATORS}/{team.alice.id}",
        headers=root,
        json={
            "role": "manager",
            "group_ids": [str(team.support)],
            "name": "Alice Boss",
            "job_title": "Support lead",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["role"] == "manager"
    assert body["group_ids"] == [str(team.support)]
    assert body["name"] == "Alice Boss"
    assert body["job_title"] == "Support lead"
    # Fields that were not sent are kept.
    assert body["alias"] == "Al"
    assert body["email"] == "alice@acme.test"

    again = await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)
    assert again.json() == body

    # The change applies to alice's existing session at once.
    me = await client.get("/api/v1/me", headers=alice_headers)
    assert me.status_code == 200
    assert me.json()["role"] == "manager"
    assert "operators.manage" in me.json()["permissions"]
    # ... and her view of the team follows her new group: bob (Support) is now her agent.
    bob = await client.get(f"{OPERATORS}/{team.bob.id}", headers=alice_headers)
    assert bob.status_code == 200
    assert bob.json()["email"] == "bob@acme.test"
    mia = await client.get(f"{OPERATORS}/{team.mia.id}", headers=alice_headers)
    assert mia.status_code == 404


async def test_admin_clears_a_profile_field_with_null(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    response = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=root, json={"alias": None, "job_title": "  "}
    )
    assert response.status_code == 200, response.text
    assert response.json()["alias"] is None
    assert response.json()["job_title"] is None
    assert response.json()["name"] == "Alice Agent"


async def test_admin_removes_an_operator_and_their_sessions_end(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    alice_headers = await world.headers(team.alice)
    assert (await client.get("/api/v1/me", headers=alice_headers)).status_code == 200

    response = await client.delete(f"{OPERATORS}/{team.alice.id}", headers=root)
    assert response.status_code == 204
    assert response.content == b""

    assert (await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)).status_code == 404
    listed = await operators_by_id(client, root)
    assert str(team.alice.id) not in listed
    assert str(team.bob.id) in listed
    assert (await client.get("/api/v1/me", headers=alice_headers)).status_code == 401
    login = await world.login(team.alice)
    assert login.status_code == 401
    # Removing twice: the operator no longer exists.
    again = await client.delete(f"{OPERATORS}/{team.alice.id}", headers=root)
    assert again.status_code == 404
    assert error_of(again)["code"] == "not_found"


async def test_admin_lists_every_operator_with_full_profiles(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    listed = await operators_by_id(client, root)
    expected = [team.root, team.mia, team.alice, team.bob, team.carol, team.ana]
    assert set(listed) == {str(a.id) for a in expected}
    for account in expected:
        entry = listed[str(account.id)]
        assert entry["username"] == account.username
        assert entry["email"] == f"{account.username}@acme.test"


async def test_email_is_visible_to_admin_but_not_to_an_agent_teammate(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    as_admin = await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)
    assert as_admin.status_code == 200
    assert as_admin.json()["email"] == "alice@acme.test"
    assert as_admin.json()["username"] == "alice"

    carol = await world.headers(team.carol)  # shares Sales with alice
    as_teammate = await client.get(f"{OPERATORS}/{team.alice.id}", headers=carol)
    assert as_teammate.status_code == 200
    seen = as_teammate.json()
    assert seen["name"] == "Alice Agent"
    assert seen["alias"] == "Al"
    assert seen["job_title"] == "Sales rep"
    assert seen["role"] == "agent"
    for hidden in ("email", "username", "status", "mfa_enabled", "locked", "last_login_at"):
        assert hidden not in seen
    assert "alice@acme.test" not in as_teammate.text


async def test_agent_list_shows_only_operators_sharing_a_group_without_email_or_username(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    alice = await world.headers(team.alice)  # Sales
    listed = await operators_by_id(client, alice)
    # Sales: mia, alice, carol, ana. Not bob (Support only) nor root (no group).
    assert set(listed) == {str(a.id) for a in (team.mia, team.alice, team.carol, team.ana)}
    for account in (team.mia, team.carol, team.ana):
        entry = listed[str(account.id)]
        assert "email" not in entry
        assert "username" not in entry
        assert entry["name"]
    # Her own entry is complete.
    assert listed[str(team.alice.id)]["email"] == "alice@acme.test"

    response = await client.get(OPERATORS, headers=alice)
    for secret in ("mia@acme.test", "carol@acme.test", "ana@acme.test", "bob", "root"):
        assert secret not in response.text


async def test_agent_gets_not_found_for_an_operator_outside_their_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    alice = await world.headers(team.alice)
    for other in (team.bob, team.root):
        response = await client.get(f"{OPERATORS}/{other.id}", headers=alice)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    unknown = await client.get(f"{OPERATORS}/{uuid.uuid4()}", headers=alice)
    assert unknown.status_code == 404
    # Exactly the same answer: existence is not revealed.
    assert unknown.json() == (await client.get(f"{OPERATORS}/{team.bob.id}", headers=alice)).json()


async def test_agent_cannot_create_edit_or_remove_operators(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    alice = await world.headers(team.alice)
    create = await client.post(
        OPERATORS,
        headers=alice,
        json={
            "username": "eve",
            "password": NEW_PASSWORD,
            "role": "agent",
            "group_ids": [str(team.sales)],
        },
    )
    assert create.status_code == 403
    assert error_of(create)["code"] == "forbidden"
    edit = await client.patch(f"{OPERATORS}/{team.carol.id}", headers=alice, json={"name": "X"})
    assert edit.status_code == 403
    remove = await client.delete(f"{OPERATORS}/{team.carol.id}", headers=alice)
    assert remove.status_code == 403
    root = await world.headers(team.root)
    carol = (await client.get(f"{OPERATORS}/{team.carol.id}", headers=root)).json()
    assert carol["name"] == "Carol"
    assert "eve" not in {
        o["username"] for o in (await client.get(OPERATORS, headers=root)).json()["operators"]
    }


async def test_agent_may_edit_their_own_profile_but_not_their_role(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    alice = await world.headers(team.alice)
    own = await client.patch(f"{OPERATORS}/{team.alice.id}", headers=alice, json={"alias": "Ali"})
    assert own.status_code == 200, own.text
    assert own.json()["alias"] == "Ali"
    promote = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=alice, json={"role": "admin"}
    )
    assert promote.status_code == 403
    regroup = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=alice, json={"group_ids": [str(team.support)]}
    )
    assert regroup.status_code == 403
    me = (await client.get("/api/v1/me", headers=alice)).json()
    assert me["role"] == "agent"
    assert me["group_ids"] == [str(team.sales)]


# -- managers -------------------------------------------------------------------------------


async def test_manager_sees_full_profile_of_own_agents_and_public_profile_of_others(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    agent = await client.get(f"{OPERATORS}/{team.alice.id}", headers=mia)
    assert agent.status_code == 200
    assert agent.json()["email"] == "alice@acme.test"
    assert agent.json()["username"] == "alice"
    analyst = await client.get(f"{OPERATORS}/{team.ana.id}", headers=mia)
    assert analyst.status_code == 200
    assert analyst.json()["name"] == "Ana Analyst"
    assert "email" not in analyst.json()
    outside = await client.get(f"{OPERATORS}/{team.bob.id}", headers=mia)
    assert outside.status_code == 404


async def test_manager_can_create_an_agent_in_their_group(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    response = await client.post(
        OPERATORS,
        headers=mia,
        json={
            "username": "dave",
            "password": NEW_PASSWORD,
            "role": "agent",
            "email": "dave@acme.test",
            "group_ids": [str(team.sales)],
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "agent"
    assert response.json()["group_ids"] == [str(team.sales)]
    assert response.json()["email"] == "dave@acme.test"
    listed = await operators_by_id(client, mia)
    assert response.json()["id"] in listed


@pytest.mark.parametrize("role", ["admin", "manager", "analyst"])
async def test_manager_cannot_create_an_admin_or_any_non_agent(
    world: World, client: httpx.AsyncClient, team: Team, role: str
) -> None:
    mia = await world.headers(team.mia)
    response = await client.post(
        OPERATORS,
        headers=mia,
        json={
            "username": "sneaky",
            "password": NEW_PASSWORD,
            "role": role,
            "group_ids": [str(team.sales)],
        },
    )
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "forbidden"
    assert error["field"] == "role"
    # Nothing was created: the name is still free for an admin.
    root = await world.headers(team.root)
    created = await client.post(
        OPERATORS,
        headers=root,
        json={"username": "sneaky", "password": NEW_PASSWORD, "role": "agent"},
    )
    assert created.status_code == 201


async def test_manager_cannot_create_an_agent_in_another_group(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    for groups in ([team.support], [team.sales, team.support], []):
        response = await client.post(
            OPERATORS,
            headers=mia,
            json={
                "username": "dave",
                "password": NEW_PASSWORD,
                "role": "agent",
                "group_ids": [str(g) for g in groups],
            },
        )
        assert response.status_code == 403, (groups, response.text)
        assert error_of(response)["field"] == "group_ids"
    root = await world.headers(team.root)
    usernames = {o["username"] for o in (await operators_by_id(client, root)).values()}
    assert "dave" not in usernames


async def test_manager_cannot_edit_an_agent_outside_their_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    response = await client.patch(f"{OPERATORS}/{team.bob.id}", headers=mia, json={"name": "X"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    regroup = await client.patch(
        f"{OPERATORS}/{team.bob.id}", headers=mia, json={"group_ids": [str(team.sales)]}
    )
    assert regroup.status_code == 404
    remove = await client.delete(f"{OPERATORS}/{team.bob.id}", headers=mia)
    assert remove.status_code == 404
    root = await world.headers(team.root)
    bob = (await client.get(f"{OPERATORS}/{team.bob.id}", headers=root)).json()
    assert bob["name"] == "Bob Agent"
    assert bob["group_ids"] == [str(team.support)]


async def test_manager_edits_the_profile_of_their_agent(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    response = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=mia, json={"job_title": "Senior rep"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["job_title"] == "Senior rep"


async def test_manager_cannot_promote_an_agent_or_edit_another_role(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    promote = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=mia, json={"role": "manager"}
    )
    assert promote.status_code == 403
    assert error_of(promote)["field"] == "role"
    analyst = await client.patch(f"{OPERATORS}/{team.ana.id}", headers=mia, json={"name": "X"})
    assert analyst.status_code == 403
    remove_analyst = await client.delete(f"{OPERATORS}/{team.ana.id}", headers=mia)
    assert remove_analyst.status_code == 403
    root = await world.headers(team.root)
    assert (await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)).json()["role"] == (
        "agent"
    )


async def test_manager_removes_an_agent_only_when_all_its_groups_are_theirs(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    shared = await client.delete(f"{OPERATORS}/{team.carol.id}", headers=mia)  # Sales+Support
    assert shared.status_code == 403
    assert error_of(shared)["code"] == "forbidden"
    own = await client.delete(f"{OPERATORS}/{team.alice.id}", headers=mia)  # Sales only
    assert own.status_code == 204
    root = await world.headers(team.root)
    listed = await operators_by_id(client, root)
    assert str(team.carol.id) in listed
    assert str(team.alice.id) not in listed


async def test_manager_changes_memberships_of_their_own_groups_only(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    add_foreign = await client.patch(
        f"{OPERATORS}/{team.alice.id}",
        headers=mia,
        json={"group_ids": [str(team.sales), str(team.support)]},
    )
    assert add_foreign.status_code == 403
    assert error_of(add_foreign)["field"] == "group_ids"
    drop_foreign = await client.patch(
        f"{OPERATORS}/{team.carol.id}", headers=mia, json={"group_ids": [str(team.sales)]}
    )
    assert drop_foreign.status_code == 403

    # Taking carol out of Sales (mia's group) while keeping Support: allowed.
    drop_own = await client.patch(
        f"{OPERATORS}/{team.carol.id}", headers=mia, json={"group_ids": [str(team.support)]}
    )
    # (What the answer says is checked by the next test; here: the change itself.)
    assert drop_own.status_code < 500, drop_own.text
    root = await world.headers(team.root)
    carol = (await client.get(f"{OPERATORS}/{team.carol.id}", headers=root)).json()
    assert carol["group_ids"] == [str(team.support)]
    alice = (await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)).json()
    assert alice["group_ids"] == [str(team.sales)]
    assert (await client.get(f"{OPERATORS}/{team.carol.id}", headers=mia)).status_code == 404


async def test_manager_taking_an_agent_out_of_their_last_shared_group_is_told_it_worked(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    """The change is applied, so the answer must not claim the operator does not exist (a
    client would retry or report a failure). Compare the conversations API, which answers
    ``handed_over`` when a transfer moves a chat out of the caller's sight."""
    mia = await world.headers(team.mia)
    response = await client.patch(
        f"{OPERATORS}/{team.carol.id}", headers=mia, json={"group_ids": [str(team.support)]}
    )
    root = await world.headers(team.root)
    carol = (await client.get(f"{OPERATORS}/{team.carol.id}", headers=root)).json()
    assert carol["group_ids"] == [str(team.support)]  # applied
    assert 200 <= response.status_code < 300, response.text
    assert "carol@acme.test" not in response.text


async def test_manager_cannot_manage_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    mia = await world.headers(team.mia)
    assert (await client.post(GROUPS, headers=mia, json={"name": "Mine"})).status_code == 403
    rename = await client.patch(f"{GROUPS}/{team.sales}", headers=mia, json={"name": "Renamed"})
    assert rename.status_code == 403
    assert (await client.delete(f"{GROUPS}/{team.sales}", headers=mia)).status_code == 403


# -- admin limits ---------------------------------------------------------------------------


async def test_the_last_admin_cannot_be_demoted(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    response = await client.patch(
        f"{OPERATORS}/{team.root.id}", headers=root, json={"role": "manager"}
    )
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert error["field"] == "role"
    me = await client.get("/api/v1/me", headers=root)
    assert me.json()["role"] == "admin"


async def test_an_admin_can_be_demoted_while_another_admin_remains(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    second = await world.operator("second", Role.ADMIN)
    root = await world.headers(team.root)
    response = await client.patch(f"{OPERATORS}/{second.id}", headers=root, json={"role": "agent"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "agent"
    # Now root is the last one again.
    self_demote = await client.patch(
        f"{OPERATORS}/{team.root.id}", headers=root, json={"role": "agent"}
    )
    assert self_demote.status_code == 409


async def test_the_last_admin_cannot_be_removed(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    # Over REST only an admin may remove an admin and never itself, so at least two admins
    # exist whenever that is asked; the command line (actor None) is where the count matters.
    from confide.core.errors import Conflict

    with pytest.raises(Conflict):
        await do_remove_operator(world.rt, None, team.root.id)
    root = await world.headers(team.root)
    assert (await client.get("/api/v1/me", headers=root)).status_code == 200


async def test_an_admin_removes_another_admin_but_then_remains_last(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    second = await world.operator("second", Role.ADMIN)
    root = await world.headers(team.root)
    response = await client.delete(f"{OPERATORS}/{second.id}", headers=root)
    assert response.status_code == 204
    demote = await client.patch(
        f"{OPERATORS}/{team.root.id}", headers=root, json={"role": "manager"}
    )
    assert demote.status_code == 409


async def test_an_admin_cannot_remove_themselves(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    await world.operator("second", Role.ADMIN)  # the last-admin rule is not what stops it
    root = await world.headers(team.root)
    response = await client.delete(f"{OPERATORS}/{team.root.id}", headers=root)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert (await client.get("/api/v1/me", headers=root)).status_code == 200


# -- validation and conflicts ---------------------------------------------------------------


async def test_duplicate_username_is_a_conflict_naming_username(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    for username in ("alice", "ALICE", " alice "):
        response = await client.post(
            OPERATORS,
            headers=root,
            json={"username": username, "password": NEW_PASSWORD, "role": "agent"},
        )
        assert response.status_code == 409, (username, response.text)
        error = error_of(response)
        assert error["code"] == "conflict"
        assert error["field"] == "username"
    # The existing alice is untouched and still signs in with her own password.
    assert (await world.login(team.alice)).status_code == 200


@pytest.mark.parametrize(
    "password", ["short", "elevenchars", "aaaaaaaaaaaaaaaa", "abababababababab"]
)
async def test_weak_password_is_refused_naming_password(
    world: World, client: httpx.AsyncClient, team: Team, password: str
) -> None:
    root = await world.headers(team.root)
    response = await client.post(
        OPERATORS,
        headers=root,
        json={"username": "dave", "password": password, "role": "agent"},
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert error["field"] == "password"
    assert password not in response.text


@pytest.mark.parametrize("username", ["has space", "dots.at.end.", "-leading", "é", "a" * 65])
async def test_invalid_username_is_refused_naming_username(
    world: World, client: httpx.AsyncClient, team: Team, username: str
) -> None:
    root = await world.headers(team.root)
    response = await client.post(
        OPERATORS,
        headers=root,
        json={"username": username, "password": NEW_PASSWORD, "role": "agent"},
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == "username"


async def test_support_role_cannot_be_created_in_a_workspace(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    response = await client.post(
        OPERATORS,
        headers=root,
        json={"username": "helpdesk", "password": NEW_PASSWORD, "role": "support"},
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "role"
    demote = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=root, json={"role": "support"}
    )
    assert demote.status_code == 422
    assert error_of(demote)["field"] == "role"


async def test_unknown_group_is_refused_naming_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    create = await client.post(
        OPERATORS,
        headers=root,
        json={
            "username": "dave",
            "password": NEW_PASSWORD,
            "role": "agent",
            "group_ids": [str(team.sales), str(uuid.uuid4())],
        },
    )
    assert create.status_code == 422
    assert error_of(create)["field"] == "group_ids"
    update = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=root, json={"group_ids": [str(uuid.uuid4())]}
    )
    assert update.status_code == 422
    assert error_of(update)["field"] == "group_ids"
    alice = (await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)).json()
    assert alice["group_ids"] == [str(team.sales)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("avatar_url", "javascript:alert(1)"),
        ("avatar_url", "http://insecure.example/a.png"),
        ("name", "x" * 201),
        ("role", "owner"),
        ("group_ids", ["not-a-uuid"]),
    ],
)
async def test_invalid_profile_values_are_refused_naming_the_field(
    world: World, client: httpx.AsyncClient, team: Team, field: str, value: Any
) -> None:
    root = await world.headers(team.root)
    response = await client.patch(f"{OPERATORS}/{team.alice.id}", headers=root, json={field: value})
    assert response.status_code == 422, response.text
    assert error_of(response)["field"].split(".")[0] == field


async def test_unknown_field_is_refused_naming_it(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    response = await client.patch(
        f"{OPERATORS}/{team.alice.id}", headers=root, json={"nickname": "Ally"}
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "nickname"


async def test_removed_operators_username_can_be_reused(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    assert (await client.delete(f"{OPERATORS}/{team.alice.id}", headers=root)).status_code == 204
    response = await client.post(
        OPERATORS,
        headers=root,
        json={
            "username": "alice",
            "password": NEW_PASSWORD,
            "role": "agent",
            "name": "Alice Two",
            "group_ids": [str(team.support)],
        },
    )
    assert response.status_code == 201, response.text
    new_id = response.json()["id"]
    assert new_id != str(team.alice.id)
    assert response.json()["username"] == "alice"
    # The old password no longer works; the new account's does.
    assert (await world.login(team.alice)).status_code == 401
    login = await world.login(Account(uuid.UUID(new_id), "acme", "alice", NEW_PASSWORD))
    assert login.status_code == 200
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["id"] == new_id
    assert me.json()["name"] == "Alice Two"
    assert (await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)).status_code == 404


# -- analysts -------------------------------------------------------------------------------


async def test_analyst_cannot_list_operators(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    ana = await world.headers(team.ana)
    response = await client.get(OPERATORS, headers=ana)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    teammate = await client.get(f"{OPERATORS}/{team.alice.id}", headers=ana)
    assert teammate.status_code == 404
    assert "alice" not in teammate.text.lower()
    # Their own account stays readable.
    own = await client.get(f"{OPERATORS}/{team.ana.id}", headers=ana)
    assert own.status_code == 200
    assert own.json()["email"] == "ana@acme.test"


# -- groups ---------------------------------------------------------------------------------


async def test_admin_creates_renames_and_deletes_a_group(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    created = await client.post(GROUPS, headers=root, json={"name": "  Billing  "})
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["name"] == "Billing"
    assert group["member_count"] == 0
    group_id = group["id"]

    listed = (await client.get(GROUPS, headers=root)).json()["groups"]
    assert {g["name"] for g in listed} == {"Billing", "Sales", "Support"}
    sales = next(g for g in listed if g["name"] == "Sales")
    assert sales["member_count"] == 4  # mia, alice, carol, ana

    renamed = await client.patch(f"{GROUPS}/{group_id}", headers=root, json={"name": "Invoices"})
    assert renamed.status_code == 200
    assert renamed.json() == {"id": group_id, "name": "Invoices"}

    duplicate = await client.post(GROUPS, headers=root, json={"name": "Sales"})
    assert duplicate.status_code == 409
    assert error_of(duplicate)["field"] == "name"
    rename_to_taken = await client.patch(
        f"{GROUPS}/{group_id}", headers=root, json={"name": "Support"}
    )
    assert rename_to_taken.status_code == 409
    assert error_of(rename_to_taken)["field"] == "name"

    deleted = await client.delete(f"{GROUPS}/{group_id}", headers=root)
    assert deleted.status_code == 204
    names = {g["name"] for g in (await client.get(GROUPS, headers=root)).json()["groups"]}
    assert names == {"Sales", "Support"}
    assert (await client.delete(f"{GROUPS}/{group_id}", headers=root)).status_code == 404
    gone = await client.patch(f"{GROUPS}/{group_id}", headers=root, json={"name": "Back"})
    assert gone.status_code == 404


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_group_name_must_be_1_to_100_characters(
    world: World, client: httpx.AsyncClient, team: Team, name: str
) -> None:
    root = await world.headers(team.root)
    response = await client.post(GROUPS, headers=root, json={"name": name})
    assert response.status_code == 422
    assert error_of(response)["field"] == "name"


async def test_deleting_a_group_removes_its_memberships(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    alice_headers = await world.headers(team.alice)
    response = await client.delete(f"{GROUPS}/{team.sales}", headers=root)
    assert response.status_code == 204, response.text
    alice = (await client.get(f"{OPERATORS}/{team.alice.id}", headers=root)).json()
    assert alice["group_ids"] == []
    carol = (await client.get(f"{OPERATORS}/{team.carol.id}", headers=root)).json()
    assert carol["group_ids"] == [str(team.support)]
    # Alice no longer sees her former teammates.
    listed = await operators_by_id(client, alice_headers)
    assert set(listed) == {str(team.alice.id)}


async def test_agent_cannot_create_rename_or_delete_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    alice = await world.headers(team.alice)
    create = await client.post(GROUPS, headers=alice, json={"name": "Rogue"})
    assert create.status_code == 403
    assert error_of(create)["code"] == "forbidden"
    rename = await client.patch(f"{GROUPS}/{team.sales}", headers=alice, json={"name": "Mine"})
    assert rename.status_code == 403
    delete = await client.delete(f"{GROUPS}/{team.sales}", headers=alice)
    assert delete.status_code == 403
    root = await world.headers(team.root)
    names = {g["name"] for g in (await client.get(GROUPS, headers=root)).json()["groups"]}
    assert names == {"Sales", "Support"}


async def test_non_admins_list_only_their_own_groups(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    for account, expected in (
        (team.alice, {"Sales"}),
        (team.bob, {"Support"}),
        (team.carol, {"Sales", "Support"}),
        (team.ana, {"Sales"}),
        (team.root, {"Sales", "Support"}),
    ):
        headers = await world.headers(account)
        response = await client.get(GROUPS, headers=headers)
        assert response.status_code == 200
        assert {g["name"] for g in response.json()["groups"]} == expected, account.username


async def test_operator_calls_need_a_sign_in(client: httpx.AsyncClient, team: Team) -> None:
    for method, path in (
        ("GET", OPERATORS),
        ("GET", f"{OPERATORS}/{team.alice.id}"),
        ("DELETE", f"{OPERATORS}/{team.alice.id}"),
        ("GET", GROUPS),
    ):
        response = await client.request(method, path)
        assert response.status_code == 401
        assert error_of(response)["code"] == "not_authenticated"
    bogus = await client.get(OPERATORS, headers={"Authorization": "Bearer not.a.token"})
    assert bogus.status_code == 401


async def test_password_is_never_returned(
    world: World, client: httpx.AsyncClient, team: Team
) -> None:
    root = await world.headers(team.root)
    created = await client.post(
        OPERATORS,
        headers=root,
        json={"username": "dave", "password": NEW_PASSWORD, "role": "agent"},
    )
    assert created.status_code == 201
    listed = await client.get(OPERATORS, headers=root)
    for response in (created, listed):
        assert NEW_PASSWORD not in response.text
        assert PASSWORD not in response.text
        assert "password" not in response.text
        assert "argon2" not in response.text
