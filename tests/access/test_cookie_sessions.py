"""Cookie sessions (the console's transport) with double-submit CSRF, and the server-rendered
console's sign-in, pages and escaping."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from confide.access.models import Role
from confide.core import clock
from tests.conftest import PASSWORD, Account, World, totp_now

ME = "/api/v1/me"
ACCESS = "confide_access"
REFRESH = "confide_refresh"
CSRF = "confide_csrf"
XSS_NAME = '<script>alert("owned")</script>'


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _set_cookies(response: httpx.Response) -> dict[str, list[str]]:
    """Set-Cookie headers by cookie name: the value first, then the lower-cased attributes."""
    cookies: dict[str, list[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        cookies[name] = [value, *(a.lower() for a in attributes)]
    return cookies


async def _cookie_login(world: World, account: Account) -> httpx.Response:
    response = await world.login(account, transport="cookie")
    assert response.status_code == 200, response.text
    return response


def _csrf(client: httpx.AsyncClient) -> str:
    token = client.cookies.get(CSRF)
    assert token
    return token


# -- cookie sessions over the API -----------------------------------------------------------


async def test_cookie_login_sets_hardened_cookies_and_no_tokens_in_the_body(
    world: World,
) -> None:
    alice = await world.operator("alice")
    response = await _cookie_login(world, alice)
    body = response.json()
    assert body["access_token"] is None and body["refresh_token"] is None
    assert body["csrf_token"]
    assert body["expires_in"] > 0
    cookies = _set_cookies(response)
    assert set(cookies) == {ACCESS, REFRESH, CSRF}
    for name in (ACCESS, REFRESH):
        value, *attributes = cookies[name]
        assert value and value not in response.text
        assert "httponly" in attributes, name
        assert "secure" in attributes, name
        assert "samesite=strict" in attributes, name
        assert "path=/" in attributes, name
    assert cookies[REFRESH][0].startswith("cfr_")
    csrf_value, *csrf_attributes = cookies[CSRF]
    assert "httponly" not in csrf_attributes  # the page's script must read it
    assert "secure" in csrf_attributes
    assert "samesite=strict" in csrf_attributes
    assert csrf_value == body["csrf_token"]
    assert world.client.cookies.get(CSRF) == body["csrf_token"]


async def test_cookie_session_authenticates_a_get(world: World) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    me = await world.client.get(ME)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == str(alice.id)


async def test_cookie_unsafe_request_without_csrf_header_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    response = await world.client.patch(ME, json={"name": "Mallory Was Here"})
    assert response.status_code == 403, response.text
    assert _code(response) == "csrf_failed"
    assert (await world.client.get(ME)).json()["name"] == "Alice Example"


async def test_cookie_unsafe_request_with_a_wrong_csrf_header_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    for wrong in ("nope", _csrf(world.client)[:-1], " "):
        response = await world.client.patch(
            ME, json={"name": "Mallory Was Here"}, headers={"X-CSRF-Token": wrong}
        )
        assert response.status_code == 403, (wrong, response.text)
        assert _code(response) == "csrf_failed"
    assert (await world.client.get(ME)).json()["name"] == "Alice Example"


async def test_cookie_unsafe_request_with_the_matching_csrf_header_succeeds(
    world: World,
) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    response = await world.client.patch(
        ME, json={"name": "Alice Renamed"}, headers={"X-CSRF-Token": _csrf(world.client)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Alice Renamed"
    assert (await world.client.get(ME)).json()["name"] == "Alice Renamed"


async def test_non_ascii_csrf_header_is_refused_not_crashed(world: World) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    response = await world.client.patch(
        ME, json={"name": "Mallory Was Here"}, headers={"X-CSRF-Token": "\u00e9".encode("latin-1")}
    )
    assert response.status_code == 403, response.text
    assert _code(response) == "csrf_failed"


async def test_bearer_requests_need_no_csrf_token(world: World) -> None:
    alice = await world.operator("alice")
    response = await world.client.patch(
        ME, json={"name": "Alice Bearer"}, headers=await world.headers(alice)
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Alice Bearer"


async def test_cookie_refresh_needs_csrf_and_rotates_the_cookies(world: World) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    old_refresh = world.client.cookies.get(REFRESH)
    refused = await world.client.post("/api/v1/auth/refresh")
    assert refused.status_code == 403, refused.text
    assert _code(refused) == "csrf_failed"
    assert world.client.cookies.get(REFRESH) == old_refresh

    response = await world.client.post(
        "/api/v1/auth/refresh", headers={"X-CSRF-Token": _csrf(world.client)}
    )
    assert response.status_code == 200, response.text  # the refused try spent nothing
    assert response.json()["access_token"] is None and response.json()["refresh_token"] is None
    cookies = _set_cookies(response)
    assert set(cookies) == {ACCESS, REFRESH, CSRF}
    assert cookies[REFRESH][0] != old_refresh
    assert response.json()["csrf_token"] == cookies[CSRF][0] == world.client.cookies.get(CSRF)
    assert (await world.client.get(ME)).status_code == 200


async def test_cookie_logout_clears_the_cookies_and_ends_the_session(world: World) -> None:
    alice = await world.operator("alice")
    await _cookie_login(world, alice)
    access = world.client.cookies.get(ACCESS)
    refused = await world.client.post("/api/v1/auth/logout")
    assert refused.status_code == 403
    assert (await world.client.get(ME)).status_code == 200  # still signed in

    response = await world.client.post(
        "/api/v1/auth/logout", headers={"X-CSRF-Token": _csrf(world.client)}
    )
    assert response.status_code == 204, response.text
    cleared = _set_cookies(response)
    assert set(cleared) == {ACCESS, REFRESH, CSRF}
    assert all("max-age=0" in attributes for attributes in cleared.values())
    assert world.client.cookies.get(ACCESS) is None
    # The old cookie value no longer works even if a copy was kept.
    me = await world.client.get(ME, headers={"Cookie": f"{ACCESS}={access}"})
    assert me.status_code == 401
    assert _code(me) == "invalid_token"


async def test_cookie_transport_is_kept_through_the_mfa_step(world: World) -> None:
    clock.advance(-3600)  # keep clear of the wall clock when stepping TOTP (see test_mfa.py)
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await world.client.post("/api/v1/me/mfa/enrol", headers=headers)).json()["secret"]
    confirm = await world.client.post(
        "/api/v1/me/mfa/confirm", headers=headers, json={"code": totp_now(secret)}
    )
    assert confirm.status_code == 200
    clock.advance(30)
    challenge = await world.login(alice, transport="cookie")
    assert challenge.json()["mfa_required"] is True
    assert "set-cookie" not in challenge.headers
    response = await world.client.post(
        "/api/v1/auth/mfa",
        json={"challenge": challenge.json()["challenge"], "code": totp_now(secret)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] is None
    assert set(_set_cookies(response)) == {ACCESS, REFRESH, CSRF}
    assert (await world.client.get(ME)).json()["id"] == str(alice.id)


# -- the server-rendered console ------------------------------------------------------------


def _form_csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert match, page
    return html.unescape(match.group(1))


async def _console_login_page(world: World) -> str:
    response = await world.client.get("/console/login")
    assert response.status_code == 200, response.text
    return _form_csrf(response.text)


def _credentials(account: Account, **extra: str) -> dict[str, Any]:
    return {
        "workspace": account.workspace or "",
        "username": account.username,
        "password": account.password,
        **extra,
    }


async def _console_sign_in(world: World, account: Account) -> None:
    csrf = await _console_login_page(world)
    response = await world.client.post(
        "/console/login", data=_credentials(account, csrf_token=csrf)
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"


async def test_console_login_page_sets_the_csrf_cookie_and_puts_it_in_the_form(
    world: World,
) -> None:
    response = await world.client.get("/console/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    cookies = _set_cookies(response)
    assert set(cookies) == {CSRF}
    value, *attributes = cookies[CSRF]
    assert len(value) >= 16
    assert "secure" in attributes and "samesite=strict" in attributes
    assert _form_csrf(response.text) == value
    # A second visit keeps the same token instead of minting a new one.
    again = await world.client.get("/console/login")
    assert "set-cookie" not in again.headers
    assert _form_csrf(again.text) == value


async def test_console_login_redirects_to_the_console_which_shows_the_operator(
    world: World,
) -> None:
    alice = await world.operator("alice", name="Alice Wonder")
    await _console_sign_in(world, alice)
    for name in (ACCESS, REFRESH, CSRF):
        assert world.client.cookies.get(name), name
    page = await world.client.get("/console/")
    assert page.status_code == 200, page.text
    assert "Alice Wonder" in page.text
    assert "Acme" in page.text  # the workspace's name
    # The signed-in console shares the session with the API.
    assert (await world.client.get(ME)).json()["id"] == str(alice.id)


async def test_console_login_accepts_any_username_case(world: World) -> None:
    alice = await world.operator("alice", name="Alice Wonder")
    await _console_sign_in(world, Account(alice.id, "ACME", "Alice"))
    assert "Alice Wonder" in (await world.client.get("/console/")).text


async def test_console_without_a_session_redirects_to_login(world: World) -> None:
    response = await world.client.get("/console/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"


async def test_console_login_without_the_csrf_field_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    await _console_login_page(world)  # the cookie is there; the form field is not
    response = await world.client.post("/console/login", data=_credentials(alice))
    assert response.status_code == 403, response.text
    assert ACCESS not in _set_cookies(response)
    assert world.client.cookies.get(ACCESS) is None
    assert (await world.client.get("/console/")).status_code == 303


async def test_console_login_with_a_mismatched_csrf_field_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    csrf = await _console_login_page(world)
    response = await world.client.post(
        "/console/login", data=_credentials(alice, csrf_token=csrf + "x")
    )
    assert response.status_code == 403
    assert world.client.cookies.get(ACCESS) is None


async def test_console_login_without_any_csrf_cookie_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    response = await world.client.post(
        "/console/login", data=_credentials(alice, csrf_token="chosen-by-the-attacker")
    )
    assert response.status_code == 403
    assert world.client.cookies.get(ACCESS) is None


async def test_console_non_ascii_csrf_field_is_refused_not_crashed(world: World) -> None:
    alice = await world.operator("alice")
    await _console_login_page(world)
    response = await world.client.post(
        "/console/login", data=_credentials(alice, csrf_token="\u00e9t\u00e9")
    )
    assert response.status_code == 403, response.text
    assert world.client.cookies.get(ACCESS) is None


async def test_console_login_with_a_wrong_password_shows_the_error(world: World) -> None:
    alice = await world.operator("alice")
    csrf = await _console_login_page(world)
    response = await world.client.post(
        "/console/login",
        data=_credentials(Account(alice.id, "acme", "alice", "not the password"), csrf_token=csrf),
    )
    assert response.status_code == 401
    assert "The workspace, username or password is not correct." in response.text
    assert ACCESS not in _set_cookies(response)
    assert 'value="acme"' in response.text  # the workspace is kept in the form


async def test_console_escapes_operator_names(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN, name="Root Admin")
    eve = await world.operator("eve", name=XSS_NAME, alias=XSS_NAME, job_title=XSS_NAME)
    await _console_sign_in(world, eve)
    own = (await world.client.get("/console/account")).text
    assert "&lt;script&gt;alert(" in own
    assert "<script>" not in own
    # And where an admin sees her in the operator list.
    world.client.cookies.clear()
    await _console_sign_in(world, admin)
    listing = (await world.client.get("/console/settings/operators")).text
    assert "Root Admin" in listing
    assert listing.count("&lt;script&gt;alert(") >= 3
    assert "<script>" not in listing


async def test_console_escapes_the_workspace_echoed_after_a_failed_login(world: World) -> None:
    await world.workspace("acme")
    csrf = await _console_login_page(world)
    response = await world.client.post(
        "/console/login",
        data={
            "csrf_token": csrf,
            "workspace": '"><script>alert(1)</script>',
            "username": "alice",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 401
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)" in response.text


async def test_console_renews_an_expired_access_cookie_from_the_refresh_cookie(
    world: World,
) -> None:
    clock.advance(-3600)  # keep confide's clock behind the wall clock (see test_refresh.py)
    alice = await world.operator("alice", name="Alice Wonder")
    await _console_sign_in(world, alice)
    old_access = world.client.cookies.get(ACCESS)
    clock.advance(world.rt.settings.access_token_ttl_seconds + 1)
    assert (await world.client.get(ME)).status_code == 401  # the API does not renew
    page = await world.client.get("/console/")
    assert page.status_code == 200, page.text
    assert "Alice Wonder" in page.text
    renewed = _set_cookies(page)
    assert renewed[ACCESS][0] != old_access
    assert (await world.client.get(ME)).status_code == 200


async def test_console_form_refused_for_csrf_does_not_cost_the_session(world: World) -> None:
    """A stale form (CSRF mismatch) posted after the access cookie expired is refused, but the
    browser must not be left holding a refresh token the server spent while handling it: the
    next page load would present it again, and reuse detection would end the session."""
    clock.advance(-3600)
    alice = await world.operator("alice", name="Alice Wonder")
    await _console_sign_in(world, alice)
    clock.advance(world.rt.settings.access_token_ttl_seconds + 1)
    refused = await world.client.post(
        "/console/mfa/enrol", data={"csrf_token": "stale", "code": "123456"}
    )
    assert refused.status_code == 303
    page = await world.client.get("/console/")
    assert page.status_code == 200, page.headers.get("location")
    assert "Alice Wonder" in page.text


async def test_console_logout_ends_the_session(world: World) -> None:
    alice = await world.operator("alice")
    await _console_sign_in(world, alice)
    page = (await world.client.get("/console/")).text
    access = world.client.cookies.get(ACCESS)
    response = await world.client.post("/console/logout", data={"csrf_token": _form_csrf(page)})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert world.client.cookies.get(ACCESS) is None
    assert (await world.client.get("/console/")).status_code == 303
    me = await world.client.get(ME, headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 401


async def test_console_logout_without_csrf_keeps_the_session(world: World) -> None:
    alice = await world.operator("alice")
    await _console_sign_in(world, alice)
    response = await world.client.post("/console/logout", data={})
    assert response.status_code == 303
    assert (await world.client.get(ME)).status_code == 200


async def test_console_sign_in_with_a_second_factor(world: World) -> None:
    clock.advance(-3600)
    alice = await world.operator("alice", name="Alice Wonder")
    headers = await world.headers(alice)
    secret = (await world.client.post("/api/v1/me/mfa/enrol", headers=headers)).json()["secret"]
    await world.client.post(
        "/api/v1/me/mfa/confirm", headers=headers, json={"code": totp_now(secret)}
    )
    clock.advance(30)
    csrf = await _console_login_page(world)
    response = await world.client.post("/console/login", data=_credentials(alice, csrf_token=csrf))
    assert response.status_code == 200, response.text
    assert world.client.cookies.get(ACCESS) is None  # not signed in yet
    challenge = re.search(r'name="challenge" value="([^"]*)"', response.text)
    assert challenge
    valid = {totp_now(secret, k) for k in range(-3, 4)}
    wrong_code = next(c for c in (f"{i:06d}" for i in range(100)) if c not in valid)
    wrong = await world.client.post(
        "/console/mfa",
        data={"csrf_token": csrf, "challenge": challenge.group(1), "code": wrong_code},
    )
    assert wrong.status_code == 401
    assert "The verification code is not correct" in wrong.text
    assert world.client.cookies.get(ACCESS) is None
    done = await world.client.post(
        "/console/mfa",
        data={"csrf_token": csrf, "challenge": challenge.group(1), "code": totp_now(secret)},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/console/"
    assert "Alice Wonder" in (await world.client.get("/console/")).text


async def test_console_sends_an_admin_who_must_enrol_to_enrolment(world: World) -> None:
    await world.workspace("secure", mfa_required=True)
    boss = await world.operator("boss", Role.ADMIN, slug="secure")
    await _console_sign_in(world, boss)
    response = await world.client.get("/console/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/mfa/enrol"


@pytest.mark.parametrize("path", ["/console/login", "/console/"])
async def test_console_pages_carry_security_headers(world: World, path: str) -> None:
    alice = await world.operator("alice")
    await _console_sign_in(world, alice)
    response = await world.client.get(path)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
