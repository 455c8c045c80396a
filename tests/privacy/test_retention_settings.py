"""The retention policy through ``PATCH /api/v1/workspace``: defaults from the issue, partial
updates per channel, the simple months setting, admins only, and 4xx errors naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from confide.access.models import Role
from confide.privacy.retention.policy import add_months
from tests.conftest import World
from tests.privacy.helpers import admin_headers, set_privacy


async def test_defaults_follow_the_brief_and_update_per_channel(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["retention_days"] == {
        "web": 1095, "social": 1095, "call": 365, "sms": 365, "video": 365
    }  # fmt: skip
    assert set(settings["archive_days"].values()) == {1825}
    assert settings["delete_after_months"] == 0
    changed = await set_privacy(client, admin, archive_days={"sms": 0, "call": 1})
    assert changed["archive_days"]["sms"] == 0 and changed["archive_days"]["call"] == 1
    assert changed["archive_days"]["web"] == 1825
    changed = await set_privacy(client, admin, delete_after_months=36)
    assert changed["delete_after_months"] == 36
    changed = await set_privacy(client, admin, delete_after_months=0)
    assert changed["delete_after_months"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"archive_days": {"web": -1}}, "archive_days.web"),
        ({"archive_days": {"web": 3651}}, "archive_days.web"),
        ({"archive_days": {"fax": 10}}, "archive_days.fax"),
        ({"archive_days": [1]}, "archive_days"),
        ({"delete_after_months": 37}, "delete_after_months"),
        ({"delete_after_months": -1}, "delete_after_months"),
        ({"delete_after_months": "soon"}, "delete_after_months"),
        ({"retention_days": {"sms": 0}}, "retention_days.sms"),
    ],
)
async def test_bad_retention_values_are_refused_naming_the_field(
    world: World, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    admin = await admin_headers(world)
    response = await client.patch("/api/v1/workspace", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["delete_after_months"] == 0 and settings["archive_days"]["web"] == 1825


async def test_only_admins_change_the_retention_policy(
    world: World, client: httpx.AsyncClient
) -> None:
    for role in (Role.MANAGER, Role.AGENT, Role.ANALYST):
        headers = await world.headers(await world.operator(f"op-{role.value}", role))
        response = await client.patch(
            "/api/v1/workspace", json={"delete_after_months": 1}, headers=headers
        )
        assert response.status_code == 403, (role, response.text)


def test_months_are_calendar_months_clamped_to_the_last_day() -> None:
    from datetime import UTC, datetime

    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 3, 15, tzinfo=UTC), -3) == datetime(2025, 12, 15, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 36) == datetime(2029, 11, 30, tzinfo=UTC)
