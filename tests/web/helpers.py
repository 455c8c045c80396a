"""Console test helpers: sign in through the login form, read the CSRF token of a page."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Account, World

XSS = "<img src=x onerror=alert(1)>"


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(world: World, account: Account) -> None:
    page = await world.client.get("/console/login")
    data = {
        "csrf_token": form_csrf(page.text),
        "workspace": account.workspace or "",
        "username": account.username,
        "password": account.password,
    }
    response = await world.client.post("/console/login", data=data)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, data: dict[str, str | list[str]]
) -> httpx.Response:
    """Open ``page_path``, then post ``data`` to ``action`` with the page's CSRF token."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": form_csrf(page.text), **data})
