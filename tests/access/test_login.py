from __future__ import annotations

from tests.conftest import World


async def test_login_with_correct_password_returns_working_tokens(world: World) -> None:
    alice = await world.operator("alice")
    response = await world.login(alice)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["refresh_token"].startswith("cfr_")
    me = await world.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["name"] == "Alice Example"
