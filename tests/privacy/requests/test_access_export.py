"""An access request builds the subject's export ZIP through the one call site
(``acts._export`` -> ``confide.privacy.export.build_subject_export``) and completes with a
receipt. The exporter lands with the dsr-export branch; until then this module is skipped."""

from __future__ import annotations

import uuid

import httpx
import pytest

from confide.privacy.requests.models import DsrCase
from confide.runtime import Runtime
from tests.conftest import World
from tests.privacy.requests.helpers import admin, identified_visitor

pytest.importorskip("confide.privacy.export", reason="the exporter arrives with dsr-export")

CASES = "/api/v1/dsr/cases"


async def test_an_access_case_builds_the_export_and_completes_with_a_receipt(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES,
            json={"kind": "access", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    done = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    receipt = (await client.get(f"{CASES}/{case['id']}/receipt", headers=headers)).json()
    assert receipt["receipt"]["actions"] == ["exported"]
    async with rt.db.session() as session:
        stored = await session.get(DsrCase, uuid.UUID(case["id"]))
    assert stored is not None and stored.export_key
