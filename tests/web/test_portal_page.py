"""The privacy portal's page on a deployment without a mail server: it cannot prove an
address, so it says so before anyone types one, and names whom to write to instead."""

from __future__ import annotations

import httpx

from tests.conftest import World
from tests.privacy.requests.helpers import admin


async def test_without_mail_the_portal_says_so_and_whom_to_write_to(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    page = await client.get("/privacy/acme")
    assert page.status_code == 200
    assert "cannot send e-mail here" in page.text and "Contact Acme directly" in page.text
    assert '<form id="link-form" hidden>' in page.text
    profile = {
        "controller_name": "Acme Ltd",
        "controller_contact": "Acme Ltd, 1 Example Street; privacy@acme.example",
    }
    saved = await client.put("/api/v1/controller-profile", json=profile, headers=headers)
    assert saved.status_code == 200, saved.text
    page = await client.get("/privacy/acme")
    assert "Write to Acme instead: Acme Ltd, 1 Example Street; privacy@acme.example." in page.text
